// The 404 catch-all and the one error handler: RFC 9457 problem+json under /api (and for clients asking for JSON),
// a small HTML page elsewhere. Anything that is not an AppError is a bug: 500, logged with its stack, no internals.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { errorPage } from '../views.js';

const TITLES: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 500: 'Internal Server Error' };

export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => next(new AppError('route-not-found', `no route for ${req.method} ${req.path}`, 404));
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) return next(error);
    const known = error instanceof AppError;
    const status = known ? error.status : 500;
    const code = known ? error.code : 'internal-error';
    const detail = known ? error.message : 'the mail sink failed to answer; see its logs';
    if (!known) logger.error('request failed', { method: req.method, path: req.path, error });
    res.status(status);
    if (req.path.startsWith('/api/') || !req.accepts('html')) {
      res.type('application/problem+json').send(
        JSON.stringify({
          type: `https://swarmlab.dev/problems/${code}`,
          title: TITLES[status] ?? 'Error',
          status,
          detail,
          code,
          instance: req.originalUrl,
        }),
      );
    } else {
      res.type('html').send(errorPage(status, detail));
    }
  };
}
