// Running commands for the image scripts (failures name the command, its exit code and the tail of its output;
// long ones show progress) and asking the Docker engine about images.
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { $, ProcessOutput, which, type ProcessPromise } from 'zx';
import { StopError } from './cli.js';
import { REPO_ROOT as ROOT } from './paths.js';

const q = $({ quiet: true, cwd: ROOT });

// ---------------------------------------------------------------------------------------------------------------
// Commands: failures name the command, its exit code and the tail of its output; long ones show progress.

/** A command that failed: its message holds the command, the exit code and the last lines of its output. */
export class CommandError extends StopError {
  override name = 'CommandError';
  constructor(
    readonly cmd: string,
    readonly exitCode: number | null,
    readonly output: string,
    note = '',
  ) {
    const shown = cmd.replace(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g, '<$1>');
    super(
      `command failed (${exitCode === null ? 'killed: timed out' : `exit ${exitCode}`}): ${shown}\n${indent(tail(output, 20))}${note}`,
    );
  }
}

/** Without terminal colour codes (docker's legacy builder colours the output of RUN steps). */
const COLOUR_CODE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const plain = (text: string) => text.replace(COLOUR_CODE, '');
export const tail = (text: string, lines: number) => plain(text).trimEnd().split('\n').slice(-lines).join('\n');
export const indent = (text: string) => (text ? text.replace(/^/gm, '  | ') : '  | (no output)');
export const lastLine = (text: string) =>
  plain(text)
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter(Boolean)
    .pop() ?? '';

/** Awaits a zx command; a failure becomes a CommandError. */
export async function run(p: ProcessPromise, note = ''): Promise<ProcessOutput> {
  try {
    return await p;
  } catch (error) {
    if (error instanceof ProcessOutput) throw new CommandError(p.cmd, error.exitCode, error.stdall, note);
    throw error;
  }
}

const PROGRESS_EVERY_MS = 10_000;

/** Like run(), printing the elapsed time and the latest output line every 10 s; all output goes to `logFile`. */
export async function runWithProgress(label: string, p: ProcessPromise, logFile?: string): Promise<ProcessOutput> {
  const started = performance.now();
  const log = logFile ? createWriteStream(logFile) : undefined;
  let last = '';
  const onData = (chunk: Buffer) => {
    log?.write(chunk);
    last = lastLine(String(chunk)) || last;
  };
  p.stdout.on('data', onData);
  p.stderr.on('data', onData);
  const timer = setInterval(() => {
    console.error(`  … ${label}: ${formatMs(performance.now() - started)}${last ? `  ${last.slice(0, 110)}` : ''}`);
  }, PROGRESS_EVERY_MS);
  try {
    return await run(p, logFile ? `\n  full log: ${path.relative(process.cwd(), logFile)}` : '');
  } finally {
    clearInterval(timer);
    await new Promise((resolve) => (log ? log.end(resolve) : resolve(undefined)));
  }
}

export const formatMs = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
/** Sizes as `docker images` prints them (decimal megabytes). */
export const formatSize = (bytes: number) => (bytes > 0 ? `${Math.round(bytes / 1e6)} MB` : '-');

/** Prints an aligned table with a title (stdout). */
export function printTable(title: string, header: string[], rows: string[][]) {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(row));
}

// ---------------------------------------------------------------------------------------------------------------
// Docker

const INSTALL_DOCKER =
  "Install Docker's own packages (docker-ce and docker-ce-cli: https://docs.docker.com/engine/install/) or Docker " +
  "Desktop; a distribution's docker.io works from version 23 (Debian 12's is 20.10).";
/** `docker stack config` (deploy renders the stack with it) and version-less stack files came with the CLI 23. */
const MIN_CLI_MAJOR = 23;

/** Stops with the next step when the docker CLI is missing or too old, or the engine does not answer. */
export async function requireDocker(): Promise<string> {
  if (!(await which('docker', { nothrow: true }))) throw new StopError(`The docker CLI is missing. ${INSTALL_DOCKER}`);
  const client = (await q`docker version --format ${'{{.Client.Version}}'}`.nothrow().timeout('30s')).stdout.trim();
  if (Number.parseInt(client, 10) < MIN_CLI_MAJOR) {
    throw new StopError(
      `This docker CLI is ${client}; the lab needs ${MIN_CLI_MAJOR} or later (docker stack config). ${INSTALL_DOCKER}`,
    );
  }
  const info = await q`docker info --format ${'{{.ServerVersion}}'}`.nothrow().timeout('30s');
  if (info.exitCode !== 0 || !info.stdout.trim()) {
    throw new StopError(
      `The Docker engine does not answer (${lastLine(info.stderr) || 'docker info timed out'}).\n` +
        'Start it (systemctl start docker, or dockerd as root) or point DOCKER_HOST at one, then run this again.',
    );
  }
  return info.stdout.trim();
}

/** The image's id, or undefined when there is no such image. */
export async function imageId(ref: string): Promise<string | undefined> {
  const result = await q`docker image inspect --format ${'{{.Id}}'} ${ref}`.nothrow();
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

export async function imageSize(ref: string): Promise<number> {
  return Number((await run(q`docker image inspect --format ${'{{.Size}}'} ${ref}`)).stdout.trim());
}
