// Turns anything thrown into RFC 9457 problem+json. Known failures keep their status and code; anything else
// is a 500 that reveals nothing, logged with its stack.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, PROBLEM_CONTENT_TYPE, problem } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

function toAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  const parser = error as { type?: string; status?: number } | undefined;
  switch (parser?.type) {
    case 'entity.parse.failed':
      return new AppError('malformed-json', 'the request body is not valid JSON', 400);
    case 'entity.too.large':
      return new AppError('payload-too-large', 'the request body is too large', 413);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('unsupported-encoding', 'the request body encoding is not supported', 415);
  }
  if (typeof parser?.status === 'number' && parser.status >= 400 && parser.status < 500) {
    return new AppError('bad-request', 'the request could not be processed', parser.status);
  }
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      logger.error('error after response started', { error });
      next(error);
      return;
    }
    const known =
      toAppError(error) ??
      new AppError('internal-error', 'an unexpected error occurred; the request id identifies it in the logs', 500);
    if (known.status >= 500) {
      logger.error('request failed', { error, method: req.method, path: req.path, requestId: res.locals.requestId });
    }
    for (const [name, value] of Object.entries(known.options.headers ?? {})) res.setHeader(name, value);
    const body = problem(known, req.originalUrl.split('?')[0] ?? req.path, res.locals.requestId);
    res.status(known.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  };
}

export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => next(new AppError('route-not-found', `no route for ${req.method} ${req.path}`, 404));
}
