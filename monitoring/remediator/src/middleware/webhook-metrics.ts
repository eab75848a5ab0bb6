// remediation_webhooks_total{status}: every POST /alerts by how it ended, counted once its response is sent.
import type { RequestHandler } from 'express';
import type { Metrics, WebhookStatus } from '../lib/metrics.js';

function statusOf(code: number): WebhookStatus {
  if (code < 300) return 'accepted';
  if (code === 401) return 'unauthorized';
  if (code < 500) return 'invalid';
  return 'failed';
}

export function countWebhooks(metrics: Metrics): RequestHandler {
  return (_req, res, next) => {
    res.on('finish', () => metrics.webhooks.inc({ status: statusOf(res.statusCode) }));
    next();
  };
}
