// The data tier's promises, proven on real processes on 127.0.0.1: three etcd members, two Patroni-managed
// PostgreSQL members and the HAProxy db-router, configured from the files the images use (postgres/, via
// scripts/lib/ha-cluster.ts).
//
// All steps share one cluster and run in order (describe.sequential). Bootstrapping costs ~10 s, and the
// later steps are one story told on that cluster: the leader is killed under a writing client, the old leader
// rejoins as a replica of the new one, then etcd loses quorum and gets it back. Each step starts from the state
// the previous one left, so once a step that changes the cluster fails, the ones after it are skipped.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, runMigrations } from '../../api/src/lib/migrations.js';
import { startHaCluster, type ClusterMember, type HaCluster, type PgMember } from '../../scripts/lib/ha-cluster.js';
import { startSequenceWriter } from '../../scripts/lib/sequence-writer.js';

const INSUFFICIENT_PRIVILEGE = '42501';
const READ_ONLY_TRANSACTION = '25006';
const INVALID_PASSWORD = '28P01';
/** Written by the failover step's client: one row per acknowledged commit. */
const WRITES = 'app.failover_writes';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000, query_timeout: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function query<R extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
) {
  return withClient(url, async (client) => (await client.query<R>(sql, params)).rows);
}

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** The timeline a server writes (leader) or receives (replica) on, from PostgreSQL itself. */
async function timelineOf(member: PgMember) {
  const [row] = await query<{ wal: string | null; received: number | null }>(
    member.url('postgres', 'postgres'),
    `SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS wal,
            (SELECT received_tli FROM pg_stat_wal_receiver) AS received`,
  );
  return row!.wal ? parseInt(row!.wal.slice(0, 8), 16) : row!.received;
}

