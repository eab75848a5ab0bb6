// Runs every query of the report against Prometheus and shapes the answers into ReportData: plain numbers, null
// where a query returned nothing ("no data" in the report). Any failing query fails the whole collection, before
// anything is written.
import type { Logger } from './logger.js';
import type { InstantSample, Point, PrometheusClient, RangeSeries } from './prometheus.js';
import {
  BACKUP_STEP,
  backupMaxAgeSeconds,
  backupRangeQueries,
  DRILL_MAX_AGE_SECONDS,
  instantQueries,
  QUANTILES,
  rangeQueries,
  SLO,
  type Period,
  type QuantileName,
} from './queries.js';

export type Quantiles = Record<QuantileName, number | null>;

export interface RouteRow extends Quantiles {
  route: string;
  requests: number;
  errors: number;
  errorRatio: number | null;
}

export interface NamedSeries {
  label: string;
  points: Point[];
}

export interface AlertRow {
  alertname: string;
  severity: string;
  /** Times it started firing in the period (an alert already firing when the period began counts 0). */
  fired: number;
  /** Minutes it was firing in the period. */
  firingMinutes: number;
}

export interface DeployRow {
  result: string;
  strategy: string;
  count: number;
}

export type BackupStatus = 'ok' | 'failed' | 'too old' | 'unknown';

export interface BackupRow {
  type: string;
  lastSuccess: string | null;
  lastRunOk: boolean | null;
  successes: number;
  status: BackupStatus;
}

export interface ReportData {
  period: { start: string; end: string; days: number; chartStart: string; stepSeconds: number };
  generatedAt: string;
  prometheusUrl: string;
  traffic: {
    requests: number | null;
    errors: number | null;
    /** Mean requests per second over the period. */
    throughput: number | null;
    errorRatio: number | null;
  } & Quantiles;
  series: {
    throughput: NamedSeries[];
    errorRatio: NamedSeries[];
    latency: NamedSeries[];
    /** p95 over time of the busiest routes (at most TOP_CHART_ROUTES). */
    routeP95: NamedSeries[];
  };
  /** The busiest routes (at most TOP_ROUTES), by requests. */
  routes: RouteRow[];
  /** The slowest routes (at most TOP_ROUTES), by p95 over the period. */
  slowRoutes: RouteRow[];
  slo: {
    objective: number;
    windowDays: number;
    requests: number;
    errors: number;
    availability: number;
    /** 1 − (5xx ratio / error budget): 1 untouched, 0 spent, below 0 overspent. */
    budgetRemaining: number;
  } | null;
  alerts: AlertRow[];
  deploys: {
    rows: DeployRow[];
    total: number;
    failures: number;
    changeFailureRate: number | null;
    rollbacks: number | null;
    lastSuccess: string | null;
    lastRunOk: boolean | null;
  } | null;
  backups: { rows: BackupRow[]; drill: BackupRow | null } | null;
  /** Every query the report ran, for its appendix. */
  queries: { name: string; promql: string }[];
}

export const TOP_ROUTES = 10;
export const TOP_CHART_ROUTES = 5;
const CONCURRENCY = 4;

const finite = (value: number | undefined): number | null =>
  value !== undefined && Number.isFinite(value) ? value : null;
const first = (samples: InstantSample[]) => finite(samples[0]?.value);
const byLabel = (samples: InstantSample[], label: string) =>
  new Map(samples.map((sample) => [sample.metric[label] ?? '', sample.value]));
const isoOf = (unixSeconds: number | null) =>
  unixSeconds === null ? null : new Date(unixSeconds * 1000).toISOString();
const flag = (value: number | null) => (value === null ? null : value === 1);
/** Counters' increase() extrapolates to the range's edges: events are whole. */
const whole = (value: number) => Math.round(value);

