// Prisma clients over pg pools, and read routing: safe reads go to the replica when one is configured,
// answers and is within the allowed lag; otherwise, and for a request that has written, to the primary.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { databaseUnavailable } from './db-errors.js';
import { WaitingPool } from './db-pool.js';
import type { Logger } from './logger.js';
import { registerPoolMetrics, type Metrics } from './metrics.js';
import { requestContext } from './request-context.js';

export type Db = PrismaClient;

interface DatabaseOptions {
  url: string;
  replicaUrl?: string | undefined;
  replicaMaxLagSeconds: number;
  replicaCheckIntervalMs: number;
  poolMax: number;
  /** How long a request waits for an unavailable database before its 503 (db-pool.ts). */
  waitMs: number;
}

interface LsnSample {
  at: number;
  lsn: bigint;
}

/** Reads `pg_wal_lsn_diff(lsn, '0/0')` (a numeric) as a bigint. */
const lsnQuery = (fn: string) => `SELECT pg_wal_lsn_diff(${fn}, '0/0')::text AS lsn`;

export class Database {
  readonly primary: Db;
  private readonly replica?: Db;
  private readonly pools: WaitingPool[] = [];
  /** Writes outside Prisma use it too: the login throttle's counters (auth.service.ts). */
  readonly primaryPool: WaitingPool;
  private replicaHealthy = false;
  private checkTimer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private samples: LsnSample[] = [];
  /** Users who wrote recently, so that their next reads (in any request) see their writes. */
  private readonly recentWriters = new Map<number, number>();

  constructor(
    private readonly options: DatabaseOptions,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    const primaryPool = (this.primaryPool = this.pool(options.url, 'primary', true));
    this.primary = new PrismaClient({ adapter: new PrismaPg(primaryPool) });
    const pools: Record<string, pg.Pool> = { primary: primaryPool };
    if (options.replicaUrl) {
      const replicaPool = this.pool(options.replicaUrl, 'replica', false);
      this.replica = new PrismaClient({ adapter: new PrismaPg(replicaPool) });
      pools.replica = replicaPool;
    }
    registerPoolMetrics(metrics, pools);
  }

  private pool(connectionString: string, name: string, writable: boolean) {
    const pool = new WaitingPool({
      // The replica is a fallback for reads: a request that finds it gone goes to the primary at once (read()).
      waitMs: writable ? this.options.waitMs : 0,
      writable,
      connectionString,
      max: this.options.poolMax,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      application_name: `swarmlab-api:${name}`,
    });
    // An idle client losing its server (failover, restart) must not crash the process.
    pool.on('error', (error) => this.logger.warn('database pool error', { pool: name, error: error.message }));
    this.pools.push(pool);
    return pool;
  }

  /** Starts watching the replica. Without one, every read goes to the primary. */
  async start() {
    if (!this.replica) return;
    await this.checkReplica();
    this.checkTimer = setInterval(() => void this.checkReplica(), this.options.replicaCheckIntervalMs);
    this.checkTimer.unref();
  }

  /** Call after a write: the rest of this request, and this user's reads for a while, use the primary. */
  markWritten() {
    const context = requestContext.get();
    if (!context) return;
    context.hasWritten = true;
    if (context.userId !== undefined) this.recentWriters.set(context.userId, Date.now());
  }

  /** The client a safe read should use now. */
  reader(): Db {
    if (!this.replica) return this.primary;
    const reason = this.primaryReadReason();
    if (reason) {
      this.metrics.dbReadFallbacks.inc({ reason });
      this.metrics.dbReads.inc({ target: 'primary' });
      return this.primary;
    }
    this.metrics.dbReads.inc({ target: 'replica' });
    return this.replica;
  }

