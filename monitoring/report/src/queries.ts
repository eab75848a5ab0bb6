// The PromQL of every section of the report, built from the names that exist (docs/monitoring.md, docs/api.md):
//   - the answers users got, counted at the edge as the SLO counts them (monitoring/prometheus/rules/slo.yml, the
//     same selectors): Traefik's services api and api-next, or the HAProxy fallback's backends api and api_next. The
//     requests, the 5xx, the throughput and error-ratio charts and the SLO come from there, so that a 503 the edge
//     gave itself (no API task ready) is counted;
//   - the API's histogram http_request_duration_seconds{method,route,status_code} (api/src/lib/metrics.ts), job
//     "api": per route (its _count by route, its _bucket the latency), which the edge does not know;
//   - the SLO: 99.9% of requests without a 5xx over 30 days, computed here from the raw counters (the report's
//     Prometheus may hold no recording rules);
//   - ALERTS{alertstate="firing"}, as Prometheus records its alerts;
//   - what the jobs push to the Pushgateway: swarmlab_deploy_* (scripts/lib/dora.ts), swarmlab_backup_* and
//     swarmlab_restore_drill_*.
// Instant queries are evaluated at the end of the period; `[${range}]` is the period.

export const SLO = { objective: 0.999, windowDays: 30 } as const;

/** Alerts are counted at this resolution: a start is a minute firing that was not firing the minute before. */
export const ALERT_RESOLUTION = '1m';

const EDGE_TRAEFIK = 'traefik_service_requests_total{job="traefik", service=~"api(-next)?@swarm"';
const EDGE_HAPROXY = 'haproxy_backend_http_responses_total{job="edge-fallback", proxy=~"api|api_next"';
/** The two edges' selectors (without the closing brace): the SLO's rules use the same (a test compares them). */
export const EDGE_SELECTORS = [EDGE_TRAEFIK, EDGE_HAPROXY];
/** The edge's answers (all, or 5xx only) as `fn` (increase, rate) over `range`: whichever edge has series. */
const edge = (fn: 'increase' | 'rate', range: string, only5xx = false) =>
  only5xx
    ? `(sum(${fn}(${EDGE_TRAEFIK}, code=~"5.."}[${range}])) or sum(${fn}(${EDGE_HAPROXY}, code="5xx"}[${range}])) or vector(0))`
    : `(sum(${fn}(${EDGE_TRAEFIK}}[${range}])) or sum(${fn}(${EDGE_HAPROXY}}[${range}])))`;
/** The edge's answer counters, summed: where they exist, the lab served traffic (the charts start there). */
export const EDGE_ANSWERS = `(sum(${EDGE_TRAEFIK}}) or sum(${EDGE_HAPROXY}}))`;

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
  /** Where the charts start: the period's start, or later when the lab's data begins later (a young lab). */
  chartStart: Date;
  /** The chart resolution: one point per step, each a rate over the step before it. */
  stepSeconds: number;
}

/** Chart steps, smallest first: the first that keeps a chart under MAX_POINTS is taken (a minute: 4 scrapes). */
const STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
const MAX_POINTS = 400;

const stepFor = (seconds: number) => STEPS.find((step) => seconds / step <= MAX_POINTS) ?? STEPS.at(-1)!;

/**
 * The `days` days that end at `end`. Its charts span the whole period, or, when the data begins later (`dataSince`:
 * a lab younger than the period), from one step before it, with a step for that span: a lab of 20 minutes gets 20
 * minutes of lines, not a dot at the right edge of a week.
 */
export function periodOf(end: Date, days: number, dataSince?: Date): Period {
  const start = new Date(end.getTime() - days * 86_400_000);
  const periodStep = stepFor(days * 86_400);
  let chartStart = start;
  if (dataSince && dataSince.getTime() - periodStep * 1000 > start.getTime()) {
    chartStart = new Date(Math.max(start.getTime(), dataSince.getTime() - periodStep * 1000));
  }
  const span = (end.getTime() - chartStart.getTime()) / 1000;
  const stepSeconds = stepFor(span);
  // A whole number of steps back from the end, so that the last point is the end.
  chartStart = new Date(end.getTime() - Math.ceil(span / stepSeconds) * stepSeconds * 1000);
  return { start, end, days, chartStart, stepSeconds };
}

/** Instant queries at the end of the period. */
export function instantQueries(period: Period) {
  const range = `${period.days}d`;
  const slo = `${SLO.windowDays}d`;
  return {
    requests: edge('increase', range),
    errors: edge('increase', range, true),
    requestsByRoute: `sum by (route) (increase(${COUNT}[${range}]))`,
    errorsByRoute: `sum by (route) (increase(${COUNT_5XX}[${range}]))`,
    ...(Object.fromEntries(
      QUANTILES.flatMap(({ name, q }) => [
        [`${name}`, `histogram_quantile(${q}, sum by (le) (increase(${BUCKET}[${range}])))`],
        [`${name}ByRoute`, `histogram_quantile(${q}, sum by (le, route) (increase(${BUCKET}[${range}])))`],
      ]),
    ) as Record<QuantileName | `${QuantileName}ByRoute`, string>),
    sloRequests: edge('increase', slo),
    sloErrors: edge('increase', slo, true),
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
    throughput: edge('rate', window),
    errorRatio: `${edge('rate', window, true)} / ${edge('rate', window)}`,
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
