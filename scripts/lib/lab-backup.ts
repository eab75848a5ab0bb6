// The lab's backup service seen from the host: its jobs (backup/backup-job) run in its container on the manager
// through the manager's Docker API, with their progress streamed, and the repository and dumps copied off the
// cluster into <LAB_DIR>/backups, as cron's swarmlab-job does on the manager. See docs/backup-and-restore.md.
import { spawn } from 'node:child_process';
import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { StopError } from './cli.js';
import type { Lab } from './lab-context.js';
import { labPaths, STACK, type LabPaths } from './lab-secrets.js';
import { ensurePrivateDir } from './private-files.js';

export const BACKUP_TYPES = ['full', 'diff', 'incr', 'logical'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

/** The JSON line a job ends with (backup/backup-job `report`). */
export interface JobResult {
  job: string;
  result: string;
  error?: string;
  [field: string]: unknown;
}

export interface JobRun {
  exitCode: number;
  stdout: string;
  result: JobResult | undefined;
}

/** The running container of a stack service on the manager (backup and reporter run there), by its short name. */
export async function managerContainer(lab: Lab, service: string): Promise<Docker.Container> {
  const name = `${STACK}_${service}`;
  const found = await lab.docker.listContainers({
    filters: { label: [`com.docker.swarm.service.name=${name}`], status: ['running'] },
  });
  const first = found[0];
  if (!first) {
    throw new StopError(
      `No running ${name} container on the manager (${lab.describe}).\n` +
        'Deploy the stack first (npm run deploy), then check it with npm run lab:status.',
    );
  }
  return lab.docker.getContainer(first.Id);
}

export const backupContainer = (lab: Lab) => managerContainer(lab, 'backup');

/** The last line of `stdout` that parses as a JSON object. */
export function lastJsonLine(stdout: string): JobResult | undefined {
  for (const line of stdout.trim().split('\n').reverse()) {
    try {
      const value: unknown = JSON.parse(line);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as JobResult;
    } catch {
      // not JSON: progress or pgBackRest output
    }
  }
  return undefined;
}

/** Runs `command` in the container; its stderr is progress, printed as it comes with `prefix`. */
export async function execInContainer(
  container: Docker.Container,
  command: string[],
  prefix = '  │ ',
): Promise<JobRun> {
  const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  let partial = '';
  stderr.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) console.error(`${prefix}${line}`);
  });
  container.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  if (partial.trim()) console.error(`${prefix}${partial}`);
  const { ExitCode } = await exec.inspect();
  const text = Buffer.concat(chunks).toString();
  return { exitCode: ExitCode ?? 1, stdout: text, result: lastJsonLine(text) };
}

/** Runs a backup-job command; a failed job stops with its own error line. */
export async function runBackupJob(lab: Lab, args: string[]): Promise<JobResult> {
  const container = await backupContainer(lab);
  const run = await execInContainer(container, ['backup-job', ...args]);
  if (run.exitCode !== 0 || !run.result || run.result.result === 'failure') {
    const why = run.result?.error ?? (run.stdout.trim().split('\n').slice(-5).join('\n') || `exit ${run.exitCode}`);
    throw new StopError(`backup-job ${args.join(' ')} failed: ${why}`);
  }
  return run.result;
}

