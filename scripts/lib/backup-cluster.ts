// A throwaway PostgreSQL cluster with WAL archiving into a throwaway pgBackRest repository, configured from
// backup/pgbackrest.conf (the lab's file). Used by the backup tests (backups, verify, expire, restores into scratch
// instances on other ports) and by `npm run bench:restore`. pgBackRest runs as the postgres OS user when we are root, like the server.
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { $, type ProcessOutput } from 'zx';
import { REPO_ROOT } from './paths.js';
import {
  clusterHandle,
  clusterOwner,
  findPgBinDir,
  type Owner,
  freePort,
  requirePgBinaries,
  startCluster,
  type PgCluster,
} from './pg-cluster.js';
import { requireDebianTools } from './debian-tools.js';
import { renderTemplate } from './template.js';

export const STANZA = 'swarmlab';
export const CONFIG_TEMPLATE = path.join(REPO_ROOT, 'backup/pgbackrest.conf');

export type BackupType = 'full' | 'diff' | 'incr';

export interface BackupInfo {
  label: string;
  type: BackupType;
  /** Start and stop of the backup, Unix seconds. */
  timestamp: { start: number; stop: number };
  prior: string | null;
  /** Bytes: `size` of the database, `repository.size` of the backup in the repository (compressed, encrypted). */
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  /** The WAL segments the backup needs to be consistent. */
  archive: { start: string; stop: string };
  /** WAL positions of the backup's start and stop, e.g. `0/2000028`. */
  lsn: { start: string; stop: string };
}

/** The oldest and newest WAL segment in the repository, e.g. `000000010000000000000005`. */
export interface WalRange {
  min: string;
  max: string;
}

export interface RestoreTarget {
  /** Recover to this moment (a PostgreSQL timestamp, e.g. `2026-11-21 10:00:00.123456+00`); else to the end of WAL. */
  time?: string;
}

export interface VerifyResult {
  ok: boolean;
  /** pgBackRest's report, e.g. `backup: 20261121-230714F, status: invalid` and `checksum invalid: 1`. */
  report: string;
}

export interface RestoredCluster extends PgCluster {
  /** Wall-clock time from `pgbackrest restore` to the promoted, writable instance. */
  readonly restoreMs: number;
  /** The part of restoreMs spent in `pgbackrest restore` (copying the files); the rest is start and WAL replay. */
  readonly filesMs: number;
}

export interface BackupCluster {
  readonly pg: PgCluster;
  readonly configFile: string;
  readonly repoPath: string;
  /** Runs `pgbackrest --config=... --stanza=swarmlab <args>`; never throws, look at exitCode. */
  pgbackrest(args: string[]): Promise<ProcessOutput>;
  /** Runs `command` as the cluster's OS user with the backup role's password and `env`; never throws. */
  run(command: string[], env?: Record<string, string>): Promise<ProcessOutput>;
  /** Takes a backup; throws with pgBackRest's output when it fails. */
  backup(type: BackupType): Promise<void>;
  /** The stanza's backups, oldest first. */
  info(): Promise<BackupInfo[]>;
  /** The WAL segments in the repository (`pgbackrest info`); undefined while none is archived. */
  walRange(): Promise<WalRange | undefined>;
  /** Bytes on disk in the repository: backups (`backup/`) and archived WAL (`archive/`). */
  repositoryBytes(): Promise<{ backup: number; archive: number }>;
  /**
   * `pgbackrest verify`: checks every file of the repository (backups and WAL) against its checksum. pgBackRest
   * 2.45 exits 0 even when it finds bad files and reports them at info level, so the report is read too.
   */
  verify(): Promise<VerifyResult>;
  /** Forces a WAL switch and waits until the finished segment is in the repository. */
  flushWal(): Promise<void>;
  restore(target?: RestoreTarget): Promise<RestoredCluster>;
  /** Stops every instance (source and restored) and deletes the cluster, repository and scratch files. */
  destroy(): Promise<void>;
}

/**
 * Runs `check` while 4 bytes in the middle of the latest backup's largest file (a table's data, compressed and
 * encrypted) are flipped, then puts them back, whatever `check` did: a damaged repository, for a while.
 */
