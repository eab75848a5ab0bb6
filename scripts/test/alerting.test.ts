// Alerting end to end, with real processes on 127.0.0.1 only: the real API (port 0, its own copy of the test
// database), Debian's Prometheus scraping it as job="api" with the lab's rule file monitoring/prometheus/rules/api.yml
// unchanged, and Debian's Alertmanager routing every alert to a webhook receiver served by this test. Stopping the
// API must make ApiDown fire and reach the receiver. ApiDown waits `for: 1m`, so the test takes a little over a
// minute, on purpose: the lab's rule is what is tested, not a faster copy of it.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../api/test/helpers/app.js';
// Types only: the test database the helper copies comes from vitest's globalSetup (its `inject('cluster')` type).
import type {} from '../../api/test/helpers/global-setup.js';
import { startAlertmanager, startDaemon, type Daemon } from '../lib/alertmanager-process.js';
import { requireDebianTools } from '../lib/debian-tools.js';
import { REPO_ROOT } from '../lib/paths.js';

const API_RULES = path.join(REPO_ROOT, 'monitoring/prometheus/rules/api.yml');
/** How long stopping the API may take to reach the receiver: `for: 1m`, plus scrapes, evaluation and grouping. */
const DELIVERY_BOUND_MS = 150_000;

interface Alert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
/** What Alertmanager's webhook_config POSTs (version 4). */
interface Notification {
  receiver: string;
  status: 'firing' | 'resolved';
  alerts: Alert[];
}
interface AlertingRule {
  name: string;
  state: 'inactive' | 'pending' | 'firing';
  lastEvaluation: string;
  alerts: unknown[];
}

/** The ApiDown rule as the lab wrote it. */
const apiDownRule = () => {
  const doc = parse(readFileSync(API_RULES, 'utf8')) as {
    groups: { rules: { alert?: string; for?: string; annotations: Record<string, string> }[] }[];
  };
  return doc.groups.flatMap((group) => group.rules).find((rule) => rule.alert === 'ApiDown')!;
};

/** A webhook receiver: records the JSON body of every POST, answers 200. */
async function startWebhookReceiver() {
  const notifications: Notification[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      notifications.push(JSON.parse(body) as Notification);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    notifications,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let api: TestApp | undefined;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>> | undefined;
let alertmanager: Daemon | undefined;
let prometheus: Daemon | undefined;

/** What a failure message needs: both daemons' logs and what the receiver got. */
const diagnostics = () =>
  [
    `prometheus log:\n${prometheus?.log().slice(-1500) || '(empty)'}`,
    `alertmanager log:\n${alertmanager?.log().slice(-1500) || '(empty)'}`,
    `notifications received: ${JSON.stringify(receiver?.notifications ?? [])}`,
  ].join('\n');

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await check().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${diagnostics()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const prometheusApi = async <T>(pathAndQuery: string): Promise<T> => {
  const answer = (await (await fetch(`${prometheus!.url}${pathAndQuery}`)).json()) as { status: string; data: T };
  if (answer.status !== 'success') throw new Error(`${pathAndQuery}: ${JSON.stringify(answer)}`);
  return answer.data;
};
const apiDownState = async () => {
  const data = await prometheusApi<{ groups: { rules: AlertingRule[] }[] }>('/api/v1/rules?type=alert');
  return data.groups.flatMap((group) => group.rules).find((rule) => rule.name === 'ApiDown');
};

beforeAll(async () => {
  await requireDebianTools({ prometheus: 'prometheus', 'prometheus-alertmanager': 'prometheus-alertmanager' });
  api = await startTestApp();
  receiver = await startWebhookReceiver();
  alertmanager = await startAlertmanager({
    route: {
      receiver: 'webhook',
      group_by: ['alertname'],
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [{ name: 'webhook', webhook_configs: [{ url: receiver.url, send_resolved: true }] }],
  });
  const apiTarget = `127.0.0.1:${api.metricsPort}`; // GET /metrics has its own port (METRICS_PORT)
  prometheus = await startDaemon({
    command: 'prometheus',
    configName: 'prometheus.yml',
    config: {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [API_RULES],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(alertmanager.url).host] }] }] },
      scrape_configs: [{ job_name: 'api', static_configs: [{ targets: [apiTarget] }] }],
    },
    args: ({ configFile, dir, port }) => [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
  });
}, 120_000);

