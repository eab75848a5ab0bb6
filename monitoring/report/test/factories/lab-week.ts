// A known week of the lab, as the metrics the report reads, and what the report must make of it. Eight days of
// history end at `end`: the report's week, and one day before it (events there must not be counted).
import type { FedSeries, History } from '../helpers/prometheus.js';

const DAY = 86_400;
const MINUTE = 60;
const LE = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];

/** A route label an attacker chose (the API labels unknown paths by template, but the report must not trust it). */
export const MALICIOUS_ROUTE = '/v1/<script>alert("pwned")</script>&x';

/** Constant traffic per (method, route, status): `rate` requests/s, every one in the bucket that ends at `le`. */
export const TRAFFIC = [
  { method: 'GET', route: '/v1/users', status: '200', rate: 10, le: '0.025' },
  { method: 'GET', route: '/v1/users/:id', status: '200', rate: 4, le: '0.1' },
  { method: 'GET', route: '/v1/users/:id', status: '404', rate: 0.5, le: '0.01' },
  { method: 'POST', route: '/v1/users', status: '201', rate: 0.992, le: '0.5' },
  { method: 'POST', route: '/v1/users', status: '500', rate: 0.008, le: '1' },
  { method: 'GET', route: '/v1/reports/export', status: '200', rate: 0.1, le: '5' },
  { method: 'GET', route: MALICIOUS_ROUTE, status: '200', rate: 0.4, le: '0.25' },
];

/** The HAProxy fallback edge's backend of the API, as Prometheus labels it (monitoring/prometheus/prometheus.yml). */
const EDGE = { job: 'edge-fallback', instance: 'edge-fallback@10.0.1.9', proxy: 'api' };

