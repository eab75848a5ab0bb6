// A pg pool that waits out a short database outage (a planned switchover: 2-5 s; a failover: ~10 s) instead of
// failing the request at once, and never runs a write twice. Tried again until `waitMs` has passed:
//   - a connection that could not be made (nothing was sent), or that reached a member in recovery (the router
//     still pointing at the leader just demoted; the writable pool asks each new connection once);
//   - a statement the server refused (SQLSTATEs in REFUSED);
//   - a read (SELECT) whose session ended under it: reading twice is harmless;
//   - a write (any other statement of the writable pool) that certainly did not commit. Each runs in its own
//     transaction whose id is known before COMMIT. A session that ends before COMMIT rolled it back; one that ends
//     during COMMIT may have committed (a member stopping ends a session waiting for its synchronous standby without
//     a word, after the local commit), so the leader is asked pg_xact_status(id): committed, the statement's result
//     stands; aborted, it runs again; unknown until `waitMs`, the request answers 503 (db-errors.ts).
// Transactions the caller opens itself (connect(), Prisma's $transaction) are its own: never retried.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { databaseUnavailable } from './db-errors.js';

/** The server refused the statement: nothing of it ran. */
const REFUSED = new Set([
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '25006', // read_only_sql_transaction: a replica (the leader just demoted) refused the write
  '53300', // too_many_connections
]);

/** Marks the error of a connect that has already waited its time, so a statement does not wait again. */
const WAITED = Symbol('waited');

const backoffMs = (attempt: number) => Math.min(100 * 2 ** attempt, 1000);
const sqlstate = (error: unknown) => (error as { code?: unknown }).code;
/** The session ended under the statement: the member stopping (57P01, 57P02) or the connection cut. */
const sessionEnded = (error: unknown) =>
  ['57P01', '57P02', 'ECONNRESET', 'EPIPE'].includes(sqlstate(error) as string) ||
  /^Connection terminated|not queryable/.test((error as Error).message);
const statementText = (args: unknown[]) =>
  typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '');
const isRead = (args: unknown[]) => /^\s*SELECT\b/i.test(statementText(args));

type Outcome = 'committed' | 'aborted' | 'unknown';

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

  /** Promise-form queries (the Prisma adapter's): retried only when that cannot run them twice. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg's query() has a dozen overloads
  override query(...args: any[]): any {
    if (args.some((arg) => typeof arg === 'function')) return pg.Pool.prototype.query.apply(this, args as never);
    const deadline = Date.now() + this.waitMs;
    return this.writable && !isRead(args) ? this.writeWaiting(args, deadline) : this.readWaiting(args, deadline);
  }

  private async readWaiting(args: unknown[], deadline: number) {
    for (let attempt = 0; ; attempt++) {
      try {
        return this.answered(await withClient(await this.connect(), (client) => run(client, args)));
      } catch (error) {
        if (
          !this.mayRetry(error, attempt, deadline) ||
          !(REFUSED.has(sqlstate(error) as string) || sessionEnded(error))
        )
          throw error;
        await sleep(backoffMs(attempt));
      }
    }
  }

  private async writeWaiting(args: unknown[], deadline: number) {
    for (let attempt = 0; ; attempt++) {
      let xid: string | undefined;
      let result: pg.QueryResult | undefined;
      try {
        return this.answered(
          await withClient(await this.connect(), async (client) => {
            const begun = (await run(client, [
              'BEGIN READ WRITE; SELECT pg_current_xact_id()::text AS xid',
            ])) as unknown;
            xid = (begun as pg.QueryResult<{ xid: string }>[])[1]!.rows[0]!.xid;
            try {
              result = await run(client, args);
            } catch (error) {
              if (!sessionEnded(error)) await run(client, ['ROLLBACK']);
              throw error;
            }
            await run(client, ['COMMIT']);
            return result;
          }),
        );
      } catch (error) {
        const atCommit = result !== undefined && sessionEnded(error);
        if (!this.mayRetry(error, attempt, deadline)) throw error;
        if (atCommit) {
          const outcome = await this.outcome(xid!, deadline);
          if (outcome === 'committed') return this.answered(result!);
          if (outcome === 'unknown') throw error;
        } else if (!REFUSED.has(sqlstate(error) as string) && !sessionEnded(error)) {
          throw error;
        }
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** Whether the transaction committed, asked of the leader until `deadline`. */
  private async outcome(xid: string, deadline: number): Promise<Outcome> {
    for (let attempt = 0; ; attempt++) {
      try {
        const { rows } = await withClient(await this.connect(), (client) =>
          run(client, ['SELECT pg_xact_status($1::xid8) AS status', [xid]]),
        );
        const status = (rows[0] as { status: string | null } | undefined)?.status;
        if (status === 'committed' || status === 'aborted') return status;
      } catch (error) {
        // 22023: "transaction ID ... is in the future": a leader that never received it (a failover lost it).
        if (sqlstate(error) === '22023') return 'aborted';
        if ((error as { [WAITED]?: boolean })[WAITED]) return 'unknown';
      }
      if (Date.now() + backoffMs(attempt) > deadline) return 'unknown';
      await sleep(backoffMs(attempt));
    }
  }

  private mayRetry(error: unknown, attempt: number, deadline: number) {
    return !(error as { [WAITED]?: boolean })[WAITED] && Date.now() + backoffMs(attempt) <= deadline;
  }

  private answered<T>(value: T) {
    this.answeredAt = Date.now();
    return value;
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

/** Runs `use` on a client taken from the pool; releases it, destroyed unless all went well or the server said no. */
async function withClient<T>(client: pg.PoolClient, use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  // A checked-out client's socket errors reach its statements; this keeps them from being unhandled events.
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    const value = await use(client);
    client.removeListener('error', ignore);
    client.release();
    return value;
  } catch (error) {
    client.removeListener('error', ignore);
    // A plain ERROR leaves the session usable (`use` has rolled back what it began); anything else ends it.
    client.release((error as { severity?: string }).severity === 'ERROR' ? undefined : (error as Error));
    throw error;
  }
}

const run = (client: pg.PoolClient, args: unknown[]) =>
  (client.query as (...queryArgs: unknown[]) => Promise<pg.QueryResult>).apply(client, args);
