// backup/backup-job, the backup service's job script, run for real against a local PostgreSQL, pgBackRest and a
// Pushgateway: what each run pushes and prints, on success and on failure. (In the lab it runs in the backup
// container; npm run test:e2e runs it there.)
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackupCluster, STANZA, withDamagedBackup, type BackupCluster } from '../lib/backup-cluster.js';
import { decryptDump, lastJsonLine } from '../lib/lab-backup.js';
import { REPO_ROOT } from '../lib/paths.js';
import { pushedValue, startPushgateway, type Pushgateway } from '../lib/pushgateway.js';

const BACKUP_JOB = path.join(REPO_ROOT, 'backup/backup-job');

describe('backup-job: metrics and one JSON line per run', () => {
  let cluster: BackupCluster;
  let gateway: Pushgateway;
  let logDir: string;
  let log: string;

  beforeAll(async () => {
    [cluster, gateway] = await Promise.all([startBackupCluster(), startPushgateway({ basicAuth: true })]);
    await cluster.pgbackrest(['stanza-create']);
    logDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-backup-job-'));
    await chmod(logDir, 0o777);
    log = path.join(logDir, 'container.log');
  }, 120_000);

  afterAll(async () => {
    gateway?.stop();
    await cluster?.destroy();
    if (logDir) await rm(logDir, { recursive: true, force: true });
  });

  // pgBackRest takes PGBACKREST_* variables as options: the cluster's configuration file, as --config.
  const jobWith = (env: Record<string, string>, ...args: string[]) =>
    cluster.run(['bash', BACKUP_JOB, ...args], {
      PGBACKREST_CONFIG: cluster.configFile,
      PUSHGATEWAY_URL: gateway.url,
      PUSHGATEWAY_PASSWORD_FILE: gateway.passwordFile!,
      BACKUP_JOB_LOG: log,
      ...env,
    });
  const job = (...args: string[]) => jobWith({}, ...args);
  const pushed = async (name: string, type: string) =>
    pushedValue(await gateway.metrics(), name, 'swarmlab_backup', { type });

  it('when a full backup succeeds, then it prints and logs one JSON line and pushes success, time, duration and size', async () => {
    const before = Math.floor(Date.now() / 1000);
    const run = await job('backup', 'full');
    expect(run.exitCode, run.stderr).toBe(0);
    const result = lastJsonLine(run.stdout);
    expect(result).toMatchObject({ job: 'backup', type: 'full', result: 'success' });
    expect(String(result?.label)).toMatch(/^\d{8}-\d{6}F$/);
    expect(Number(result?.size_bytes)).toBeGreaterThan(0);
    expect(await readFile(log, 'utf8')).toContain(`"label":"${String(result?.label)}"`);

    expect(await pushed('swarmlab_backup_last_run_success', 'full')).toBe(1);
    expect(await pushed('swarmlab_backup_last_success_timestamp_seconds', 'full')).toBeGreaterThanOrEqual(before);
    expect(await pushed('swarmlab_backup_duration_seconds', 'full')).toBeGreaterThan(0);
    expect(await pushed('swarmlab_backup_size_bytes', 'full')).toBe(Number(result?.size_bytes));
  }, 60_000);

  it("when asked for the backup that is due, then it judges from pgBackRest's record: none after a fresh full, a diff when the last backup is late, a full when the last full is", async () => {
    const labels = async () => (await cluster.info()).map((backup) => backup.label);
    const before = await labels();
    const fresh = await job('backup', 'due');
    expect(fresh.exitCode, fresh.stderr).toBe(0);
    expect(lastJsonLine(fresh.stdout)).toMatchObject({ job: 'backup', type: 'due', result: 'none due' });
    expect(await labels()).toEqual(before);

    // A window of -1 s makes every backup late, whatever the clock says.
    const diff = await jobWith({ BACKUP_MAX_AGE_S: '-1' }, 'backup', 'due');
    expect(lastJsonLine(diff.stdout)).toMatchObject({ job: 'backup', type: 'diff', result: 'success' });
    const full = await jobWith({ BACKUP_FULL_MAX_AGE_S: '-1' }, 'backup', 'due');
    expect(lastJsonLine(full.stdout)).toMatchObject({ job: 'backup', type: 'full', result: 'success' });
    const added = (await labels()).filter((label) => !before.includes(label));
    expect(added.map((label) => label.at(-1))).toEqual(['D', 'F']);
  }, 90_000);

  it('when a logical backup runs, then the dump is encrypted with the repository passphrase: no pg_dump archive without it, one with it', async () => {
    const dumps = await mkdtemp(path.join(tmpdir(), 'swarmlab-dumps-'));
    try {
      await chmod(dumps, 0o777);
      const passphrase = 'the-repository-passphrase';
      const keyFile = path.join(dumps, 'pgbackrest_cipher_pass');
      await writeFile(keyFile, passphrase, { mode: 0o644 });
      const run = await jobWith(
        {
          BACKUP_DUMPS_DIR: dumps,
          REPO_CIPHER_PASS_FILE: keyFile,
          DB_HOST: cluster.pg.host,
          DB_PORT: String(cluster.pg.port),
          DB_NAME: 'postgres',
        },
        'backup',
        'logical',
      );
      expect(run.exitCode, run.stderr).toBe(0);
      const result = lastJsonLine(run.stdout);
      expect(result).toMatchObject({ job: 'backup', type: 'logical', result: 'success' });
      const file = String(result?.label);
      expect(file).toMatch(/^postgres-\d{8}T\d{6}Z\.dump\.enc$/);
      const bytes = await readFile(path.join(dumps, file));
      expect(bytes.includes(Buffer.from('PGDMP'))).toBe(false);
      expect(decryptDump(bytes, passphrase).subarray(0, 5).toString()).toBe('PGDMP');
      let wrong: Buffer | undefined;
      try {
        wrong = decryptDump(bytes, 'not-the-passphrase');
      } catch {
        // Most wrong keys end in bad padding; the others give noise.
      }
      expect(wrong?.subarray(0, 5).toString()).not.toBe('PGDMP');
      expect(await pushed('swarmlab_backup_last_run_success', 'logical')).toBe(1);
      expect(await pushed('swarmlab_backup_size_bytes', 'logical')).toBe(bytes.length);
    } finally {
      await rm(dumps, { recursive: true, force: true });
    }
  });

  it('when the job has no Pushgateway key, then the gateway refuses its metrics and the job says so', async () => {
    const run = await jobWith({ PUSHGATEWAY_PASSWORD_FILE: '' }, 'backup', 'incr');
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /could not push metrics to .*\/metrics\/job\/swarmlab_backup.*the alerts will see this run as missing/,
    );
    expect(await pushed('swarmlab_backup_last_run_success', 'incr')).toBeUndefined();
    expect((await fetch(`${gateway.url}/metrics`)).status).toBe(401);
  }, 60_000);

  it('when the repository is not writable, then it exits 1, pushes a failure, keeps the last success time and the backups', async () => {
    const lastSuccess = await pushed('swarmlab_backup_last_success_timestamp_seconds', 'full');
    const listed = (await cluster.info()).map((backup) => backup.label);
    const stanzaDir = path.join(cluster.repoPath, 'backup', STANZA);
    const mode = (await stat(stanzaDir)).mode & 0o777;
    await chmod(stanzaDir, 0o555);
    let run;
    try {
      run = await job('backup', 'full');
    } finally {
      await chmod(stanzaDir, mode);
    }
    expect(run.exitCode).toBe(1);
    const result = lastJsonLine(run.stdout);
    expect(result).toMatchObject({ job: 'backup', type: 'full', result: 'failure' });
    expect(String(result?.error)).toMatch(/ERROR/);

    expect(await pushed('swarmlab_backup_last_run_success', 'full')).toBe(0);
    expect(await pushed('swarmlab_backup_last_success_timestamp_seconds', 'full')).toBe(lastSuccess);
    expect((await cluster.info()).map((backup) => backup.label)).toEqual(listed);
    expect((await cluster.verify()).ok).toBe(true);
  }, 60_000);

  it('when given no or an unknown command, then it exits 2 with its usage and pushes nothing', async () => {
    const ours = async () =>
      (await gateway.metrics())
        .split('\n')
        .filter((line) => line.startsWith('swarmlab_'))
        .join('\n');
    const metricsBefore = await ours();
    for (const args of [[], ['backup', 'weekly'], ['restore']]) {
      const run = await job(...args);
      expect(run.exitCode, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/backup-job: /);
    }
    expect(await ours()).toBe(metricsBefore);
  }, 30_000);
});

