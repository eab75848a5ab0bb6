// One log line per request that did not succeed (4xx warn, 5xx error); successes only at debug, since Prometheus
// and the health check call every few seconds and each decision has its own line already.
import type { RequestHandler } from 'express';
import type { Logger } from '../lib/logger.js';

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      logger.log(level, 'request', {
        requestId: res.locals.requestId,
        method: req.method,
        path: req.path,
        status,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        ip: req.ip,
      });
    });
    next();
  };
}
