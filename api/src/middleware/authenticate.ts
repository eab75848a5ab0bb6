// Bearer-token authentication: sets res.locals.user. Routes decide whether a user is required.
import type { RequestHandler } from 'express';
import { unauthenticated } from '../lib/errors.js';
import { requestContext } from '../lib/request-context.js';
import type { AuthService } from '../modules/auth/auth.service.js';

export function authenticate(auth: AuthService): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('authorization');
    if (!header) return next();
    const match = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/.exec(header);
    if (!match) throw unauthenticated('use an Authorization: Bearer <token> header');
    const user = await auth.authenticate(match[1]!);
    res.locals.user = user;
    const context = requestContext.get();
    if (context) context.userId = user.id;
    next();
  };
}
