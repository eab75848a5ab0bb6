// `npm run bench:restore`: how long a full backup takes and how big it is, and how long a restore takes (RTO), of
// the latest state and to a point in time, on a throwaway cluster with a configurable amount of data, backed up with
// the lab's pgBackRest configuration. A benchmark, not a test: figures never fail it.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { kill, ps, $ } from 'zx';
import { startBackupCluster, type BackupCluster, type RestoredCluster } from './lib/backup-cluster.js';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { step, summary } from './lib/log.js';
import { formatBytes, formatSeconds, formatTable } from './lib/patroni.js';
import { findPgBinDir } from './lib/pg-cluster.js';
import { queryOnce } from './lib/sql.js';

const DEFAULT_ROWS = 1_200_000; // about 200 MB with the pgbench tables and the indexes
const HELP = `
Usage: npm run bench:restore [-- --rows <n>] [--write-seconds <s>] [--timeout <min>]

Starts a throwaway PostgreSQL 15 on 127.0.0.1 archiving its WAL into a throwaway, encrypted pgBackRest
repository configured from backup/pgbackrest.conf (as the backup tests), and fills database "bench": --rows
rows in bench_items (about 150 bytes each with the index) and pgbench's tables (scale 1). Then it measures:

  1. a full backup: its duration, the cluster's size and the backup's size in the repository;
  2. writes after the backup: pgbench (2 clients) for --write-seconds, a recovery target in the middle;
  3. RTO of the latest: pgbackrest restore into a scratch data directory, start, replay of every archived WAL
     segment, promotion (accepting writes), then the row counts checked against the source;
  4. point-in-time restore to the target: the same, checking that exactly the rows committed by then are back.

Prints a table and a summary. Scratch instances run with fsync=off (as the tests): the figures are a lower bound
for disks that sync. Exits 0 whatever the figures; 1 if something broke, a restore came back with other row
counts, or it ran longer than --timeout. Stops and deletes everything it started, also on Ctrl-C. About 40 s
with the default --rows on 2 cores, 70 s with 6,000,000.

Options:
  --rows <n>            rows in bench_items (default ${DEFAULT_ROWS.toLocaleString('en')}, ~200 MB in all; 7,000,000 for ~1 GiB)
  --write-seconds <s>   pgbench time after the backup, split around the target (default 20)
  --timeout <min>       stop, clean up and exit 1 after this long (default 30)
  -h, --help            show this help
`;

const DB = 'bench';

interface Expected {
  items: number;
  history: number;
}

interface RestoreFigures {
  what: string;
  restored: RestoredCluster;
  walBytes: number;
  checkMs: number;
  counts: Expected;
  consistent: boolean;
  matches: boolean;
}

/** The one row that `statement` returns, on a connection of its own. */
async function queryRow<R extends pg.QueryResultRow>(url: string, statement: string, params: unknown[] = []) {
  const { rows } = await queryOnce<R>(url, statement, params);
  if (!rows[0]) throw new Error(`no row from: ${statement}`);
  return rows[0];
}

/** What a restore must show: the row counts, and pgbench's invariant (balances = sum of the history's deltas). */
async function counts(url: string): Promise<Expected & { consistent: boolean }> {
  const row = await queryRow<{ items: string; history: string; consistent: boolean }>(
    url,
    `SELECT (SELECT count(*) FROM bench_items) AS items,
            (SELECT count(*) FROM pgbench_history) AS history,
            (SELECT sum(abalance) FROM pgbench_accounts)
              = (SELECT coalesce(sum(delta), 0) FROM pgbench_history) AS consistent`,
  );
  return { items: Number(row.items), history: Number(row.history), consistent: row.consistent };
}

async function currentLsn(url: string): Promise<string> {
  return (await queryRow<{ lsn: string }>(url, 'SELECT pg_current_wal_lsn()::text AS lsn')).lsn;
}

async function walBetween(url: string, from: string, to: string): Promise<number> {
  const row = await queryRow<{ bytes: string }>(url, 'SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS bytes', [
    to,
    from,
  ]);
  return Math.max(0, Number(row.bytes));
}

async function pgbench(lab: BackupCluster, args: string[]) {
  const env = { ...process.env, PGPASSWORD: lab.pg.password };
  const conn = ['-h', '127.0.0.1', '-p', String(lab.pg.port), '-U', 'postgres'];
  return $({ quiet: true, env })`${findPgBinDir()}/pgbench ${conn} ${args} ${DB}`;
}

