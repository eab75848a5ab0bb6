// The HTTP surface: translate and validate, nothing more. The rules live in remediator.ts and policy.ts.
import express, { Router } from 'express';
import { z } from 'zod';
import { webhookSchema } from './alerts.schema.js';
import { AUDIT_CAPACITY, type AuditLog } from './audit.js';
import { AppError } from './lib/errors.js';
import type { Metrics } from './lib/metrics.js';
import { requireBearer } from './middleware/bearer-auth.js';
import { countWebhooks } from './middleware/webhook-metrics.js';
import type { Remediator } from './remediator.js';

// Alertmanager sends at most max_alerts (50) per notification; a few kB each.
const BODY_LIMIT = '1mb';

const auditQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(AUDIT_CAPACITY).default(50) });

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new AppError('validation-failed', `the ${what} is not valid`, 400, {
    errors: parsed.error.issues.map((issue) => ({ field: issue.path.join('.') || '(root)', reason: issue.message })),
  });
}

interface RouteDeps {
  token: string;
  dryRun: boolean;
  remediator: Remediator;
  audit: AuditLog;
  metrics: Metrics;
}

export function remediatorRoutes(deps: RouteDeps): Router {
  const router = Router();
  const authenticate = requireBearer(deps.token);

  // Counted before authentication, so refused notifications are counted too; the body is parsed after it.
  router.post(
    '/alerts',
    countWebhooks(deps.metrics),
    authenticate,
    express.json({ limit: BODY_LIMIT, type: 'application/json', strict: true }),
    async (req, res) => {
      const payload = parse(webhookSchema, req.body, 'Alertmanager webhook payload (version 4)');
      const decisions = await deps.remediator.handle(payload, { requestId: res.locals.requestId });
      res.json({ dryRun: deps.dryRun, decisions });
    },
  );

  router.get('/audit', authenticate, (req, res) => {
    const { limit } = parse(auditQuerySchema, req.query, 'query');
    res.json({ dryRun: deps.dryRun, entries: deps.audit.last(limit) });
  });

  return router;
}

export function systemRoutes(deps: { metrics: Metrics; dryRun: boolean }): Router {
  const router = Router();
  // Liveness only: no Docker call, so a slow engine does not get the remediator restarted.
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', dryRun: deps.dryRun });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
