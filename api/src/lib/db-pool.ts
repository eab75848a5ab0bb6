// A pg pool that waits out a short database outage (a planned switchover: 2-5 s; a failover: ~10 s) instead of
// failing the request at once. Only what certainly did not run is tried again, until `waitMs` has passed:
//   - a connection that could not be made (nothing was sent), or that reached a member in recovery (the router
//     still pointing at the leader just demoted; the writable pool asks each new connection once);
//   - a single statement the server refused or aborted before it could commit (SQLSTATEs in NOT_RUN).
// A connection lost mid-statement may hide a commit: never retried, the request answers 503 (db-errors.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { databaseUnavailable } from './db-errors.js';

/** Statements that ended with these did not commit (the server refused them, or aborted them on shutdown). */
const NOT_RUN = new Set([
  '57P01', // admin_shutdown: the member stops (Patroni demoting it); sent only before a commit completes
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '25006', // read_only_sql_transaction: a replica (the leader just demoted) refused the write
  '53300', // too_many_connections
]);

/** Marks the error of a connect that has already waited its time, so a statement does not wait again. */
const WAITED = Symbol('waited');

const backoffMs = (attempt: number) => Math.min(100 * 2 ** attempt, 1000);
const sqlstate = (error: unknown) => (error as { code?: unknown }).code;

export interface WaitingPoolOptions extends pg.PoolConfig {
  /** How long a connection or a statement may wait for the database; 0 fails at once. */
  waitMs: number;
  /** Writes go through this pool: a new connection to a server in recovery is dropped and made again. */
  writable: boolean;
}

export class WaitingPool extends pg.Pool {
  /** When the database last answered through this pool (ms since the epoch; 0: never). */
  answeredAt = 0;
  private readonly waitMs: number;
  private readonly writable: boolean;
  private readonly checked = new WeakSet<pg.PoolClient>();

  constructor({ waitMs, writable, ...config }: WaitingPoolOptions) {
    super(config);
    this.waitMs = waitMs;
    this.writable = writable;
  }

  // pg-pool's own query() calls connect() with a callback: both forms wait.
  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): void;
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | void {
    const connecting = this.connectWaiting(Date.now() + this.waitMs);
    if (!callback) return connecting;
    connecting.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | boolean | undefined)),
      (error: Error) => callback(error, undefined, () => undefined),
    );
  }

  /** Promise-form queries (the Prisma adapter's): a statement that certainly did not run runs again. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg's query() has a dozen overloads
  override query(...args: any[]): any {
    const query = pg.Pool.prototype.query as (...queryArgs: unknown[]) => Promise<pg.QueryResult>;
    if (args.some((arg) => typeof arg === 'function')) return query.apply(this, args);
    return this.queryWaiting(() => query.apply(this, args), Date.now() + this.waitMs);
  }

  private async queryWaiting(run: () => Promise<pg.QueryResult>, deadline: number) {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await run();
        this.answeredAt = Date.now();
        return result;
      } catch (error) {
        const again = !(error as { [WAITED]?: boolean })[WAITED] && NOT_RUN.has(sqlstate(error) as string);
        if (!again || Date.now() + backoffMs(attempt) > deadline) throw error;
        await sleep(backoffMs(attempt));
      }
    }
  }

  private async connectWaiting(deadline: number): Promise<pg.PoolClient> {
    for (let attempt = 0; ; attempt++) {
      try {
        const client = await super.connect();
        if (this.writable && !this.checked.has(client)) await this.refuseRecovery(client);
        this.answeredAt = Date.now();
        return client;
      } catch (error) {
        if (!databaseUnavailable(error) || Date.now() + backoffMs(attempt) > deadline) {
          if (error && typeof error === 'object') Object.assign(error, { [WAITED]: true });
          throw error;
        }
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** A new connection of the writable pool must reach the leader; one to a replica is dropped (destroyed). */
  private async refuseRecovery(client: pg.PoolClient) {
    try {
      const { rows } = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
      if (rows[0]?.recovery)
        throw Object.assign(new Error('the database is in recovery (a replica)'), { code: '25006' });
      this.checked.add(client);
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
  }
}
