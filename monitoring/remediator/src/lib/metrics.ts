// Prometheus metrics. One registry per app instance, so tests can build several apps in one process.
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { ACTIONS, RESULTS } from '../policy.js';

export const WEBHOOK_STATUSES = ['accepted', 'invalid', 'unauthorized', 'failed'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const actions = new Counter({
    name: 'remediation_actions_total',
    help: 'Remediation actions decided, by action and result',
    labelNames: ['action', 'result'],
    registers: [registry],
  });
  const webhooks = new Counter({
    name: 'remediation_webhooks_total',
    help: 'Alertmanager notifications received on POST /alerts, by status',
    labelNames: ['status'],
    registers: [registry],
  });
  // Every series exists from the start at 0, so rate() and increase() see the first event.
  for (const action of ACTIONS) for (const result of RESULTS) actions.inc({ action, result }, 0);
  for (const status of WEBHOOK_STATUSES) webhooks.inc({ status }, 0);

  return { registry, actions, webhooks };
}

export type Metrics = ReturnType<typeof createMetrics>;
