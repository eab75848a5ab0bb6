// Alertmanager's webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
// Only what the remediator reads is required; unknown fields are dropped.
import { createHash } from 'node:crypto';
import { z } from 'zod';

const labels = z.record(z.string(), z.string());
const status = z.enum(['firing', 'resolved']);

export const webhookAlertSchema = z.object({
  status,
  labels: z.object({ alertname: z.string().min(1) }).catchall(z.string()),
  annotations: labels.optional(),
  startsAt: z.string().optional(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).max(128).optional(),
});

export const webhookSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().min(0).optional(),
  status,
  receiver: z.string().optional(),
  groupLabels: labels.optional(),
  commonLabels: labels.optional(),
  commonAnnotations: labels.optional(),
  externalURL: z.string().optional(),
  alerts: z.array(webhookAlertSchema).min(1).max(1000),
});

export type WebhookPayload = z.infer<typeof webhookSchema>;
export type WebhookAlert = z.infer<typeof webhookAlertSchema>;

/** Alertmanager always sends a fingerprint; other senders get one derived from the sorted labels. */
export function fingerprintOf(alert: WebhookAlert): string {
  if (alert.fingerprint) return alert.fingerprint;
  const sorted = Object.entries(alert.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}