export function labWeek(end: number) {
  const from = end - 8 * DAY;
  const start = end - 7 * DAY;
  const series: FedSeries[] = [];
  const api = { job: 'api', instance: 'api@10.0.1.5' };

  // --- the API's histogram ---
  for (const traffic of TRAFFIC) {
    const labels = { ...api, method: traffic.method, route: traffic.route, status_code: traffic.status };
    const count = (t: number) => traffic.rate * (t - from);
    for (const le of LE) {
      const inBucket = Number(le) >= Number(traffic.le);
      series.push({
        name: 'http_request_duration_seconds_bucket',
        labels: { ...labels, le },
        interval: 120,
        value: (t) => (inBucket ? count(t) : 0),
      });
    }
    series.push({ name: 'http_request_duration_seconds_count', labels, interval: 120, value: count });
    series.push({
      name: 'http_request_duration_seconds_sum',
      labels,
      interval: 120,
      value: (t) => count(t) * Number(traffic.le) * 0.9,
    });
  }

  // --- the edge (the HAProxy fallback's backend `api`): the same answers, counted by status class ---
  for (const code of ['2xx', '4xx', '5xx']) {
    const rate = TRAFFIC.filter((traffic) => `${traffic.status[0]}xx` === code).reduce((sum, t) => sum + t.rate, 0);
    series.push({
      name: 'haproxy_backend_http_responses_total',
      labels: { ...EDGE, code },
      interval: 120,
      value: (t) => rate * (t - from),
    });
  }

  // --- deploys (what scripts/lib/dora.ts pushes; the Pushgateway keeps job="deploy") ---
  const deploys = [
    { at: end - 7.5 * DAY, result: 'success', strategy: 'rolling' }, // before the week
    { at: end - 6 * DAY, result: 'success', strategy: 'rolling' },
    { at: end - 4 * DAY, result: 'success', strategy: 'rolling' },
    { at: end - 3 * DAY, result: 'success', strategy: 'bluegreen' },
    { at: end - 2 * DAY, result: 'failure', strategy: 'rolling', rolledBack: true },
    { at: end - 1 * DAY, result: 'success', strategy: 'rolling' },
  ];
  const deploysUntil = (t: number) => deploys.filter((deploy) => deploy.at <= t);
  for (const result of ['success', 'failure']) {
    for (const strategy of ['rolling', 'bluegreen']) {
      series.push({
        name: 'swarmlab_deploy_total',
        labels: { job: 'deploy', result, strategy },
        interval: 120,
        value: (t) =>
          deploysUntil(t).filter((deploy) => deploy.result === result && deploy.strategy === strategy).length,
      });
    }
  }
  series.push({
    name: 'swarmlab_deploy_rollbacks_total',
    labels: { job: 'deploy' },
    interval: 120,
    value: (t) => deploysUntil(t).filter((deploy) => deploy.rolledBack).length,
  });
  series.push({
    name: 'swarmlab_deploy_last_success_timestamp_seconds',
    labels: { job: 'deploy' },
    interval: 120,
    value: (t) => deploysUntil(t).findLast((deploy) => deploy.result === 'success')?.at,
  });
  series.push({
    name: 'swarmlab_deploy_last_run_success',
    labels: { job: 'deploy' },
    interval: 120,
    value: (t) => {
      const last = deploysUntil(t).at(-1);
      return last === undefined ? undefined : last.result === 'success' ? 1 : 0;
    },
  });

  // --- backups and the restore drill (pushed gauges) ---
  const lastOf = (times: number[], t: number) => times.filter((time) => time <= t).at(-1);
  const backups: Record<string, { successes: number[]; failedFrom?: number }> = {
    full: { successes: [end - 9 * DAY, end - 2 * DAY] },
    diff: {
      successes: [end - 7.5 * DAY, end - 6 * DAY, end - 5 * DAY, end - 4 * DAY, end - 3 * DAY],
      failedFrom: end - 2 * DAY,
    },
  };
  for (const [type, backup] of Object.entries(backups)) {
    series.push({
      name: 'swarmlab_backup_last_success_timestamp_seconds',
      labels: { job: 'backup', type },
      interval: 120,
      value: (t) => lastOf(backup.successes, t),
    });
    series.push({
      name: 'swarmlab_backup_last_run_success',
      labels: { job: 'backup', type },
      interval: 120,
      value: (t) =>
        lastOf(backup.successes, t) === undefined ? undefined : backup.failedFrom && t >= backup.failedFrom ? 0 : 1,
    });
  }
  const drill = end - 5 * DAY;
  series.push({
    name: 'swarmlab_restore_drill_last_success_timestamp_seconds',
    labels: { job: 'restore-drill' },
    interval: 120,
    value: (t) => (t >= drill ? drill : undefined),
  });
  series.push({
    name: 'swarmlab_restore_drill_last_run_success',
    labels: { job: 'restore-drill' },
    interval: 120,
    value: (t) => (t >= drill ? 1 : undefined),
  });

  // --- alerts, as Prometheus records them (one sample per evaluation while active) ---
  const alert = (
    alertname: string,
    severity: string,
    alertstate: 'firing' | 'pending',
    windows: [number, number][],
    extra: Record<string, string> = {},
  ) =>
    series.push({
      name: 'ALERTS',
      labels: { alertname, alertstate, severity, ...extra },
      interval: 60,
      value: (t) => (windows.some(([a, b]) => t >= a && t <= b) ? 1 : undefined),
    });
  const latencyEpisodes: [number, number][] = [
    [end - 6 * DAY, end - 6 * DAY + 20 * MINUTE],
    [end - 2 * DAY, end - 2 * DAY + 30 * MINUTE],
  ];
  alert('ApiHighLatencyP95', 'warning', 'firing', latencyEpisodes, { service: 'api' });
  alert(
    'ApiHighLatencyP95',
    'warning',
    'pending',
    latencyEpisodes.map(([a]) => [a - 10 * MINUTE, a - MINUTE]),
    { service: 'api' },
  );
  alert('ApiDown', 'critical', 'firing', [[end - 3 * DAY, end - 3 * DAY + 3 * MINUTE]], { service: 'api' });
  alert('BackupFailed', 'warning', 'firing', [[end - 2 * DAY + 5 * MINUTE, end - 2 * DAY + 15 * MINUTE]], {
    service: 'backup',
    type: 'diff',
  });
  // Before the week: not counted.
  alert('NodeDown', 'critical', 'firing', [[end - 7.5 * DAY, end - 7.5 * DAY + 10 * MINUTE]], { node: 'node2' });
  // Already firing when the week began: firing time counted, no new start.
  alert('TargetDown', 'warning', 'firing', [[start - 10 * MINUTE, start + 10 * MINUTE]], { job: 'etcd' });
  // Only ever pending: never fired.
  alert('NodeMemoryPressure', 'warning', 'pending', [[end - 1 * DAY, end - 1 * DAY + 5 * MINUTE]], {});

  const history: History = { from, to: end, series };
  const totalRate = TRAFFIC.reduce((sum, traffic) => sum + traffic.rate, 0);
  const errorRate = TRAFFIC.filter((traffic) => traffic.status.startsWith('5')).reduce((s, t) => s + t.rate, 0);
  const expected = {
    start,
    throughput: totalRate, // 16 req/s
    requests: totalRate * 7 * DAY,
    errorRatio: errorRate / totalRate, // 0.0005
    availability: 1 - errorRate / totalRate,
    budgetRemaining: 1 - errorRate / totalRate / 0.001, // 0.5
    // histogram_quantile interpolates linearly inside the bucket: 2.5 + 0.95 × (5 − 2.5)
    slowest: { route: '/v1/reports/export', p95: 4.875 },
    slowOrder: ['/v1/reports/export', '/v1/users', MALICIOUS_ROUTE, '/v1/users/:id'],
    alerts: { ApiHighLatencyP95: 2, ApiDown: 1, BackupFailed: 1, TargetDown: 0 },
    deploys: { success: 4, failure: 1, total: 5, changeFailureRate: 0.2, rollbacks: 1, lastSuccess: end - 1 * DAY },
    backups: {
      full: { successes: 1, lastSuccess: end - 2 * DAY, lastRunOk: true, status: 'ok' },
      diff: { successes: 4, lastSuccess: end - 3 * DAY, lastRunOk: false, status: 'failed' },
      drill: { successes: 1, lastSuccess: drill, lastRunOk: true, status: 'ok' },
    },
  };
  return { history, expected };
}

