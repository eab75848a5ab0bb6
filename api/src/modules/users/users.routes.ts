import { AppError } from '../../lib/errors.js';
import { defineRoute, type RouteContext } from '../../lib/routes.js';
import { IdParams } from '../../lib/schemas.js';
import {
  CreateUserBody,
  decodeUserCursor,
  encodeUserCursor,
  ListUsersQuery,
  UpdateUserBody,
  UserPageSchema,
  UserSchema,
} from './users.schemas.js';
import type { UsersService } from './users.service.js';

const tags = ['users'];

function readCursor({ cursor, sort, order }: ListUsersQuery) {
  if (cursor === undefined) return undefined;
  const after = decodeUserCursor(cursor, sort, order);
  if (!after) {
    throw new AppError('validation-failed', 'the request is not valid', 400, {
      errors: [{ field: 'query.cursor', reason: 'is not a cursor of this list with this sort and order' }],
    });
  }
  return after;
}

export function usersRoutes(context: RouteContext, deps: { users: UsersService }) {
  const { users } = deps;

  defineRoute(
    context,
    {
      method: 'get',
      path: '',
      summary: 'List users, a page at a time (keyset pagination)',
      tags,
      access: 'admin',
      query: ListUsersQuery,
      responses: { 200: { description: 'a page of users', schema: UserPageSchema } },
    },
    async ({ query }, _req, res) => {
      const { users: data, hasMore } = await users.list({ ...query, after: readCursor(query) });
      const last = data.at(-1);
      const nextCursor = hasMore && last ? encodeUserCursor(query.sort, query.order, last) : null;
      res.json({ data, nextCursor });
    },
  );

  defineRoute(
    context,
    {
      method: 'get',
      path: '/:id',
      summary: 'One user (a user may read only their own account)',
      tags,
      access: 'user',
      params: IdParams,
      responses: { 200: { description: 'the user', schema: UserSchema } },
      errors: [403, 404],
    },
    async ({ params, user }, _req, res) => {
      res.json(await users.get(params.id, user!));
    },
  );

  defineRoute(
    context,
    {
      method: 'post',
      path: '',
      summary: 'Create a user',
      tags,
      access: 'admin',
      body: CreateUserBody,
      responses: { 201: { description: 'created; Location names it', schema: UserSchema } },
      errors: [409, 415],
    },
    async ({ body }, _req, res) => {
      const created = await users.create(body);
      res.status(201).location(`${context.prefix}/${created.id}`).json(created);
    },
  );

  defineRoute(
    context,
    {
      method: 'patch',
      path: '/:id',
      summary: 'Change a user (an admin cannot demote or deactivate themselves)',
      tags,
      access: 'admin',
      params: IdParams,
      body: UpdateUserBody,
      responses: { 200: { description: 'the changed user', schema: UserSchema } },
      errors: [404, 409, 415],
    },
    async ({ params, body, user }, _req, res) => {
      res.json(await users.update(params.id, body, user!));
    },
  );

  defineRoute(
    context,
    {
      method: 'post',
      path: '/:id/deactivate',
      summary: 'Deactivate a user (idempotent)',
      tags,
      access: 'admin',
      params: IdParams,
      responses: { 200: { description: 'the deactivated user', schema: UserSchema } },
      errors: [404, 409],
    },
    async ({ params, user }, _req, res) => {
      res.json(await users.deactivate(params.id, user!));
    },
  );

  defineRoute(
    context,
    {
      method: 'delete',
      path: '/:id',
      summary: 'Delete a user and their items',
      tags,
      access: 'admin',
      params: IdParams,
      responses: { 204: { description: 'deleted' } },
      errors: [404, 409],
    },
    async ({ params, user }, _req, res) => {
      await users.delete(params.id, user!);
      res.status(204).end();
    },
  );
}
