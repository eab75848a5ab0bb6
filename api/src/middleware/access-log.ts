// One access-log line per request, at a level chosen by status: 5xx error, 4xx and 503 warn, else http (a 503 is
// a moment of unavailability the client is told to retry: a database failover, a task shutting down). The error
// handler's problem code (and why the database was unavailable) is in the line. A request whose client went away
// before the answer was complete is logged as status 499 (nginx's "client closed").
import type { RequestHandler, Response } from 'express';
import type { Logger } from '../lib/logger.js';

/**
 * The route template (`/v1/users/:id`), never the raw path; unmatched requests share one label. Recorded
 * by the route itself when it matches (see lib/routes.ts): req.baseUrl is already reset when the response ends.
 */
export function routeTemplate(res: Response): string {
  return res.locals.route ?? 'unmatched';
}

export const CLIENT_CLOSED = 499;

/** The status to record once the response has closed. */
export function finalStatus(res: Response): number {
  return res.writableFinished ? res.statusCode : CLIENT_CLOSED;
}

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const status = finalStatus(res);
      const level = status >= 500 && status !== 503 ? 'error' : status >= 400 ? 'warn' : 'http';
      if (!logger.isLevelEnabled(level)) return;
      logger.log(level, 'request', {
        requestId: res.locals.requestId,
        method: req.method,
        route: routeTemplate(res),
        path: req.path,
        status,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        ip: req.ip,
        userId: res.locals.user?.id,
        bytes: Number(res.getHeader('content-length') ?? 0) || undefined,
        ...res.locals.problem,
      });
    });
    next();
  };
}
