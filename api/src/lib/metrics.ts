// Prometheus metrics. One registry per app instance, so tests can build several apps in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics(app: { version: string; gitSha: string }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const buildInfo = new Gauge({
    name: 'build_info',
    help: 'Build of the running API; always 1',
    labelNames: ['version', 'git_sha'],
    registers: [registry],
  });
  buildInfo.set({ version: app.version, git_sha: app.gitSha }, 1);

  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'http_errors_total',
      help: 'Errors answered as problem+json, by code',
      labelNames: ['code', 'status_code'],
      registers: [registry],
    }),
    loginFailures: new Counter({
      name: 'auth_login_failures_total',
      help: 'Failed logins by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    importRows: new Counter({
      name: 'users_import_rows_total',
      help: 'Rows of user imports by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    dbReads: new Counter({
      name: 'db_reads_total',
      help: 'Read queries by the database they were sent to',
      labelNames: ['target'],
      registers: [registry],
    }),
    dbReadFallbacks: new Counter({
      name: 'db_read_fallbacks_total',
      help: 'Reads sent to the primary although a replica is configured, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    replicaLag: new Gauge({
      name: 'db_replica_lag_seconds',
      help: 'Replay lag of the read replica as last measured',
      registers: [registry],
    }),
    replicaUp: new Gauge({
      name: 'db_replica_up',
      help: '1 when the read replica answers and is within the allowed lag',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Pool gauges read at scrape time. */
export function registerPoolMetrics(
  metrics: Metrics,
  pools: Record<string, { totalCount: number; idleCount: number; waitingCount: number }>,
) {
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by pool and state',
    labelNames: ['pool', 'state'],
    registers: [metrics.registry],
    collect() {
      for (const [pool, p] of Object.entries(pools)) {
        this.set({ pool, state: 'in_use' }, p.totalCount - p.idleCount);
        this.set({ pool, state: 'idle' }, p.idleCount);
        this.set({ pool, state: 'waiting' }, p.waitingCount);
      }
    },
  });
}