/**
 * A lab 20 minutes old at `end`: 5 requests/s answered by the API, and for one minute, 10 minutes before the end,
 * 2 requests/s more that the edge answered 503 itself (no API task was ready), which the API never saw.
 */
export function youngLab(end: number) {
  const from = end - 20 * MINUTE;
  const outage = { from: end - 10 * MINUTE, to: end - 9 * MINUTE, rate: 2 };
  const rate = 5;
  const series: FedSeries[] = [];
  const labels = { job: 'api', instance: 'api@10.0.1.5', method: 'GET', route: '/v1/items', status_code: '200' };
  const count = (t: number) => rate * (t - from);
  for (const le of LE) {
    series.push({
      name: 'http_request_duration_seconds_bucket',
      labels: { ...labels, le },
      interval: 60,
      value: (t) => (Number(le) >= 0.025 ? count(t) : 0),
    });
  }
  series.push({ name: 'http_request_duration_seconds_count', labels, interval: 60, value: count });
  series.push({ name: 'http_request_duration_seconds_sum', labels, interval: 60, value: (t) => count(t) * 0.02 });
  series.push({
    name: 'haproxy_backend_http_responses_total',
    labels: { ...EDGE, code: '2xx' },
    interval: 60,
    value: count,
  });
  series.push({
    name: 'haproxy_backend_http_responses_total',
    labels: { ...EDGE, code: '5xx' },
    interval: 60,
    value: (t) => outage.rate * Math.max(0, Math.min(t, outage.to) - outage.from),
  });
  const errors = outage.rate * (outage.to - outage.from);
  const history: History = { from, to: end, series };
  return {
    history,
    expected: { from, requests: count(end) + errors, errors, errorRatio: errors / (count(end) + errors) },
  };
}
