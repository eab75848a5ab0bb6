// One access-log line per request, at a level chosen by status: 5xx error, 4xx warn, else http.
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../lib/logger.js';

/** The route template (`/v1/users/:id`), never the raw path; unmatched requests share one label. */
export function routeTemplate(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  return 'unmatched';
}

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'http';
      logger.log(level, 'request', {
        requestId: res.locals.requestId,
        method: req.method,
        route: routeTemplate(req),
        path: req.path,
        status,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        ip: req.ip,
        userId: res.locals.user?.id,
        bytes: Number(res.getHeader('content-length') ?? 0) || undefined,
      });
    });
    next();
  };
}