/** Unpacks a container directory's tar (as getArchive gives it) into `dest`, replacing it only once complete. */
export async function copyFromContainer(container: Docker.Container, source: string, dest: string): Promise<void> {
  const fresh = `${dest}.new`;
  await rm(fresh, { recursive: true, force: true });
  await mkdir(fresh, { recursive: true, mode: 0o700 });
  const archive = await container.getArchive({ path: `${source}/.` });
  await new Promise<void>((resolve, reject) => {
    const tar = spawn('tar', ['-x', '-C', fresh, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    tar.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar -x into ${fresh}: ${errors.trim()}`))));
    archive.on('error', reject);
    archive.pipe(tar.stdin);
  });
  await rm(`${dest}.old`, { recursive: true, force: true });
  await rename(dest, `${dest}.old`).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await rename(fresh, dest);
  await rm(`${dest}.old`, { recursive: true, force: true });
}

/** Copies the repository and the dumps off the cluster: <LAB_DIR>/backups/{repository,dumps}. */
export async function copyOffsite(lab: Lab, paths: LabPaths = labPaths()): Promise<string> {
  const container = await backupContainer(lab);
  const root = path.join(paths.root, 'backups');
  await ensurePrivateDir(root);
  await copyFromContainer(container, '/var/lib/pgbackrest', path.join(root, 'repository'));
  await copyFromContainer(container, '/var/lib/pgbackrest-dumps', path.join(root, 'dumps'));
  return root;
}

/**
 * A logical dump as backup-job writes it (`openssl enc -aes-256-cbc -pbkdf2 -iter 200000 -md sha256 -salt`, the
 * repository's passphrase), decrypted: "Salted__", 8 bytes of salt, then AES-256-CBC with key and IV from PBKDF2.
 * Throws when the file is not in that format; a wrong passphrase throws or gives bytes that are no pg_dump archive.
 */
export function decryptDump(encrypted: Buffer, passphrase: string): Buffer {
  if (encrypted.subarray(0, 8).toString('latin1') !== 'Salted__') throw new Error('not an openssl enc file (no salt)');
  const salt = encrypted.subarray(8, 16);
  const keyAndIv = pbkdf2Sync(passphrase, salt, 200_000, 48, 'sha256');
  const decipher = createDecipheriv('aes-256-cbc', keyAndIv.subarray(0, 32), keyAndIv.subarray(32));
  return Buffer.concat([decipher.update(encrypted.subarray(16)), decipher.final()]);
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

// --- db:restore --------------------------------------------------------------------------------------------

/**
 * `args`: backup-job's scratch options; `flags`: the same target as db:restore flags (to print); `describe`: words;
 * `time` or `label`: what the restorable window is checked against.
 */
export type Target = { args: string[]; flags: string[]; describe: string; time?: Date; label?: string };

/** The pgBackRest restore options for the chosen target; exactly one must be given. */
export function restoreTarget(flags: { time?: string; latest?: boolean; backup?: string }): Target {
  const given = [flags.time !== undefined, flags.latest === true, flags.backup !== undefined].filter(Boolean).length;
  if (given !== 1)
    throw new StopError('Give exactly one of --time <ISO 8601>, --latest or --backup <label>. See --help.');
  if (flags.time !== undefined) {
    if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/.test(flags.time)) {
      throw new StopError(`--time must be ISO 8601 with a zone, e.g. 2026-11-22T03:04:05Z, not "${flags.time}".`);
    }
    const when = new Date(flags.time);
    if (Number.isNaN(when.getTime())) throw new StopError(`--time "${flags.time}" is not a valid moment.`);
    if (when.getTime() > Date.now()) throw new StopError(`--time ${flags.time} is in the future.`);
    // pgBackRest picks the backup set by this time only in its own format (else it takes the latest set).
    const pgTime = when.toISOString().replace('T', ' ').replace('Z', '+00');
    return {
      args: ['--time', pgTime],
      flags: ['--time', when.toISOString()],
      describe: `the state at ${when.toISOString()}`,
      time: when,
    };
  }
  if (flags.backup !== undefined) {
    if (!/^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/.test(flags.backup)) {
      throw new StopError(`--backup takes a pgBackRest label such as 20261122-011500F (npm run backup:list).`);
    }
    return {
      args: ['--backup', flags.backup],
      flags: ['--backup', flags.backup],
      describe: `the end of backup ${flags.backup}`,
      label: flags.backup,
    };
  }
  return { args: ['--latest'], flags: ['--latest'], describe: 'the end of the archived WAL' };
}

/** backup-job's scratch options → pgBackRest's restore options (for the cluster's own restore). */
export function pgbackrestOptions(target: Target): string[] {
  const [kind, value] = target.args;
  if (kind === '--time') return ['--type=time', `--target=${value}`, '--target-action=promote'];
  if (kind === '--backup') return [`--set=${value}`, '--type=immediate', '--target-action=promote'];
  return ['--type=default'];
}

/**
 * Refuses, before anything is stopped, a target the repository cannot restore: no backup at all, a label it does not
 * hold, a time before the end of its oldest backup (the restorable window starts there). A time past the archived
 * WAL is found by PostgreSQL's recovery itself, in a directory of its own (db:restore keeps the cluster's).
 */
export function checkRestorable(list: BackupList, target: Target): void {
  const backups = list.pgbackrest[0]?.backup ?? [];
  const oldest = backups[0];
  if (!oldest) {
    throw new StopError(
      'The repository holds no physical backup yet: there is nothing to restore from. Nothing was stopped.\n' +
        'Take one with npm run backup -- --type full.',
    );
  }
  if (target.label !== undefined && !backups.some((backup) => backup.label === target.label)) {
    throw new StopError(
      `Backup ${target.label} is not in the repository (expired, or never taken). Nothing was stopped.\n` +
        `It holds: ${backups.map((backup) => backup.label).join(', ')} (npm run backup:list).`,
    );
  }
  if (target.time && target.time.getTime() < oldest.timestamp.stop * 1000) {
    throw new StopError(
      `${target.time.toISOString()} is before the restorable window, which starts at ${iso(oldest.timestamp.stop)} ` +
        `(the end of the oldest backup, ${oldest.label}). Nothing was stopped.\n` +
        'Give a time within the window (npm run backup:list shows it), or --backup with one of its labels.',
    );
  }
}

// --- backup:list --------------------------------------------------------------------------------------------

export interface PgbackrestBackup {
  label: string;
  type: string;
  timestamp: { start: number; stop: number };
  info: { size: number; repository: { delta: number } };
}

export interface BackupList {
  pgbackrest: {
    name: string;
    status: { code: number; message: string };
    backup: PgbackrestBackup[];
    archive: { min: string | null; max: string | null }[];
  }[];
  dumps: { file: string; size: number; time: number }[];
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The list with the oldest backup (the restorable window starts there), the newest of each type and dump. */
export function lastOfEachKind(list: BackupList): BackupList {
  return {
    pgbackrest: list.pgbackrest.map((stanza) => {
      const newest = new Map(stanza.backup.map((backup) => [backup.type, backup]));
      const kept = stanza.backup.filter((backup, index) => index === 0 || newest.get(backup.type) === backup);
      return { ...stanza, backup: kept };
    }),
    dumps: list.dumps.slice(-1),
  };
}

/** The table lines of `npm run backup:list`. */
export function formatBackupList(list: BackupList): string[] {
  const stanza = list.pgbackrest[0];
  const lines: string[] = [];
  if (!stanza || stanza.backup.length === 0) {
    lines.push(`no physical backup yet${stanza ? ` (${stanza.status.message})` : ''}: npm run backup -- --type full`);
  } else {
    lines.push('label                              type  started               took   database    in repository');
    for (const backup of stanza.backup) {
      const took = `${backup.timestamp.stop - backup.timestamp.start} s`;
      lines.push(
        `${backup.label.padEnd(34)} ${backup.type.padEnd(5)} ${iso(backup.timestamp.start)}  ${took.padEnd(6)} ` +
          `${mib(backup.info.size).padEnd(11)} ${mib(backup.info.repository.delta)}`,
      );
    }
    const wal = stanza.archive.at(-1);
    lines.push(
      `restorable to any second from ${iso(stanza.backup[0]!.timestamp.stop)} to the last archived WAL` +
        (wal?.max ? ` (${wal.max})` : ''),
    );
  }
  if (list.dumps.length === 0) lines.push('no logical dump yet: npm run backup -- --type logical');
  for (const dump of list.dumps) lines.push(`dump ${dump.file}  ${iso(dump.time)}  ${mib(dump.size)}`);
  return lines;
}
