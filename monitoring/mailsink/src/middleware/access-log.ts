// One access-log line per request, at a level chosen by status: 5xx error, 4xx warn, else http (below the default
// info: the end-to-end tests poll /api/messages every second).
import type { RequestHandler } from 'express';
import type { Logger } from '../lib/logger.js';

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const status = res.writableFinished ? res.statusCode : 499;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'http';
      if (!logger.isLevelEnabled(level)) return;
      logger.log(level, 'request', {
        method: req.method,
        path: req.path,
        status,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  };
}
