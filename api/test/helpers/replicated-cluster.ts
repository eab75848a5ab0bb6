// A primary with a streaming replica (pg_basebackup -R), the lab's roles and a migrated `swarmlab` database.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startCluster, type PgCluster } from '../../../scripts/lib/pg-cluster.js';
import { runMigrations } from '../../src/lib/migrations.js';
import { ROLES_SQL } from './cluster.js';
import { queryOnce } from '../../../scripts/lib/sql.js';

export interface ReplicatedCluster {
  primary: PgCluster;
  replica: PgCluster;
  appUrl: (cluster: PgCluster) => string;
  /** Runs SQL as the superuser. */
  sql: (cluster: PgCluster, statement: string) => Promise<pg.QueryResult>;
  /** Waits until the replica has replayed everything the primary has written so far. */
  caughtUp: () => Promise<void>;
  destroy: () => Promise<void>;
}

export async function startReplicatedCluster(): Promise<ReplicatedCluster> {
  const primary = await startCluster();
  const passwords = {
    migrator_password: randomBytes(12).toString('hex'),
    app_password: randomBytes(12).toString('hex'),
    readonly_password: randomBytes(12).toString('hex'),
  };
  const sql = (cluster: PgCluster, statement: string) => queryOnce(cluster.url('swarmlab'), statement);
  let replica: PgCluster | undefined;
  try {
    const admin = new pg.Client(primary.url('postgres'));
    await admin.connect();
    await admin.query('CREATE DATABASE swarmlab');
    await admin.end();
    await primary.psqlFile('swarmlab', ROLES_SQL, passwords);
    await runMigrations({ databaseUrl: primary.url('swarmlab', 'migrator', passwords.migrator_password) });
    replica = await startCluster({ replicaOf: primary });
  } catch (error) {
    await primary.destroy();
    throw error;
  }
  const r = replica;
  return {
    primary,
    replica: r,
    appUrl: (cluster) => cluster.url('swarmlab', 'app', passwords.app_password),
    sql,
    async caughtUp() {
      const [current] = (await sql(primary, 'SELECT pg_current_wal_lsn()::text AS lsn')).rows;
      for (let i = 0; i < 100; i++) {
        const done = await sql(r, `SELECT pg_last_wal_replay_lsn() >= '${String(current?.lsn)}'::pg_lsn AS ok`);
        if (done.rows[0]?.ok) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error('the replica did not catch up within 5 s');
    },
    async destroy() {
      await r.destroy();
      await primary.destroy();
    },
  };
}