export async function withDamagedBackup<T>(cluster: BackupCluster, check: () => Promise<T>): Promise<T> {
  const [latest] = (await cluster.info()).slice(-1);
  if (!latest) throw new Error('withDamagedBackup: the stanza has no backup to damage');
  const dir = path.join(cluster.repoPath, 'backup', STANZA, latest.label, 'pg_data');
  const entries = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
  const sized = await Promise.all(
    entries.map(async (entry) => {
      const file = path.join(entry.parentPath, entry.name);
      return { file, size: (await stat(file)).size };
    }),
  );
  const { file, size } = sized.sort((a, b) => b.size - a.size)[0]!;
  const offset = Math.floor(size / 2);
  const handle = await open(file, 'r+');
  const original = Buffer.alloc(4);
  try {
    await handle.read(original, 0, 4, offset);
    await handle.write(
      original.map((byte) => byte ^ 0xff),
      0,
      4,
      offset,
    );
    await handle.sync();
    return await check();
  } finally {
    await handle.write(original, 0, 4, offset);
    await handle.close();
  }
}

/** Finds pgbackrest; installs it from Debian when root, else fails with the command to run. */
export const requirePgbackrest = () => requireDebianTools({ pgbackrest: 'pgbackrest' });

async function privateDir(dir: string, owner: Owner): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (owner.uid !== undefined) await chown(dir, owner.uid, owner.gid ?? owner.uid);
  return dir;
}

function failure(what: string, output: ProcessOutput): Error {
  const tail = `${output.stdout}\n${output.stderr}`.trim().split('\n').slice(-15).join('\n');
  return new Error(`${what} failed (exit ${output.exitCode}):\n${tail}`);
}

export interface BackupClusterOptions {
  /** archive_timeout of the source cluster, seconds (the lab uses 60). */
  archiveTimeout?: number;
  /** More server settings of the source cluster (e.g. max_wal_size for a large load). */
  settings?: Record<string, string>;
}

