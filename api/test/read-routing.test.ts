import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../src/lib/db.js';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { requestContext } from '../src/lib/request-context.js';
import { Writable } from 'node:stream';
import { startReplicatedCluster, type ReplicatedCluster } from './helpers/replicated-cluster.js';

let cluster: ReplicatedCluster;
beforeAll(async () => {
  cluster = await startReplicatedCluster();
});
afterAll(() => cluster?.destroy());

const quiet = new Writable({ write: (_chunk, _encoding, callback) => callback() });

async function openDatabase(options: { replicaMaxLagSeconds?: number } = {}) {
  const metrics = createMetrics({ version: 'test', gitSha: 'test' });
  const db = new Database(
    {
      url: cluster.appUrl(cluster.primary),
      replicaUrl: cluster.appUrl(cluster.replica),
      replicaMaxLagSeconds: options.replicaMaxLagSeconds ?? 1,
      replicaCheckIntervalMs: 100,
      poolMax: 4,
      waitMs: 0,
    },
    metrics,
    createLogger({ level: 'error', service: 'test', stream: quiet }),
  );
  await db.start();
  return { db, metrics };
}

/** Which server answered: true for the replica (in recovery). */
const servedByReplica = (db: Database) =>
  db.read(async (client) => {
    const [row] = await client.$queryRaw<{ standby: boolean }[]>`SELECT pg_is_in_recovery() AS standby`;
    return row!.standby;
  });

const waitFor = async (condition: () => Promise<boolean>, what: string) => {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
};

async function counter(metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string>) {
  const metric = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  const match = metric.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return match?.value ?? 0;
}

describe('read routing', () => {
  it('when a replica is configured and healthy, then safe reads are served by it and writes by the primary', async () => {
    const { db, metrics } = await openDatabase();
    try {
      expect(await servedByReplica(db)).toBe(true);
      const [row] = await db.primary.$queryRaw<{ standby: boolean }[]>`SELECT pg_is_in_recovery() AS standby`;
      expect(row!.standby).toBe(false);
      expect(await counter(metrics, 'db_reads_total', { target: 'replica' })).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('when the request has written, then its reads go to the primary, and so do that user`s next reads', async () => {
    const { db, metrics } = await openDatabase({ replicaMaxLagSeconds: 30 });
    try {
      await requestContext.run({ requestId: 'a', userId: 7, hasWritten: false }, async () => {
        expect(await servedByReplica(db)).toBe(true);
        db.markWritten();
        expect(await servedByReplica(db)).toBe(false);
      });
      await requestContext.run({ requestId: 'b', userId: 7, hasWritten: false }, async () => {
        expect(await servedByReplica(db)).toBe(false);
      });
      await requestContext.run({ requestId: 'c', userId: 8, hasWritten: false }, async () => {
        expect(await servedByReplica(db)).toBe(true);
      });
      expect(await counter(metrics, 'db_read_fallbacks_total', { reason: 'read_your_writes' })).toBe(2);
    } finally {
      await db.close();
    }
  });

  it('when the replica lags more than allowed, then reads fall back to the primary until it catches up', async () => {
    const { db, metrics } = await openDatabase({ replicaMaxLagSeconds: 1 });
    try {
      expect(await servedByReplica(db)).toBe(true);
      await cluster.sql(cluster.replica, 'SELECT pg_wal_replay_pause()');
      await cluster.sql(cluster.primary, "INSERT INTO app.users (email, name) VALUES ('lag@example.com', 'Lag')");
      await waitFor(async () => !(await servedByReplica(db)), 'the fallback to the primary');
      expect(await counter(metrics, 'db_read_fallbacks_total', { reason: 'replica_unavailable' })).toBeGreaterThan(0);
      expect(await counter(metrics, 'db_replica_lag_seconds', {})).toBeGreaterThan(1);

      await cluster.sql(cluster.replica, 'SELECT pg_wal_replay_resume()');
      await cluster.caughtUp();
      await waitFor(() => servedByReplica(db), 'reads back on the replica');
    } finally {
      await cluster.sql(cluster.replica, 'SELECT pg_wal_replay_resume()').catch(() => undefined);
      await db.close();
    }
  });

  it('when the replica stops, then reads are answered by the primary at once, and go back when it returns', async () => {
    const { db, metrics } = await openDatabase();
    try {
      expect(await servedByReplica(db)).toBe(true);
      await cluster.replica.stop();
      // The very next read, before any health check notices, still gets an answer.
      expect(await servedByReplica(db)).toBe(false);
      expect(
        (await counter(metrics, 'db_read_fallbacks_total', { reason: 'replica_down' })) +
          (await counter(metrics, 'db_read_fallbacks_total', { reason: 'replica_unavailable' })),
      ).toBeGreaterThan(0);
      expect(await counter(metrics, 'db_replica_up', {})).toBe(0);

      await cluster.replica.start();
      await waitFor(() => servedByReplica(db), 'reads back on the replica');
    } finally {
      await db.close();
    }
  });
});