afterAll(async () => {
  // Every one of them, whatever failed before: the processes, the receiver, the API and its database.
  const results = await Promise.allSettled([prometheus?.stop(), alertmanager?.stop(), receiver?.close(), api?.close()]);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}, 60_000);

describe('alerting, end to end', () => {
  it('when the API stops, then ApiDown fires in Alertmanager, which delivers it to the webhook receiver', async () => {
    // Arrange: Prometheus scrapes the API and knows the Alertmanager; ApiDown is quiet.
    const up = await waitFor(
      'Prometheus to scrape the API (up{job="api"} == 1)',
      async () => {
        const data = await prometheusApi<{ result: { metric: Record<string, string> }[] }>(
          `/api/v1/query?${new URLSearchParams({ query: 'up{job="api"} == 1' })}`,
        );
        return data.result.length > 0 ? data.result : undefined;
      },
      30_000,
    );
    expect(up).toEqual([expect.objectContaining({ metric: expect.objectContaining({ job: 'api' }) })]);
    const scrapedAt = Date.now();
    // Before the first scrape absent(up{job="api"} == 1) holds, so ApiDown may have been pending for a moment: what
    // counts is its state at the first evaluation that saw the scrape.
    const quiet = await waitFor(
      'an evaluation of ApiDown after the first scrape',
      async () => {
        const rule = await apiDownState();
        return rule && Date.parse(rule.lastEvaluation) > scrapedAt ? rule : undefined;
      },
      15_000,
    );
    expect(quiet.state).toBe('inactive');
    expect(quiet.alerts).toEqual([]);
    const alertmanagers = await prometheusApi<{ activeAlertmanagers: { url: string }[] }>('/api/v1/alertmanagers');
    expect(alertmanagers.activeAlertmanagers).toEqual([{ url: `${alertmanager!.url}/api/v2/alerts` }]);
    expect(receiver!.notifications).toEqual([]);

    // Act: stop the API (its own graceful shutdown: the server closes, the port refuses).
    await api!.shutdown();
    const stoppedAt = Date.now();
    await expect(fetch(`${api!.baseUrl}/healthz`)).rejects.toThrow();

    // Assert: a firing ApiDown notification reaches the receiver, with the rule's labels and annotations.
    const notification = await waitFor(
      'a firing ApiDown notification at the webhook receiver',
      async () =>
        receiver!.notifications.find(
          (sent) => sent.status === 'firing' && sent.alerts.some((alert) => alert.labels.alertname === 'ApiDown'),
        ),
      DELIVERY_BOUND_MS,
    );
    const took = Date.now() - stoppedAt;
    console.log(
      `ApiDown (for: ${apiDownRule().for}) reached the webhook ${(took / 1000).toFixed(1)} s after the API stopped`,
    );
    expect(notification.receiver).toBe('webhook');
    const alert = notification.alerts.find((sent) => sent.labels.alertname === 'ApiDown')!;
    expect(alert.status).toBe('firing');
    expect(alert.labels).toEqual({ alertname: 'ApiDown', severity: 'critical', service: 'api' });
    expect(alert.annotations.runbook_url).toBe(
      'https://github.com/swarmlab/swarmlab/blob/main/docs/runbooks/ApiDown.md',
    );
    expect(alert.annotations).toEqual(apiDownRule().annotations);
    expect((await apiDownState())?.state).toBe('firing');
  }, 240_000);
});
