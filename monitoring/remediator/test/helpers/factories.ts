// Test data: webhook payloads as Alertmanager sends them, configurations on a temporary token file, and swarms
// that record or refuse every call.
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { WebhookAlert, WebhookPayload } from '../../src/alerts.schema.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/lib/logger.js';
import type { SwarmActions } from '../../src/swarm.js';

export async function tempDir(prefix = 'remediator-') {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** A valid configuration: a fresh 64-character token in its own file, an audit file in a new directory. */
export async function buildConfig(env: Record<string, string> = {}) {
  const dir = await tempDir();
  const token = randomBytes(32).toString('hex');
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${token}\n`);
  const auditFile = path.join(dir, 'state', 'audit.jsonl');
  const config = loadConfig({ REMEDIATOR_TOKEN_FILE: tokenFile, AUDIT_FILE: auditFile, ...env });
  return { config, token, dir, auditFile };
}

let sequence = 0;

export function buildAlert(
  labels: Record<string, string> & { alertname: string },
  overrides: Partial<WebhookAlert> = {},
): WebhookAlert {
  sequence += 1;
  return {
    status: 'firing',
    labels: { severity: 'warning', ...labels },
    annotations: { summary: `${labels.alertname} test alert` },
    startsAt: '2025-01-01T00:00:00Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph',
    fingerprint: `fp${String(sequence).padStart(14, '0')}`,
    ...overrides,
  };
}

export function buildPayload(alerts: WebhookAlert[]): WebhookPayload {
  const status = alerts.some((alert) => alert.status === 'firing') ? 'firing' : 'resolved';
  return {
    version: '4',
    groupKey: '{}/{}:{alertname="test"}',
    truncatedAlerts: 0,
    status,
    receiver: 'remediator',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts,
  };
}

export const latency = (status: 'firing' | 'resolved' = 'firing') =>
  buildAlert({ alertname: 'ApiHighLatencyP95', service: 'api' }, { status });

/** A swarm that fails the test on any call: what dry-run must never touch. */
export function forbiddenSwarm() {
  const calls: string[] = [];
  const refuse = (name: string) => async () => {
    calls.push(name);
    throw new Error(`SwarmActions.${name} called`);
  };
  const swarm: SwarmActions = {
    replicas: refuse('replicas'),
    scale: refuse('scale'),
    forceRestart: refuse('forceRestart'),
    startBackup: refuse('startBackup'),
  };
  return { swarm, calls };
}

/** An in-memory swarm that records what it was asked to do. */
export function recordingSwarm(initialReplicas = 3) {
  const calls: unknown[][] = [];
  let replicas = initialReplicas;
  const swarm: SwarmActions = {
    replicas: async (service) => {
      calls.push(['replicas', service]);
      return replicas;
    },
    scale: async (service, n) => {
      calls.push(['scale', service, n]);
      replicas = n;
    },
    forceRestart: async (service) => {
      calls.push(['forceRestart', service]);
    },
    startBackup: async () => {
      calls.push(['startBackup']);
      return 'exec 0123456789ab';
    },
  };
  return { swarm, calls };
}

/** A logger whose JSON lines land in `lines`. */
export function capturingLogger(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level, stream }), lines };
}