/** What happens to an INSERT sent straight to a member. */
async function writeOutcome(url: string, seq: number) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000, query_timeout: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch {
    return 'unreachable';
  }
  try {
    await client.query(`INSERT INTO ${WRITES} (seq) VALUES ($1)`, [seq]);
    return 'accepted';
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    return code === READ_ONLY_TRANSACTION ? 'read-only' : `failed: ${code ?? ''} ${message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const isLeader = (member: ClusterMember) => member.role === 'leader' || member.role === 'standby_leader';

let cluster: HaCluster;
/** Set by the failover step, used by the rejoin step. */
let failover: { oldLeader: PgMember; newLeader: PgMember; acked: number[] } | undefined;
let brokenBy: string | undefined;

describe.sequential('data tier: Patroni on etcd behind the db-router', () => {
  beforeAll(async () => {
    cluster = await startHaCluster();
    await runMigrations({ databaseUrl: cluster.url('rw', 'migrator') });
    await query(
      cluster.url('rw', 'migrator'),
      `CREATE TABLE ${WRITES} (seq integer PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    );
  });
  afterAll(async () => {
    await cluster?.destroy();
  });
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && cluster) console.error(`data tier logs:\n${await cluster.logs()}`);
  });

  async function currentRoles() {
    const view = await cluster.status();
    const leaders = view.filter(isLeader);
    expect(leaders, JSON.stringify(view)).toHaveLength(1);
    const leader = cluster.member(leaders[0]!.name);
    const replica = cluster.members.find((m) => m !== leader)!;
    return { view, leader, replica };
  }

  describe('after bootstrap', () => {
    it('when bootstrapped, then one member leads and the other streams from it synchronously', async () => {
      const { view, leader, replica } = await currentRoles();

      expect(view.find((m) => m.name === replica.name)).toMatchObject({ state: 'running', lag: expect.any(Number) });
      expect(
        await query(
          leader.url('postgres', 'postgres'),
          'SELECT application_name, state, sync_state, pg_is_in_recovery() AS standby FROM pg_stat_replication',
        ),
      ).toEqual([{ application_name: replica.name, state: 'streaming', sync_state: 'sync', standby: false }]);
      expect(
        await query(
          replica.url('postgres', 'postgres'),
          'SELECT status, pg_is_in_recovery() AS standby FROM pg_stat_wal_receiver',
        ),
      ).toEqual([{ status: 'streaming', standby: true }]);
    });

    it('when bootstrapped, then the swarmlab database and the lab roles exist, with scram passwords and no extra power', async () => {
      const { leader } = await currentRoles();
      const url = leader.url('postgres', 'postgres');

      expect(await query(url, "SELECT datname FROM pg_database WHERE datname = 'swarmlab'")).toHaveLength(1);
      expect(
        await query(
          url,
          `SELECT rolname, rolcanlogin AS login, rolreplication AS replication, rolsuper OR rolcreaterole OR
                  rolcreatedb OR rolbypassrls AS powerful, rolpassword LIKE 'SCRAM-SHA-256$%' AS scram
             FROM pg_authid
            WHERE rolname IN ('migrator', 'app', 'readonly', 'backup', 'monitoring', 'replicator', 'rewinder')
            ORDER BY rolname`,
        ),
      ).toEqual(
        ['app', 'backup', 'migrator', 'monitoring', 'readonly', 'replicator', 'rewinder'].map((rolname) => ({
          rolname,
          login: true,
          replication: rolname === 'replicator',
          powerful: false,
          scram: true,
        })),
      );
      // Every network connection, client or replication, authenticates with scram-sha-256, but the superuser's from
      // the lab's networks, which are refused whatever the password.
      expect(
        await query(
          url,
          "SELECT auth_method, user_name FROM pg_hba_file_rules WHERE type = 'host' AND auth_method <> 'scram-sha-256'",
        ),
      ).toEqual([{ auth_method: 'reject', user_name: ['postgres'] }]);
    });

    it('when the migrations run again as migrator through rw, then nothing is applied twice', async () => {
      const again = await runMigrations({ databaseUrl: cluster.url('rw', 'migrator') });

      expect(again).toEqual([]);
      const names = (await readdir(MIGRATIONS_DIR)).map((file) => file.replace(/\.sql$/, '')).sort();
      expect(
        await query(cluster.url('rw', 'migrator'), 'SELECT name FROM migrations.pgmigrations ORDER BY name'),
      ).toEqual(names.map((name) => ({ name })));
    });

    it('when app connects, then it changes rows of its schema but cannot create or alter tables nor read elsewhere', async () => {
      const { leader } = await currentRoles();
      await query(leader.url('postgres'), 'CREATE TABLE IF NOT EXISTS public.outside (secret text)');
      const app = cluster.url('rw', 'app');

      const dml = await withClient(app, async (client) => {
        const { rows } = await client.query<{ id: number }>(
          "INSERT INTO users (email, name) VALUES ('dml@lab.localhost', 'Dml') RETURNING id",
        );
        const id = rows[0]!.id;
        return [
          (await client.query("UPDATE users SET name = 'Dml 2' WHERE id = $1", [id])).rowCount,
          (await client.query("SELECT FROM users WHERE id = $1 AND name = 'Dml 2'", [id])).rowCount,
          (await client.query('DELETE FROM app.users WHERE id = $1', [id])).rowCount,
        ];
      });
      expect(dml).toEqual([1, 1, 1]);
      for (const sql of [
        'CREATE TABLE intruder (id int)',
        'CREATE TABLE app.intruder (id int)',
        'CREATE TABLE public.intruder (id int)',
        'ALTER TABLE app.users ADD COLUMN intruder int',
        'DROP TABLE app.items',
        'TRUNCATE app.users',
        'SELECT * FROM migrations.pgmigrations',
        'SELECT * FROM public.outside',
      ]) {
        await expect(query(app, sql), sql).rejects.toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
      }
    });

    it('when readonly connects, then it reads the app tables and cannot write, even in a read-write transaction', async () => {
      const readonly = cluster.url('rw', 'readonly');

      await expect(query(readonly, 'SELECT id FROM users')).resolves.toBeInstanceOf(Array);
      await expect(
        query(readonly, "INSERT INTO users (email, name) VALUES ('ro@lab.localhost', 'Ro')"),
      ).rejects.toMatchObject({ code: READ_ONLY_TRANSACTION });
      await expect(
        withClient(readonly, async (client) => {
          await client.query('SET default_transaction_read_only = off');
          await client.query("INSERT INTO users (email, name) VALUES ('ro@lab.localhost', 'Ro')");
        }),
      ).rejects.toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
    });

    it('when monitoring connects, then it reads the replication state (pg_monitor) but no application data', async () => {
      const { replica } = await currentRoles();
      const monitoring = cluster.url('rw', 'monitoring', 'postgres');

      expect(
        await query(
          monitoring,
          `SELECT application_name, host(client_addr) AS client_addr, state, sync_state, replay_lsn IS NOT NULL AS replaying
             FROM pg_stat_replication`,
        ),
      ).toEqual([
        {
          application_name: replica.name,
          client_addr: '127.0.0.1',
          state: 'streaming',
          sync_state: 'sync',
          replaying: true,
        },
      ]);
      // It may connect to the application database (per-database statistics), not read its tables.
      await expect(query(cluster.url('rw', 'monitoring'), 'SELECT * FROM app.users')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
        message: 'permission denied for schema app',
      });
    });

    it('when backup connects, then it reads every table and writes nothing', async () => {
      const backup = cluster.url('rw', 'backup');

      await expect(query(backup, 'SELECT id FROM app.users')).resolves.toBeInstanceOf(Array);
      const migrations = (await readdir(MIGRATIONS_DIR)).length;
      expect(await query(backup, 'SELECT count(*)::int AS n FROM migrations.pgmigrations')).toEqual([
        { n: migrations },
      ]);
      await expect(query(backup, 'DELETE FROM app.users')).rejects.toMatchObject({ code: READ_ONLY_TRANSACTION });
      await expect(
        withClient(backup, async (client) => {
          await client.query('SET default_transaction_read_only = off');
          await client.query('DELETE FROM app.users');
        }),
      ).rejects.toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
    });

    it('when a client gives a wrong password through the router, then scram authentication refuses it', async () => {
      for (const role of ['app', 'postgres'] as const) {
        const url = new URL(cluster.url('rw', role));
        url.password = 'wrong-password';
        await expect(query(url.toString(), 'SELECT 1'), role).rejects.toMatchObject({ code: INVALID_PASSWORD });
      }
    });

    it('when a row is written through rw, then the leader commits it and the replica serves it through ro', async () => {
      const { leader, replica } = await currentRoles();

      const [written] = await query<{ id: number; port: number; standby: boolean }>(
        cluster.url('rw', 'app'),
        `INSERT INTO users (email, name) VALUES ('routed@lab.localhost', 'Routed')
         RETURNING id, inet_server_port() AS port, pg_is_in_recovery() AS standby`,
      );
      expect(written).toMatchObject({ port: leader.pgPort, standby: false });
      // Synchronous commit means the replica has the WAL; replaying it may take a moment longer.
      const read = await waitUntil('the replica to replay the row', 5_000, async () => {
        const [row] = await query<{ port: number; standby: boolean; found: boolean }>(
          cluster.url('ro', 'readonly'),
          `SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby,
                  EXISTS (SELECT FROM users WHERE id = $1) AS found`,
          [written!.id],
        );
        return row!.found ? row : undefined;
      });
      expect(read).toEqual({ port: replica.pgPort, standby: true, found: true });
    });
  });

  describe('when members and etcd fail', () => {
    beforeEach((context) => {
      if (brokenBy) context.skip(`"${brokenBy}" failed and left the cluster in an unknown state`);
    });
    afterEach(({ task }) => {
      if (task.result?.state === 'fail') brokenBy ??= task.name;
    });

    it('when the leader is killed (-9) under a writing client, then a new leader takes writes on the same port and no acknowledged write is lost', async () => {
      const { leader, replica } = await currentRoles();
      const writer = startSequenceWriter(cluster.url('rw', 'app'), WRITES, { retryDelayMs: 100 });
      let crashedAt: number;
      try {
        await writer.waitForAcks(20, { timeoutMs: 10_000 });
        crashedAt = Date.now();
        await leader.crash();
        // Bounded: without a new leader within 60 s this fails with the client's errors and the logs.
        await writer.waitForAcks(20, { since: Date.now(), timeoutMs: 60_000 });
      } finally {
        await writer.stop();
      }

      const acked = writer.acks.map((ack) => ack.seq);
      const gap = writer.longestGap();
      const { leader: newLeader } = await currentRoles();
      expect(newLeader).toBe(replica);
      const [stored] = await query<{ port: number; seqs: number[] }>(
        cluster.url('rw', 'app'),
        `SELECT inet_server_port() AS port, coalesce(array_agg(seq ORDER BY seq), '{}') AS seqs FROM ${WRITES}`,
      );
      const present = new Set(stored!.seqs);
      const ackedSet = new Set(acked);
      const unacked = writer.attempts - acked.length;
      console.log(
        `failover: writes unavailable for ${gap.ms} ms (ack #${gap.lastBefore?.seq} → #${gap.firstAfter?.seq}); ` +
          `kill -9 → first write on the new leader ${gap.firstAfter!.at - crashedAt!} ms; ${acked.length} of ` +
          `${writer.attempts} INSERTs acknowledged, ${stored!.seqs.filter((seq) => !ackedSet.has(seq)).length} of the ${unacked} ` +
          `unacknowledged ones committed anyway`,
      );

      expect(stored!.port).toBe(newLeader.pgPort);
      expect(acked.filter((seq) => !present.has(seq))).toEqual([]);
      expect(gap.firstAfter!.at).toBeGreaterThan(crashedAt!);
      failover = { oldLeader: leader, newLeader, acked };
    }, 90_000);

    it('when the old leader starts again, then it rejoins as a replica on the new timeline and never leads', async () => {
      const { oldLeader, newLeader, acked } = failover!;
      const startedAt = Date.now();
      oldLeader.start();

      // Poll Patroni's view, each member's /primary and the old leader's PostgreSQL while it rejoins.
      const violations: string[] = [];
      let polls = 0;
      let joined: ClusterMember | undefined;
      while (!joined) {
        if (Date.now() - startedAt > 60_000) {
          throw new Error(`${oldLeader.name} did not rejoin within 60 s: ${JSON.stringify(await cluster.status())}`);
        }
        polls++;
        const view = await cluster.status();
        const leaders = view.filter(isLeader).map((m) => m.name);
        if (leaders.length > 1 || (leaders.length === 1 && leaders[0] !== newLeader.name)) {
          violations.push(`/cluster leaders: ${leaders.join(', ')}`);
        }
        const primaries = await Promise.all(
          cluster.members.map(async (m) => {
            const response = await fetch(`${m.apiUrl}/primary`, { signal: AbortSignal.timeout(1_000) }).catch(
              () => undefined,
            );
            return response?.ok ? m.name : undefined;
          }),
        );
        if (primaries.some((name) => name !== undefined && name !== newLeader.name)) {
          violations.push(`/primary answered 200 on: ${primaries.filter(Boolean).join(', ')}`);
        }
        const standby = await query<{ standby: boolean }>(
          oldLeader.url('postgres', 'postgres'),
          'SELECT pg_is_in_recovery() AS standby',
        ).then(
          ([row]) => row!.standby,
          () => undefined, // not accepting connections yet
        );
        if (standby === false) violations.push(`${oldLeader.name} accepted a connection out of recovery`);
        const leaderView = view.find((m) => m.name === newLeader.name);
        const oldView = view.find((m) => m.name === oldLeader.name);
        if (
          oldView &&
          !isLeader(oldView) &&
          oldView.state === 'running' &&
          typeof oldView.lag === 'number' &&
          oldView.timeline === leaderView?.timeline
        ) {
          joined = oldView;
        } else {
          await sleep(250);
        }
      }
      const rejoinMs = Date.now() - startedAt;

      expect(violations).toEqual([]);
      const healthyLeader = await cluster.waitForHealthy({ replicas: 1, timeoutMs: 30_000 });
      expect(healthyLeader).toBe(newLeader);
      const leaderTimeline = await timelineOf(newLeader);
      expect(joined.timeline).toBe(leaderTimeline);
      expect(await timelineOf(oldLeader)).toBe(leaderTimeline);
      expect(
        await query(
          newLeader.url('postgres', 'postgres'),
          'SELECT application_name, state, sync_state FROM pg_stat_replication',
        ),
      ).toEqual([{ application_name: oldLeader.name, state: 'streaming', sync_state: 'sync' }]);
      // The rejoined member holds every acknowledged row, once it has replayed what the leader wrote.
      const [current] = await query<{ lsn: string }>(
        newLeader.url('postgres', 'postgres'),
        'SELECT pg_current_wal_lsn()::text AS lsn',
      );
      const seqs = await waitUntil('the rejoined member to replay the leader', 10_000, async () => {
        const [row] = await query<{ done: boolean; seqs: number[] }>(
          oldLeader.url('postgres'),
          `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done, array_agg(seq) AS seqs FROM ${WRITES}`,
          [current!.lsn],
        );
        return row!.done ? new Set(row!.seqs) : undefined;
      });
      expect(acked.filter((seq) => !seqs.has(seq))).toEqual([]);

      const patroniLog = await readFile(path.join(path.dirname(oldLeader.dataDir), 'patroni.log'), 'utf8');
      const rewound = /running pg_rewind from/i.test(patroniLog);
      console.log(
        `rejoin: ${oldLeader.name} streaming from ${newLeader.name} on timeline ${leaderTimeline} after ` +
          `${rejoinMs} ms (${rewound ? 'rewound with pg_rewind' : 'no rewind needed'}; ${polls} polls, one leader in each)`,
      );
    }, 90_000);

    it('when etcd loses quorum, then no member accepts writes within ttl + loop_wait, and a leader takes writes once etcd is back', async () => {
      const lostAt = Date.now();
      await Promise.all([cluster.etcd[1]!, cluster.etcd[2]!].map((member) => member.process.stop('SIGKILL')));

      // Without quorum the leader cannot renew its key and demotes itself (Patroni stops its PostgreSQL):
      // after about ttl + loop_wait (10 + 2 s). Measured and printed; the bound leaves room for a busy machine.
      await waitUntil('every member to stop being writable', 25_000, async () => {
        const standing = await Promise.all(
          cluster.members.map((member) =>
            query<{ standby: boolean }>(
              member.url('postgres', 'postgres'),
              'SELECT pg_is_in_recovery() AS standby',
            ).then(
              ([row]) => row!.standby,
              () => true,
            ),
          ),
        );
        return standing.every(Boolean) ? true : undefined;
      });
      const demotedMs = Date.now() - lostAt;
      const outcomes = await Promise.all(cluster.members.map((member, i) => writeOutcome(member.url('app'), -1 - i)));
      const throughRouter = await writeOutcome(cluster.url('rw', 'app'), -10);

      const restoredAt = Date.now();
      cluster.etcd[1]!.process.start();
      cluster.etcd[2]!.process.start();
      const leader = await cluster.waitForHealthy({ replicas: 1, timeoutMs: 60_000 });
      const [written] = await query<{ port: number }>(
        cluster.url('rw', 'app'),
        `INSERT INTO ${WRITES} (seq) VALUES (-100) RETURNING inet_server_port() AS port`,
      );
      console.log(
        `etcd quorum lost: no writable member after ${demotedMs} ms (${cluster.members
          .map((m, i) => `${m.name} ${outcomes[i]}`)
          .join(', ')}; rw ${throughRouter}); healthy again ${Date.now() - restoredAt} ms after etcd restarted`,
      );

      for (const outcome of outcomes) expect(outcome).toMatch(/^(read-only|unreachable)$/);
      expect(throughRouter).not.toBe('accepted');
      expect(written!.port).toBe(leader.pgPort);
    }, 120_000);
  });

  describe('when a role password is rotated', () => {
    it("when both members restart with a new app password (a deploy of the rotated secret), then the leader makes it the role's: the new one logs in, the old one is refused, no row is lost", async () => {
      const old = cluster.passwords.app;
      const rotated = randomBytes(24).toString('base64url');
      const [before] = await query<{ rows: string }>(
        cluster.url('rw', 'app'),
        `SELECT count(*) AS rows FROM ${WRITES}`,
      );
      const { leader, replica } = await currentRoles();
      // As Swarm restarts them with the new secret: the replica, then the leader (Patroni stops each cleanly).
      await replica.patroni.stop();
      await leader.patroni.stop();
      for (const member of [leader, replica]) member.start({ APP_PASSWORD: rotated });
      await cluster.waitForHealthy({ replicas: 1, timeoutMs: 90_000 });

      cluster.passwords.app = rotated;
      // Patroni runs the callback in the background once the leader is up.
      await waitUntil('the rotated app password to log in through rw', 30_000, () =>
        query(cluster.url('rw', 'app'), 'SELECT 1').then(
          () => true,
          () => undefined,
        ),
      );
      const [after] = await query<{ rows: string }>(cluster.url('ro', 'app'), `SELECT count(*) AS rows FROM ${WRITES}`);
      const oldUrl = cluster.url('rw', 'app').replace(encodeURIComponent(rotated), encodeURIComponent(old));
      await expect(query(oldUrl, 'SELECT 1')).rejects.toMatchObject({ code: INVALID_PASSWORD });
      expect(after!.rows).toBe(before!.rows);
    }, 150_000);
  });
});