export async function startBackupCluster(options: BackupClusterOptions = {}): Promise<BackupCluster> {
  await requirePgbackrest();
  const bin = await requirePgBinaries();
  const owner = await clusterOwner();
  const root = await privateDir(await mkdtemp(path.join(tmpdir(), 'swarmlab-pgbackrest-')), owner);
  const repoPath = await privateDir(path.join(root, 'repo'), owner);
  const logPath = await privateDir(path.join(root, 'log'), owner);
  const lockPath = await privateDir(path.join(root, 'lock'), owner);
  const configFile = path.join(root, 'pgbackrest.conf');
  const archiveCommand = `pgbackrest --config=${configFile} --stanza=${STANZA} archive-push %p`;
  const restored: PgCluster[] = [];

  const source = await startCluster({
    settings: {
      archive_mode: 'on',
      // Single quotes: pg_ctl hands the options to a shell, and the command has spaces.
      archive_command: `'${archiveCommand}'`,
      archive_timeout: String(options.archiveTimeout ?? 10),
      wal_level: 'replica',
      // Online backups and WAL replay as in the lab (pg-cluster turns these off for speed).
      full_page_writes: 'on',
      ...options.settings,
    },
  });

  // pgBackRest connects as the lab's least-privilege `backup` role (postgres/cluster-roles.sql), not a superuser.
  const backupPassword = randomBytes(18).toString('base64url');
  try {
    await source.psqlFile('postgres', path.join(REPO_ROOT, 'postgres/cluster-roles.sql'), {
      backup_password: backupPassword,
      monitoring_password: randomBytes(18).toString('base64url'),
    });
    const config = renderTemplate(await readFile(CONFIG_TEMPLATE, 'utf8'), {
      PGBACKREST_REPO_PATH: repoPath,
      PGBACKREST_CIPHER_PASS: randomBytes(32).toString('base64url'),
      PGBACKREST_LOG_PATH: logPath,
      PGBACKREST_LOCK_PATH: lockPath,
      PGDATA: source.dataDir,
      PG_PORT: source.port,
      PG_SOCKET_DIR: path.dirname(source.dataDir),
      PG_BACKUP_USER: 'backup',
    });
    await writeFile(configFile, config, { mode: 0o600 });
    if (owner.uid !== undefined) await chown(configFile, owner.uid, owner.gid ?? owner.uid);
  } catch (error) {
    await source.destroy();
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  const pgbackrest = (args: string[]) =>
    $({
      quiet: true,
      nothrow: true,
      cwd: root,
      env: { ...process.env, PGPASSWORD: backupPassword },
    })`${owner.prefix} pgbackrest --config=${configFile} --stanza=${STANZA} ${args}`;
  // The server's tools on PATH, as the backup image has them (backup-job starts scratch instances with pg_ctl):
  // Debian puts only the client's wrappers in /usr/bin.
  const run = (command: string[], env: Record<string, string> = {}) =>
    $({
      quiet: true,
      nothrow: true,
      cwd: root,
      env: { ...process.env, PATH: `${findPgBinDir()}:${process.env.PATH ?? ''}`, PGPASSWORD: backupPassword, ...env },
    })`${owner.prefix} ${command}`;
  const mustRun = async (args: string[]) => {
    const output = await pgbackrest(args);
    if (output.exitCode !== 0) throw failure(`pgbackrest ${args.join(' ')}`, output);
    return output;
  };

  try {
    await mustRun(['stanza-create']);
  } catch (error) {
    await source.destroy();
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  const stanzaInfo = async () => {
    const output = await mustRun(['info', '--output=json']);
    const stanzas = JSON.parse(output.stdout) as { name: string; backup: BackupInfo[]; archive: WalRange[] }[];
    return stanzas.find((stanza) => stanza.name === STANZA);
  };
  const info = async (): Promise<BackupInfo[]> => (await stanzaInfo())?.backup ?? [];
  const walRange = async (): Promise<WalRange | undefined> => {
    const archive = (await stanzaInfo())?.archive.at(-1);
    return archive?.min && archive.max ? { min: archive.min, max: archive.max } : undefined;
  };

  const restore = async (target: RestoreTarget = {}): Promise<RestoredCluster> => {
    const scratch = await privateDir(await mkdtemp(path.join(root, 'restore-')), owner);
    const dataDir = await privateDir(path.join(scratch, 'data'), owner);
    const port = await freePort();
    const started = performance.now();
    const targetArgs = target.time
      ? ['--type=time', `--target=${target.time}`, '--target-action=promote']
      : ['--type=default'];
    await mustRun(['restore', `--pg1-path=${dataDir}`, ...targetArgs]);
    const filesMs = performance.now() - started;
    const handle = clusterHandle({
      bin,
      owner,
      root: scratch,
      dataDir,
      port,
      password: source.password,
      startTimeoutSeconds: 120,
      settings: {
        listen_addresses: '127.0.0.1',
        fsync: 'off',
        // Recovery refuses to run with lower limits than the source had (pg-cluster's values).
        max_connections: '200',
        max_wal_senders: '5',
        // A scratch instance to inspect: it must never push WAL into the source's repository.
        archive_mode: 'off',
        log_min_messages: 'warning',
      },
    });
    restored.push(handle);
    await handle.start();
    await waitForPromotion(handle);
    return { ...handle, restoreMs: performance.now() - started, filesMs };
  };

  let destroyed = false;
  return {
    pg: source,
    configFile,
    repoPath,
    pgbackrest,
    run,
    backup: async (type) => {
      await mustRun(['backup', `--type=${type}`]);
    },
    info,
    walRange,
    repositoryBytes: async () => ({
      backup: await bytesUnder(path.join(repoPath, 'backup')),
      archive: await bytesUnder(path.join(repoPath, 'archive')),
    }),
    verify: async () => {
      const output = await pgbackrest(['verify', '--log-level-console=info']);
      const report = `${output.stdout}${output.stderr}`;
      const ok = output.exitCode === 0 && !/status: (error|invalid)|invalid checksum|missing/i.test(report);
      return { ok, report };
    },
    flushWal: async () => {
      await mustRun(['check']);
    },
    restore,
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      for (const instance of restored) await instance.destroy();
      await source.destroy();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The total size of the files under `dir` (0 when it does not exist). */
async function bytesUnder(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const sizes = await Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map(async (entry) => (await stat(path.join(entry.parentPath, entry.name))).size),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** Waits until recovery has ended (the target reached and the instance promoted), at most 120 s. */
async function waitForPromotion(instance: PgCluster): Promise<void> {
  const deadline = performance.now() + 120_000;
  let last: unknown;
  while (performance.now() < deadline) {
    const client = new pg.Client({ connectionString: instance.url('postgres'), connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
      if (rows[0]?.recovering === false) return;
    } catch (error) {
      last = error;
    } finally {
      await client.end().catch(() => undefined);
    }
    await sleep(100);
  }
  throw new Error(`restored instance on port ${instance.port} still in recovery after 120 s`, { cause: last });
}
