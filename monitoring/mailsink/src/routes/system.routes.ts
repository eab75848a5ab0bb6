// Liveness and metrics. /healthz answers while the process serves HTTP; the SMTP side has no probe of its own.
import { Router } from 'express';
import type { Metrics } from '../lib/metrics.js';
import type { MailStore } from '../lib/store.js';

export function systemRoutes(deps: { store: MailStore; metrics: Metrics }) {
  const { store, metrics } = deps;
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', messages: store.count });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return router;
}