  /**
   * Runs a read on the replica when it may serve it, and on the primary when the replica fails mid-way
   * (between two health checks).
   */
  async read<T>(query: (db: Db) => Promise<T>): Promise<T> {
    const db = this.reader();
    if (db === this.primary) return query(db);
    try {
      return await query(db);
    } catch (error) {
      if (!databaseUnavailable(error)) throw error;
      this.setReplicaHealthy(false, 'query failed');
      this.metrics.dbReadFallbacks.inc({ reason: 'replica_down' });
      this.metrics.dbReads.inc({ target: 'primary' });
      return query(this.primary);
    }
  }

  private primaryReadReason(): string | undefined {
    const context = requestContext.get();
    if (context?.hasWritten) return 'read_your_writes';
    if (context?.userId !== undefined) {
      const wroteAt = this.recentWriters.get(context.userId);
      if (wroteAt !== undefined) {
        if (Date.now() - wroteAt < this.stickyMs()) return 'read_your_writes';
        this.recentWriters.delete(context.userId);
      }
    }
    if (!this.replicaHealthy) return 'replica_unavailable';
    return undefined;
  }

  private stickyMs() {
    return Math.max(2_000, this.options.replicaMaxLagSeconds * 1000);
  }

  /** Is the database reachable? Used by /readyz. Only the primary matters: reads can fall back. */
  async ping() {
    await this.primary.$queryRaw`SELECT 1`;
  }

  /** Whether the primary answered within the last `ms` (a request, a ping). */
  answeredWithin(ms: number): boolean {
    return Date.now() - this.primaryPool.answeredAt <= ms;
  }

  private async checkReplica() {
    this.checking ??= this.measureLag().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /**
   * Replay lag measured against the primary's WAL position over time: the replica is `lag` seconds behind
   * when the oldest primary position it has not replayed yet was seen `lag` seconds ago. Unlike
   * now() - pg_last_xact_replay_timestamp(), this stays 0 on an idle primary and does not read 0 when the
   * replica has simply stopped receiving.
   */
  private async measureLag() {
    const now = Date.now();
    try {
      const [primaryRow] = await this.primary.$queryRawUnsafe<{ lsn: string }[]>(lsnQuery('pg_current_wal_lsn()'));
      const [replicaRow] = await this.replica!.$queryRawUnsafe<{ lsn: string | null }[]>(
        lsnQuery('pg_last_wal_replay_lsn()'),
      );
      const primaryLsn = BigInt(primaryRow!.lsn);
      if (replicaRow?.lsn === null || replicaRow?.lsn === undefined) {
        throw new Error('the replica database is not in recovery (not a standby)');
      }
      const replayed = BigInt(replicaRow.lsn);
      this.samples.push({ at: now, lsn: primaryLsn });
      const horizon = now - (this.options.replicaMaxLagSeconds + 60) * 1000;
      this.samples = this.samples.filter((sample) => sample.at >= horizon);
      const oldestMissing = this.samples.find((sample) => sample.lsn > replayed);
      const lagSeconds = oldestMissing ? (now - oldestMissing.at) / 1000 : 0;
      this.metrics.replicaLag.set(lagSeconds);
      const withinLag = lagSeconds <= this.options.replicaMaxLagSeconds;
      this.setReplicaHealthy(withinLag, withinLag ? 'ok' : `lag ${lagSeconds.toFixed(1)}s`);
    } catch (error) {
      this.setReplicaHealthy(false, (error as Error).message);
    }
  }

  private setReplicaHealthy(healthy: boolean, reason: string) {
    if (healthy !== this.replicaHealthy) {
      this.logger[healthy ? 'info' : 'warn'](healthy ? 'replica reads on' : 'replica reads off', { reason });
    }
    this.replicaHealthy = healthy;
    this.metrics.replicaUp.set(healthy ? 1 : 0);
  }

  async close() {
    if (this.checkTimer) clearInterval(this.checkTimer);
    await this.checking;
    await this.primary.$disconnect();
    await this.replica?.$disconnect();
    await Promise.all(this.pools.map((pool) => pool.end()));
  }
}
