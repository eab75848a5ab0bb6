// Backups with pgBackRest as the lab makes them (backup/pgbackrest.conf), on real processes on 127.0.0.1: a
// throwaway PostgreSQL 15 archiving its WAL into a throwaway, encrypted repository; restores into scratch instances.
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { $ } from 'zx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  STANZA,
  startBackupCluster,
  withDamagedBackup,
  type BackupCluster,
  type BackupInfo,
} from '../lib/backup-cluster.js';
import { findPgBinDir } from '../lib/pg-cluster.js';

const DB = 'shop';

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

async function rowCounts(url: string): Promise<Record<string, number>> {
  const client = await connect(url);
  try {
    const { rows } = await client.query<{ name: string }>(
      "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    const counts: Record<string, number> = {};
    for (const { name } of rows) {
      const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`);
      counts[name] = Number(result.rows[0]?.n);
    }
    return counts;
  } finally {
    await client.end();
  }
}

const labels = (backups: BackupInfo[]) => backups.map((backup) => backup.label);

describe('pgBackRest backups of a cluster with data', () => {
  let lab: BackupCluster;
  let db: pg.Client;

  beforeAll(async () => {
    lab = await startBackupCluster();
    const admin = await connect(lab.pg.url('postgres'));
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.end();
    db = await connect(lab.pg.url(DB));
    await db.query(`
      CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
      INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 2000) AS i;
      CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric);
      INSERT INTO orders SELECT i, 1 + i % 2000, i * 1.5 FROM generate_series(1, 20000) AS i;`);
  });

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    await lab?.destroy();
  });

  it('when a full then a differential backup are taken, then both are listed, the diff on the full, and verify passes', async () => {
    await lab.backup('full');
    await db.query("INSERT INTO customers VALUES (100001, 'after the full')");
    await lab.backup('diff');

    const backups = await lab.info();
    const diff = backups.at(-1);
    const full = backups.at(-2);
    expect(full?.type).toBe('full');
    expect(diff?.type).toBe('diff');
    expect(diff?.prior).toBe(full?.label);

    const verify = await lab.verify();
    expect(verify.ok, verify.report).toBe(true);
  }, 60_000);

  it('when a byte of a backup file is flipped, then verify reports the repository as invalid', async () => {
    await lab.backup('full');
    const verify = await withDamagedBackup(lab, () => lab.verify());
    expect(verify.ok).toBe(false);
    expect(verify.report).toMatch(/checksum invalid: 1/);
    // The bytes are back: the repository is whole again for the other tests.
    const repaired = await lab.verify();
    expect(repaired.ok, repaired.report).toBe(true);
  }, 60_000);

  it('when a table is dropped, then a restore to the moment before has every row committed before it and none after', async () => {
    await db.query('CREATE TABLE payments (id serial PRIMARY KEY, batch int NOT NULL, amount numeric NOT NULL)');
    await lab.backup('diff');
    const now = async () =>
      (
        await db.query<{ t: string }>(
          "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t",
        )
      ).rows[0]?.t ?? '';

    // Five batches 1.2 s apart; the time is read in a new transaction, after each batch's commit.
    const committedAt: string[] = [];
    for (let batch = 1; batch <= 5; batch++) {
      await db.query('INSERT INTO payments (batch, amount) SELECT $1, g FROM generate_series(1, 100) AS g', [batch]);
      committedAt.push(await now());
      await sleep(1_200);
    }
    const target = await now();
    await sleep(1_200);
    // Committed after the target: must not be restored. Then the mistake.
    await db.query('INSERT INTO payments (batch, amount) VALUES (6, 1), (6, 2)');
    await sleep(600);
    await db.query('DROP TABLE payments');
    await lab.flushWal();

    const restored = await lab.restore({ time: target });
    console.log(`point-in-time restore to ${target}: ${(restored.restoreMs / 1000).toFixed(1)} s (restore + recovery)`);
    try {
      const client = await connect(restored.url(DB));
      try {
        const { rows } = await client.query<{ batch: number; n: string }>(
          'SELECT batch, count(*) AS n FROM payments GROUP BY batch ORDER BY batch',
        );
        expect(committedAt.every((time) => time < target)).toBe(true);
        expect(rows.map((row) => [row.batch, Number(row.n)])).toEqual([
          [1, 100],
          [2, 100],
          [3, 100],
          [4, 100],
          [5, 100],
        ]);
        // The rest of the database came back too, as it was at the target.
        const customers = await client.query<{ n: string }>('SELECT count(*) AS n FROM customers');
        expect(Number(customers.rows[0]?.n)).toBe(
          Number((await db.query('SELECT count(*) AS n FROM customers')).rows[0]?.n),
        );
      } finally {
        await client.end();
      }
    } finally {
      await restored.destroy();
    }
  }, 60_000);

  it('when the repository is not writable, then the backup exits non-zero and the earlier backups stay listed and valid', async () => {
    await lab.backup('diff');
    const before = labels(await lab.info());
    const stanzaDir = path.join(lab.repoPath, 'backup', STANZA);
    const mode = (await stat(stanzaDir)).mode & 0o777;

    await chmod(stanzaDir, 0o555);
    let failed;
    try {
      failed = await lab.pgbackrest(['backup', '--type=diff']);
    } finally {
      await chmod(stanzaDir, mode);
    }

    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderr).toMatch(/ERROR/);
    expect(labels(await lab.info())).toEqual(before);
    const verify = await lab.verify();
    expect(verify.ok, verify.report).toBe(true);
  }, 60_000);

  it('when the source is dumped with pg_dump -Fc, then pg_restore fills an empty database with identical row counts', async () => {
    const bin = findPgBinDir();
    const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-dump-'));
    const dump = path.join(dir, `${DB}.dump`);
    const env = { ...process.env, PGPASSWORD: lab.pg.password };
    const conn = ['-h', '127.0.0.1', '-p', String(lab.pg.port), '-U', 'postgres'];
    try {
      await $({ quiet: true, env })`${bin}/pg_dump ${conn} -Fc -d ${DB} -f ${dump}`;
      await $({ quiet: true, env })`${bin}/createdb ${conn} ${DB}_copy`;
      await $({ quiet: true, env })`${bin}/pg_restore ${conn} --no-owner --exit-on-error -d ${DB}_copy ${dump}`;

      const source = await rowCounts(lab.pg.url(DB));
      expect(Object.keys(source)).toEqual(expect.arrayContaining(['public.customers', 'public.orders']));
      expect(await rowCounts(lab.pg.url(`${DB}_copy`))).toEqual(source);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('pgBackRest retention (repo1-retention-full=2)', () => {
  let lab: BackupCluster;

  beforeAll(async () => {
    lab = await startBackupCluster();
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('when expire runs, then it never removes the only full backup, and after 3 full backups it keeps the last 2', async () => {
    await lab.backup('full');
    const [only] = labels(await lab.info());
    const expire = await lab.pgbackrest(['expire', '--repo1-retention-full=1']);
    expect(expire.exitCode, expire.stderr).toBe(0);
    expect(labels(await lab.info())).toEqual([only]);

    // A backup expires by itself when it ends; a larger retention on the command line keeps all three for expire.
    for (let i = 0; i < 2; i++) {
      const backup = await lab.pgbackrest(['backup', '--type=full', '--repo1-retention-full=9']);
      expect(backup.exitCode, backup.stderr).toBe(0);
    }
    const three = labels(await lab.info());
    expect(three).toHaveLength(3);

    const expired = await lab.pgbackrest(['expire']);
    expect(expired.exitCode, expired.stderr).toBe(0);
    const kept = await lab.info();
    expect(labels(kept)).toEqual(three.slice(1));
    expect(kept.every((backup) => backup.type === 'full')).toBe(true);
  }, 60_000);
});

describe('WAL archive keeps up: after archive_timeout, the last committed row is recoverable (RPO <= 60 s shown)', () => {
  // The lab runs archive_timeout=60; 5 s here shows the same mechanism without a slow test.
  const ARCHIVE_TIMEOUT_S = 5;
  // Generous: a segment switch, then one synchronous archive-push (zst + encryption), on a busy shared machine.
  const MARGIN_S = 20;
  let lab: BackupCluster;
  let db: pg.Client;

  interface ArchiverState {
    wal: string | null;
    at: Date | null;
  }
  const archiverState = async () =>
    (await db.query<ArchiverState>('SELECT last_archived_wal AS wal, last_archived_time AS at FROM pg_stat_archiver'))
      .rows[0];
  /** Whether `segment` or a later one is archived (last_archived_wal may be a `.backup` or `.partial` file). */
  const hasArchived = (state: ArchiverState | undefined, segment: string) =>
    (state?.wal?.slice(0, 24) ?? '') >= segment;

  beforeAll(async () => {
    lab = await startBackupCluster({ archiveTimeout: ARCHIVE_TIMEOUT_S });
    db = await connect(lab.pg.url('postgres'));
    // Commits wait for their WAL to be flushed, as in the lab (the throwaway cluster turns this off for speed).
    await db.query('SET synchronous_commit = on');
    await db.query(`
      CREATE TABLE ledger (
        id int PRIMARY KEY,
        note text NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await lab.backup('full');
  });

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    await lab?.destroy();
  });

  it('when nothing is written after a commit, then its WAL segment is archived within archive_timeout + margin and a restore to the latest has that row', async () => {
    await db.query("INSERT INTO ledger (id, note) SELECT i, 'row ' || i FROM generate_series(1, 100) AS i");
    const last = await db.query<{ committed_at: Date }>(
      "INSERT INTO ledger (id, note) VALUES (101, 'the last commit') RETURNING committed_at",
    );
    const committedAt = last.rows[0]?.committed_at.getTime() ?? Number.NaN;
    // From here on only reads: no WAL is written, so only archive_timeout can close the segment holding the commit
    // (pg_walfile_name names the segment of the byte before the position: the end of the commit record).
    const { rows } = await db.query<ArchiverState & { segment: string }>(
      `SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS segment,
              last_archived_wal AS wal, last_archived_time AS at
       FROM pg_stat_archiver`,
    );
    const segment = rows[0]?.segment ?? '';
    expect(segment).toMatch(/^[0-9A-F]{24}$/);
    expect(hasArchived(rows[0], segment), 'the segment holding the commit was archived at once').toBe(false);

    const deadline = committedAt + (ARCHIVE_TIMEOUT_S + MARGIN_S) * 1_000;
    let state = await archiverState();
    while (!hasArchived(state, segment) && Date.now() < deadline) {
      await sleep(100);
      state = await archiverState();
    }
    expect(hasArchived(state, segment), `pg_stat_archiver: ${JSON.stringify(state)}`).toBe(true);
    const delayS = ((state?.at?.getTime() ?? Number.NaN) - committedAt) / 1_000;
    console.log(
      `WAL archive delay: ${delayS.toFixed(1)} s from the last commit to its segment ${segment} in the repository ` +
        `(archive_timeout=${ARCHIVE_TIMEOUT_S} s; the lab's 60 s bounds its RPO the same way)`,
    );
    expect(delayS).toBeLessThan(ARCHIVE_TIMEOUT_S + MARGIN_S);
    // pgBackRest's own view: the segment is in the repository.
    const range = await lab.walRange();
    expect((range?.max ?? '') >= segment, `repository WAL: ${JSON.stringify(range)}`).toBe(true);

    const restored = await lab.restore();
    console.log(`restore of the latest: ${(restored.restoreMs / 1000).toFixed(1)} s (restore + recovery)`);
    try {
      const client = await connect(restored.url('postgres'));
      try {
        const result = await client.query<{ n: string; last: string | null }>(
          'SELECT count(*) AS n, (SELECT note FROM ledger WHERE id = 101) AS last FROM ledger',
        );
        expect(result.rows[0]).toEqual({ n: '101', last: 'the last commit' });
      } finally {
        await client.end();
      }
    } finally {
      await restored.destroy();
    }
  }, 60_000);
});