describe('backup-job verify: pgBackRest verify, then the restore drill against the source', () => {
  let cluster: BackupCluster;
  let gateway: Pushgateway;
  let work: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    [cluster, gateway] = await Promise.all([
      startBackupCluster({ archiveTimeout: 5 }),
      startPushgateway({ basicAuth: true }),
    ]);
    const admin = new pg.Client({ connectionString: cluster.pg.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE swarmlab');
    await admin.end();
    const db = new pg.Client({ connectionString: cluster.pg.url('swarmlab') });
    await db.connect();
    await db.query(`
      CREATE SCHEMA app;
      CREATE SCHEMA migrations;
      CREATE TABLE app.items (id int PRIMARY KEY, title text NOT NULL, tags text[]);
      INSERT INTO app.items SELECT i, 'item ' || i, ARRAY['t' || i % 7] FROM generate_series(1, 5000) AS i;
      CREATE TABLE migrations.history (name text PRIMARY KEY, run_on timestamptz NOT NULL DEFAULT now());
      INSERT INTO migrations.history (name) VALUES ('0001_init'), ('0002_items');`);
    await db.end();
    await cluster.pgbackrest(['stanza-create']);

    // The drill reads the source as the backup role and the scratch copy as the superuser: both from a pgpass.
    work = await mkdtemp(path.join(tmpdir(), 'swarmlab-drill-'));
    const superuser = decodeURIComponent(new URL(cluster.pg.url('postgres')).password);
    const backupPassword = (await cluster.run(['printenv', 'PGPASSWORD'])).stdout.trim();
    const pgpass = path.join(work, 'pgpass');
    await writeFile(pgpass, `*:*:*:postgres:${superuser}\n*:*:*:backup:${backupPassword}\n`, { mode: 0o600 });
    await mkdir(path.join(work, 'include'));
    env = {
      PGBACKREST_CONFIG: cluster.configFile,
      PUSHGATEWAY_URL: gateway.url,
      PUSHGATEWAY_PASSWORD_FILE: gateway.passwordFile!,
      BACKUP_JOB_LOG: path.join(work, 'container.log'),
      BACKUP_SCRATCH_ROOT: path.join(work, 'scratch'),
      BACKUP_LOCAL_INCLUDE: path.join(work, 'include'),
      DB_HOST: cluster.pg.host,
      DB_PORT: String(cluster.pg.port),
      DB_NAME: 'swarmlab',
      PGPASSWORD: '',
      PGPASSFILE: pgpass,
    };
    // The cluster's OS user runs the job: it must own these.
    const owner = await stat(cluster.repoPath);
    for (const file of [work, pgpass, path.join(work, 'include')]) await chown(file, owner.uid, owner.gid);
  }, 120_000);

  afterAll(async () => {
    gateway?.stop();
    await cluster?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const job = (...args: string[]) => cluster.run(['bash', BACKUP_JOB, ...args], env);
  const drilled = async (name: string) => pushedValue(await gateway.metrics(), name, 'swarmlab_restore_drill');

  it('when the repository is whole, then the drill restores to a restore point and finds every table equal', async () => {
    const full = await job('backup', 'full');
    expect(full.exitCode, full.stdout + full.stderr).toBe(0);
    const run = await job('verify');
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const result = lastJsonLine(run.stdout);
    expect(result).toMatchObject({ job: 'drill', result: 'success', tables: 2 });
    expect(String(result?.target)).toMatch(/^drill-\d{8}T\d{6}-\d+$/);
    expect(Number(result?.rto_s)).toBeGreaterThan(0);
    expect(await drilled('swarmlab_restore_drill_last_run_success')).toBe(1);
    expect(await drilled('swarmlab_restore_drill_rto_seconds')).toBe(Number(result?.rto_s));
    expect(await drilled('swarmlab_restore_drill_tables_checked')).toBe(2);
    // The scratch instance is stopped and removed.
    expect(await readdir(env.BACKUP_SCRATCH_ROOT!)).not.toContain('drill');
  }, 120_000);

  it('when a backup file is damaged, then the drill fails on verify and pushes the failure', async () => {
    const run = await withDamagedBackup(cluster, () => job('verify'));
    expect(run.exitCode).toBe(1);
    expect(lastJsonLine(run.stdout)).toMatchObject({ job: 'drill', result: 'failure' });
    expect(String(lastJsonLine(run.stdout)?.error)).toMatch(/^pgbackrest verify:/);
    expect(await drilled('swarmlab_restore_drill_last_run_success')).toBe(0);
  }, 120_000);
});
