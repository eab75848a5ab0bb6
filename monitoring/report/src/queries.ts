// The PromQL of every section of the report, built from the names that exist (docs/monitoring.md, docs/api.md):
//   - the API's histogram http_request_duration_seconds{method,route,status_code} (api/src/lib/metrics.ts), job
//     "api": its _count is the request counter (there is no http_requests_total), its _bucket the latency;
//   - the SLO of monitoring/prometheus/rules/slo.yml: 99.9% of requests without a 5xx over 30 days (the 5xx ratio
//     is computed here from the raw counter, as the SLO dashboard does: the slo:* rules only hold short windows);
//   - ALERTS{alertstate="firing"}, as Prometheus records its alerts;
//   - what the jobs push to the Pushgateway: swarmlab_deploy_* (scripts/lib/dora.ts), swarmlab_backup_* and
//     swarmlab_restore_drill_*.
// Instant queries are evaluated at the end of the period; `[${range}]` is the period.

export const SLO = { objective: 0.999, windowDays: 30 } as const;

/** Alerts are counted at this resolution: a start is a minute firing that was not firing the minute before. */
export const ALERT_RESOLUTION = '1m';

const COUNT = 'http_request_duration_seconds_count{job="api"}';
const COUNT_5XX = 'http_request_duration_seconds_count{job="api", status_code=~"5.."}';
const BUCKET = 'http_request_duration_seconds_bucket{job="api"}';
const FIRING = 'ALERTS{alertstate="firing"}';

export const QUANTILES = [
  { name: 'p50', q: 0.5 },
  { name: 'p95', q: 0.95 },
  { name: 'p99', q: 0.99 },
] as const;
export type QuantileName = (typeof QUANTILES)[number]['name'];

export interface Period {
  start: Date;
  end: Date;
  days: number;
  /** The chart resolution: one point per step, each a rate over the step before it. */
  stepSeconds: number;
}

/** Chart steps, smallest first: the first that keeps a chart under MAX_POINTS is taken. */
const STEPS = [300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
const MAX_POINTS = 400;

/** The `days` days that end at `end`, with the chart step for that length. */
export function periodOf(end: Date, days: number): Period {
  const seconds = days * 86_400;
  const stepSeconds = STEPS.find((step) => seconds / step <= MAX_POINTS) ?? STEPS.at(-1)!;
  return { start: new Date(end.getTime() - seconds * 1000), end, days, stepSeconds };
}

/** Instant queries at the end of the period. */
export function instantQueries(period: Period) {
  const range = `${period.days}d`;
  const slo = `${SLO.windowDays}d`;
  return {
    requests: `sum(increase(${COUNT}[${range}]))`,
    errors: `sum(increase(${COUNT_5XX}[${range}]))`,
    requestsByRoute: `sum by (route) (increase(${COUNT}[${range}]))`,
    errorsByRoute: `sum by (route) (increase(${COUNT_5XX}[${range}]))`,
    ...(Object.fromEntries(
      QUANTILES.flatMap(({ name, q }) => [
        [`${name}`, `histogram_quantile(${q}, sum by (le) (increase(${BUCKET}[${range}])))`],
        [`${name}ByRoute`, `histogram_quantile(${q}, sum by (le, route) (increase(${BUCKET}[${range}])))`],
      ]),
    ) as Record<QuantileName | `${QuantileName}ByRoute`, string>),
    sloRequests: `sum(increase(${COUNT}[${slo}]))`,
    sloErrors: `sum(increase(${COUNT_5XX}[${slo}]))`,
    alertStarts: `sum by (alertname, severity) (count_over_time((${FIRING} unless ${FIRING} offset ${ALERT_RESOLUTION})[${range}:${ALERT_RESOLUTION}]))`,
    alertMinutes: `sum by (alertname, severity) (count_over_time(${FIRING}[${range}:${ALERT_RESOLUTION}]))`,
    deploys: `sum by (result, strategy) (increase(swarmlab_deploy_total[${range}]))`,
    rollbacks: `sum(increase(swarmlab_deploy_rollbacks_total[${range}]))`,
    deployLastSuccess: 'max(swarmlab_deploy_last_success_timestamp_seconds)',
    // The operator's and the pipeline's deploys push apart (scripts/lib/dora.ts pushGroup): either one failing counts.
    deployLastRun: 'min(swarmlab_deploy_last_run_success)',
    backupLastSuccess: 'max by (type) (swarmlab_backup_last_success_timestamp_seconds)',
    backupLastRun: 'max by (type) (swarmlab_backup_last_run_success)',
    drillLastSuccess: 'max(swarmlab_restore_drill_last_success_timestamp_seconds)',
    drillLastRun: 'max(swarmlab_restore_drill_last_run_success)',
  };
}

/** Range queries over the period (charts), each point a rate over the step before it. */
export function rangeQueries(period: Period) {
  const window = `${period.stepSeconds}s`;
  return {
    throughput: `sum(rate(${COUNT}[${window}]))`,
    errorRatio: `(sum(rate(${COUNT_5XX}[${window}])) or vector(0)) / sum(rate(${COUNT}[${window}]))`,
    ...Object.fromEntries(
      QUANTILES.map(({ name, q }) => [
        `latency_${name}`,
        `histogram_quantile(${q}, sum by (le) (rate(${BUCKET}[${window}])))`,
      ]),
    ),
    p95ByRoute: `histogram_quantile(0.95, sum by (le, route) (rate(${BUCKET}[${window}])))`,
  } as Record<'throughput' | 'errorRatio' | `latency_${QuantileName}` | 'p95ByRoute', string>;
}

/**
 * Successful backups and drills in the period: their last-success timestamps, sampled every BACKUP_STEP seconds;
 * each distinct timestamp inside the period is one success (backups run at most hourly).
 */
export const BACKUP_STEP = 300;
export const backupRangeQueries = {
  backupSuccesses: 'max by (type) (swarmlab_backup_last_success_timestamp_seconds)',
  drillSuccesses: 'max(swarmlab_restore_drill_last_success_timestamp_seconds)',
};

/** The age after which BackupTooOld fires (monitoring/prometheus/rules/backup.yml). */
export const backupMaxAgeSeconds = (type: string) => (type === 'full' ? 8 * 86_400 : 26 * 3600);
/** RestoreDrillTooOld. */
export const DRILL_MAX_AGE_SECONDS = 8 * 86_400;
