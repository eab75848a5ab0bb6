import type { RouteContext } from '../../lib/routes.js';
import { defineRoute } from '../../lib/routes.js';
import { UserSchema } from '../users/users.schemas.js';
import { LoginBody, TokenSchema } from './auth.schemas.js';
import type { AuthService } from './auth.service.js';
import type { UsersRepository } from '../users/users.repository.js';
import { notFound } from '../../lib/errors.js';

export function authRoutes(context: RouteContext, deps: { auth: AuthService; users: UsersRepository }) {
  defineRoute(
    context,
    {
      method: 'post',
      path: '/login',
      summary: 'Exchange email and password for a short-lived access token',
      tags: ['auth'],
      access: 'public',
      body: LoginBody,
      responses: { 200: { description: 'logged in', schema: TokenSchema } },
      errors: [401, 415, 429],
    },
    async ({ body }, req, res) => {
      const result = await deps.auth.login(body.email, body.password, req.ip ?? 'unknown');
      const user = await deps.users.findActiveById(result.user.id);
      res.set('Cache-Control', 'no-store').json({ ...result, user });
    },
  );

  defineRoute(
    context,
    {
      method: 'get',
      path: '/me',
      summary: 'The authenticated user',
      tags: ['auth'],
      access: 'user',
      responses: { 200: { description: 'the caller', schema: UserSchema } },
    },
    async ({ user }, _req, res) => {
      const me = await deps.users.findActiveById(user!.id);
      if (!me) throw notFound('user');
      res.json(me);
    },
  );
}