/** Runs `tasks` with at most `limit` at a time; the first failure rejects (the others still settle). */
async function limited<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < tasks.length && !failure) {
      const index = next++;
      try {
        results[index] = await tasks[index]!();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

const series = (label: string, answer: RangeSeries[]): NamedSeries[] =>
  answer
    .map((item) => ({ label, points: item.points.filter((point) => Number.isFinite(point.v)) }))
    .filter((item) => item.points.length > 0);

/** Distinct timestamps (values) inside the period: one per success. */
function successesIn(answer: RangeSeries | undefined, period: Period): number {
  const from = period.start.getTime() / 1000;
  const to = period.end.getTime() / 1000;
  return new Set(answer?.points.map((point) => point.v).filter((v) => v > from && v <= to)).size;
}

function backupRow(
  type: string,
  lastSuccess: number | null,
  lastRun: number | null,
  successes: number,
  maxAge: number,
  end: Date,
): BackupRow {
  const lastRunOk = flag(lastRun);
  const age = lastSuccess === null ? null : end.getTime() / 1000 - lastSuccess;
  const status: BackupStatus =
    lastRunOk === false ? 'failed' : age === null ? 'unknown' : age > maxAge ? 'too old' : 'ok';
  return { type, lastSuccess: isoOf(lastSuccess), lastRunOk, successes, status };
}

export async function collectReport(
  prometheus: PrometheusClient,
  period: Period,
  logger: Logger,
  now: () => Date = () => new Date(),
): Promise<ReportData> {
  const instant = instantQueries(period);
  const ranges = rangeQueries(period);
  // Each point of a chart is a rate over the step before it: the first one is a step after the charts' start.
  const rangeStart = new Date(period.chartStart.getTime() + period.stepSeconds * 1000);
  const started = Date.now();

  const instantEntries = Object.entries(instant);
  const rangeEntries = Object.entries(ranges);
  const backupEntries = Object.entries(backupRangeQueries);
  const tasks: (() => Promise<InstantSample[] | RangeSeries[]>)[] = [
    ...instantEntries.map(
      ([, promql]) =>
        () =>
          prometheus.query(promql, period.end),
    ),
    ...rangeEntries.map(
      ([, promql]) =>
        () =>
          prometheus.queryRange(promql, rangeStart, period.end, period.stepSeconds),
    ),
    ...backupEntries.map(
      ([, promql]) =>
        () =>
          prometheus.queryRange(promql, period.start, period.end, BACKUP_STEP),
    ),
  ];
  const answers = await limited(tasks, CONCURRENCY);
  logger.debug('queries answered', { queries: tasks.length, ms: Date.now() - started });

  const i = Object.fromEntries(instantEntries.map(([name], index) => [name, answers[index] as InstantSample[]])) as {
    [K in keyof typeof instant]: InstantSample[];
  };
  const r = Object.fromEntries(
    rangeEntries.map(([name], index) => [name, answers[instantEntries.length + index] as RangeSeries[]]),
  ) as { [K in keyof typeof ranges]: RangeSeries[] };
  const b = Object.fromEntries(
    backupEntries.map(([name], index) => [
      name,
      answers[instantEntries.length + rangeEntries.length + index] as RangeSeries[],
    ]),
  ) as { [K in keyof typeof backupRangeQueries]: RangeSeries[] };

  // --- traffic, latency, routes ---
  const requests = first(i.requests);
  const errors = requests === null ? null : (first(i.errors) ?? 0);
  const periodSeconds = period.days * 86_400;
  const quantiles = Object.fromEntries(QUANTILES.map(({ name }) => [name, first(i[name])])) as Quantiles;

  const routeErrors = byLabel(i.errorsByRoute, 'route');
  const routeQuantiles = Object.fromEntries(
    QUANTILES.map(({ name }) => [name, byLabel(i[`${name}ByRoute`], 'route')]),
  ) as Record<QuantileName, Map<string, number>>;
  const allRoutes: RouteRow[] = i.requestsByRoute
    .filter((sample) => Number.isFinite(sample.value) && sample.value > 0)
    .map((sample) => {
      const route = sample.metric.route ?? '';
      const routeRequests = sample.value;
      const routeErrorCount = finite(routeErrors.get(route)) ?? 0;
      return {
        route,
        requests: routeRequests,
        errors: routeErrorCount,
        errorRatio: routeRequests > 0 ? routeErrorCount / routeRequests : null,
        ...(Object.fromEntries(
          QUANTILES.map(({ name }) => [name, finite(routeQuantiles[name].get(route))]),
        ) as Quantiles),
      };
    });
  const routes = [...allRoutes]
    .sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route))
    .slice(0, TOP_ROUTES);
  const slowRoutes = allRoutes
    .filter((row) => row.p95 !== null)
    .sort((a, b) => b.p95! - a.p95! || a.route.localeCompare(b.route))
    .slice(0, TOP_ROUTES);
  const chartRoutes = new Set(routes.slice(0, TOP_CHART_ROUTES).map((row) => row.route));

  // --- SLO ---
  const sloRequests = first(i.sloRequests);
  const sloErrors = first(i.sloErrors) ?? 0;
  const slo =
    sloRequests !== null && sloRequests > 0
      ? {
          objective: SLO.objective,
          windowDays: SLO.windowDays,
          requests: sloRequests,
          errors: sloErrors,
          availability: 1 - sloErrors / sloRequests,
          budgetRemaining: 1 - sloErrors / sloRequests / (1 - SLO.objective),
        }
      : null;

  // --- alerts ---
  const minutes = new Map(
    i.alertMinutes.map((sample) => [`${sample.metric.alertname}\u0000${sample.metric.severity}`, sample.value]),
  );
  const starts = new Map(
    i.alertStarts.map((sample) => [`${sample.metric.alertname}\u0000${sample.metric.severity}`, sample.value]),
  );
  const alerts: AlertRow[] = [...new Set([...minutes.keys(), ...starts.keys()])]
    .map((key) => {
      const [alertname = '', severity = ''] = key.split('\u0000');
      return {
        alertname,
        severity,
        fired: whole(finite(starts.get(key)) ?? 0),
        firingMinutes: whole(finite(minutes.get(key)) ?? 0),
      };
    })
    .filter((row) => row.fired > 0 || row.firingMinutes > 0)
    .sort((a, b) => b.fired - a.fired || b.firingMinutes - a.firingMinutes || a.alertname.localeCompare(b.alertname));

  // --- deployments ---
  const deployRows: DeployRow[] = i.deploys
    .map((sample) => ({
      result: sample.metric.result ?? '',
      strategy: sample.metric.strategy ?? '',
      count: whole(finite(sample.value) ?? 0),
    }))
    .sort((a, b) => a.result.localeCompare(b.result) || a.strategy.localeCompare(b.strategy));
  const deployTotal = deployRows.reduce((sum, row) => sum + row.count, 0);
  const deployFailures = deployRows.filter((row) => row.result === 'failure').reduce((sum, row) => sum + row.count, 0);
  const lastDeploySuccess = first(i.deployLastSuccess);
  const lastDeployRun = first(i.deployLastRun);
  const deploys =
    deployRows.length > 0 || lastDeploySuccess !== null || lastDeployRun !== null
      ? {
          rows: deployRows,
          total: deployTotal,
          failures: deployFailures,
          changeFailureRate: deployTotal > 0 ? deployFailures / deployTotal : null,
          rollbacks: first(i.rollbacks) === null ? null : whole(first(i.rollbacks)!),
          lastSuccess: isoOf(lastDeploySuccess),
          lastRunOk: flag(lastDeployRun),
        }
      : null;

  // --- backups ---
  const lastSuccessByType = byLabel(i.backupLastSuccess, 'type');
  const lastRunByType = byLabel(i.backupLastRun, 'type');
  const successSeries = new Map(b.backupSuccesses.map((item) => [item.metric.type ?? '', item]));
  const types = [...new Set([...lastSuccessByType.keys(), ...lastRunByType.keys(), ...successSeries.keys()])].sort(
    (x, y) => (x === 'full' ? -1 : y === 'full' ? 1 : x.localeCompare(y)),
  );
  const backupRows = types.map((type) =>
    backupRow(
      type,
      finite(lastSuccessByType.get(type)),
      finite(lastRunByType.get(type)),
      successesIn(successSeries.get(type), period),
      backupMaxAgeSeconds(type),
      period.end,
    ),
  );
  const drillLastSuccess = first(i.drillLastSuccess);
  const drillLastRun = first(i.drillLastRun);
  const drill =
    drillLastSuccess !== null || drillLastRun !== null || b.drillSuccesses.length > 0
      ? backupRow(
          'restore drill',
          drillLastSuccess,
          drillLastRun,
          successesIn(b.drillSuccesses[0], period),
          DRILL_MAX_AGE_SECONDS,
          period.end,
        )
      : null;

  return {
    period: {
      start: period.start.toISOString(),
      end: period.end.toISOString(),
      days: period.days,
      chartStart: period.chartStart.toISOString(),
      stepSeconds: period.stepSeconds,
    },
    generatedAt: now().toISOString(),
    prometheusUrl: prometheus.url,
    traffic: {
      requests,
      errors,
      throughput: requests === null ? null : requests / periodSeconds,
      errorRatio: requests !== null && requests > 0 ? errors! / requests : null,
      ...quantiles,
    },
    series: {
      throughput: series('requests/s', r.throughput),
      errorRatio: series('5xx ratio', r.errorRatio),
      latency: QUANTILES.flatMap(({ name }) => series(name, r[`latency_${name}`])),
      routeP95: r.p95ByRoute
        .filter((item) => chartRoutes.has(item.metric.route ?? ''))
        .flatMap((item) => series(item.metric.route ?? '', [item]))
        .sort((x, y) => [...chartRoutes].indexOf(x.label) - [...chartRoutes].indexOf(y.label)),
    },
    routes,
    slowRoutes,
    slo,
    alerts,
    deploys,
    backups: backupRows.length > 0 || drill ? { rows: backupRows, drill } : null,
    queries: [
      ...instantEntries.map(([name, promql]) => ({ name, promql })),
      ...rangeEntries.map(([name, promql]) => ({ name: `${name} (range, step ${period.stepSeconds}s)`, promql })),
      ...backupEntries.map(([name, promql]) => ({ name: `${name} (range, step ${BACKUP_STEP}s)`, promql })),
    ],
  };
}