async function restoreAndCheck(
  lab: BackupCluster,
  what: string,
  target: { time?: string; expected: Expected; walBytes: number },
): Promise<RestoreFigures> {
  const restored = await step(`${what}: restore into a scratch instance, replay, promote`, () =>
    lab.restore(target.time ? { time: target.time } : {}),
  );
  const started = performance.now();
  const found = await step(`${what}: count the rows`, () => counts(restored.url(DB)));
  const checkMs = performance.now() - started;
  const matches = found.items === target.expected.items && found.history === target.expected.history;
  return { what, restored, walBytes: target.walBytes, checkMs, counts: found, consistent: found.consistent, matches };
}

/** Stops this process's own children (pgbackrest, pgbench in flight) with their process trees, by pid. */
async function stopChildren(): Promise<void> {
  const children = await ps.tree({ pid: process.pid, recursive: false }).catch(() => []);
  await Promise.all(children.map((child) => kill(Number(child.pid)).catch(() => undefined)));
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    { rows: { type: 'string' }, 'write-seconds': { type: 'string' }, timeout: { type: 'string' } },
    HELP,
  );
  const rows = intFlag('rows', flags.rows ?? String(DEFAULT_ROWS), 1_000, 200_000_000);
  const writeSeconds = intFlag('write-seconds', flags['write-seconds'] ?? '20', 2, 3_600);
  const timeoutMinutes = intFlag('timeout', flags.timeout ?? '30', 1, 24 * 60);
  const started = performance.now();

  // Bounded in time and interruptible: whatever is running is stopped, then everything is deleted.
  let starting: Promise<BackupCluster> | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= step('stop every instance, delete the cluster, the repository and the restores', async () => {
      const lab = await starting?.catch(() => undefined);
      await lab?.destroy();
    }));
  const abandon = (why: string, code: number) => {
    console.error(`\n${why}`);
    void stopChildren()
      .then(cleanUp)
      .finally(() => process.exit(code));
  };
  const watchdog = setTimeout(
    () => abandon(`bench:restore ran longer than --timeout ${timeoutMinutes} min: stopped.`, 1),
    timeoutMinutes * 60_000,
  );
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => abandon(`Interrupted (${signal}): stopped.`, 130));
  }

  try {
    const lab = await step(
      'start PostgreSQL with WAL archiving into a pgBackRest repository',
      () =>
        (starting = startBackupCluster({
          // The lab's value; the benchmark forces the switches it needs with `pgbackrest check`.
          archiveTimeout: 60,
          // A large load without a checkpoint storm in the middle.
          settings: { max_wal_size: '2GB', shared_buffers: '256MB' },
        })),
    );
    const url = lab.pg.url(DB);

    await step(`load ${rows.toLocaleString('en')} rows into bench_items and pgbench's tables (scale 1)`, async () => {
      await queryOnce(lab.pg.url('postgres'), `CREATE DATABASE ${DB}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`
          CREATE TABLE bench_items (
            id bigint NOT NULL,
            customer_id int NOT NULL,
            amount numeric(12, 2) NOT NULL,
            note text NOT NULL,
            created_at timestamptz NOT NULL
          )`);
        await client.query(
          `INSERT INTO bench_items
           SELECT i, 1 + i % 50000, (i % 100000) / 100.0, md5(i::text) || md5(random()::text),
                  now() - make_interval(secs => i)
           FROM generate_series(1, $1::bigint) AS i`,
          [rows],
        );
        await client.query('ALTER TABLE bench_items ADD PRIMARY KEY (id)');
        await client.query('VACUUM (FREEZE, ANALYZE) bench_items');
      } finally {
        await client.end();
      }
      await pgbench(lab, ['-i', '-s', '1', '-q']);
    });
    // Archive everything written so far, so the backup's time is the backup's alone.
    await step('archive the WAL of the load', () => lab.flushWal());
    const benchBytes = Number(
      (await queryRow<{ bytes: string }>(url, 'SELECT pg_database_size(current_database()) AS bytes')).bytes,
    );

    const backupStarted = performance.now();
    await step('full backup', () => lab.backup('full'));
    const backupMs = performance.now() - backupStarted;
    const backup = (await lab.info()).at(-1);
    if (!backup) throw new Error('pgbackrest info lists no backup after the full backup');
    const repositoryAfterBackup = await lab.repositoryBytes();

    const half = Math.max(1, Math.floor(writeSeconds / 2));
    const first = await step(`pgbench for ${half} s after the backup`, () =>
      pgbench(lab, ['-n', '-c', '2', '-j', '2', '-T', String(half)]),
    );
    // pgbench has stopped: nothing commits between the target time and the counts read after it.
    const target = await queryRow<{ time: string; lsn: string }>(
      url,
      `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS time,
              pg_current_wal_lsn()::text AS lsn`,
    );
    const atTarget = await counts(url);
    const second = await step(`pgbench for ${writeSeconds - half} s more, after the target ${target.time}`, () =>
      pgbench(lab, ['-n', '-c', '2', '-j', '2', '-T', String(writeSeconds - half)]),
    );
    await step('archive the last WAL segment', () => lab.flushWal());
    const atEnd = await counts(url);
    const endLsn = await currentLsn(url);
    const tps = (output: { stdout: string }) => Math.round(Number(/tps = ([\d.]+)/.exec(output.stdout)?.[1]));

    const results: RestoreFigures[] = [];
    results.push(
      await restoreAndCheck(lab, 'restore of the latest', {
        expected: atEnd,
        walBytes: await walBetween(url, backup.lsn.stop, endLsn),
      }),
    );
    await results[0]?.restored.destroy();
    results.push(
      await restoreAndCheck(lab, 'point-in-time restore', {
        time: target.time,
        expected: atTarget,
        walBytes: await walBetween(url, backup.lsn.stop, target.lsn),
      }),
    );
    await results[1]?.restored.destroy();
    const repository = await lab.repositoryBytes();

    const countsCell = (r: RestoreFigures) =>
      `${r.counts.items.toLocaleString('en')} items, ${r.counts.history.toLocaleString('en')} pgbench rows: ` +
      (r.matches && r.consistent ? 'as the source' : 'MISMATCH');
    console.log(
      `\n${formatTable(
        ['step', 'took', 'detail'],
        [
          [
            'full backup',
            formatSeconds(backupMs),
            `${formatBytes(backup.info.size)} cluster → ${formatBytes(backup.info.repository.size)} in the repository`,
          ],
          ...results.flatMap((r) => [
            [`${r.what} · pgbackrest restore (files)`, formatSeconds(r.restored.filesMs), ''],
            [
              `${r.what} · start, WAL replay, promotion`,
              formatSeconds(r.restored.restoreMs - r.restored.filesMs),
              `${formatBytes(r.walBytes)} of WAL after the backup`,
            ],
            [`${r.what} · row counts`, formatSeconds(r.checkMs), countsCell(r)],
            [`${r.what} · RTO in all`, formatSeconds(r.restored.restoreMs + r.checkMs), ''],
          ]),
        ],
        [1],
      )}`,
    );
    const [latest, pitr] = results;
    const cpu = os.cpus();
    summary(`Restore benchmark (${rows.toLocaleString('en')} rows, ${formatSeconds(performance.now() - started)})`, {
      machine: `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), ${formatBytes(os.totalmem())} RAM`,
      'database bench': formatBytes(benchBytes),
      'full backup': `${formatSeconds(backupMs)} for ${formatBytes(backup.info.size)} (zst 3, aes-256-cbc, process-max=2)`,
      'repository after the backup': `${formatBytes(repositoryAfterBackup.backup)} backup + ${formatBytes(repositoryAfterBackup.archive)} WAL`,
      'repository at the end': `${formatBytes(repository.backup)} backup + ${formatBytes(repository.archive)} WAL`,
      'writes after the backup': `pgbench ${tps(first)} then ${tps(second)} tps, ${atEnd.history.toLocaleString('en')} transactions`,
      'RTO, latest': latest ? formatSeconds(latest.restored.restoreMs + latest.checkMs) : '?',
      'RTO, point in time': pitr ? formatSeconds(pitr.restored.restoreMs + pitr.checkMs) : '?',
      'restores as the source': results.every((r) => r.matches && r.consistent) ? 'yes' : 'NO: see the table',
    });
    if (!results.every((r) => r.matches && r.consistent)) {
      throw new StopError('A restore came back with other row counts than the source had: the restore is broken.');
    }
  } finally {
    clearTimeout(watchdog);
    await cleanUp();
  }
}

await runCommand(main);
