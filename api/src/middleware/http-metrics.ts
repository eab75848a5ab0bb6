import type { RequestHandler } from 'express';
import type { Metrics } from '../lib/metrics.js';
import { finalStatus, routeTemplate } from './access-log.js';

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.on('close', () => {
      end({ method: req.method, route: routeTemplate(res), status_code: String(finalStatus(res)) });
    });
    next();
  };
}
