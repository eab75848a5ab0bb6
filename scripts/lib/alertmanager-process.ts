// Real Prometheus-family daemons for tests: Debian's prometheus-alertmanager (and, through startDaemon, prometheus
// itself) as child processes on a free 127.0.0.1 port, with a generated configuration and their own temporary
// directory. Each handle's stop() ends the process and removes its directory, and is safe to call twice.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireDebianTools } from './debian-tools.js';
import { freePort } from './pushgateway.js';

export interface Daemon {
  url: string;
  port: number;
  /** Its own temporary directory (configuration, storage), removed by stop(). */
  dir: string;
  /** What it wrote on stdout and stderr so far. */
  log(): string;
  /** SIGTERM (SIGKILL after 10 s), waits for the exit, removes its directory. */
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** The command on PATH (prometheus, prometheus-alertmanager). */
  command: string;
  /** Its configuration, written as <dir>/<configName>: JSON is YAML, so there is no quoting to get wrong. */
  config: object;
  configName: string;
  /** Its command line, given the configuration file, its directory and its port. */
  args: (where: { configFile: string; dir: string; port: number }) => string[];
  readyTimeoutMs?: number;
}

/** Starts a daemon that answers GET /-/ready (Prometheus, Alertmanager, Pushgateway) and waits until it is ready. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const dir = await mkdtemp(path.join(tmpdir(), `swarmlab-${options.command}-`));
  const configFile = path.join(dir, options.configName);
  await writeFile(configFile, JSON.stringify(options.config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  let output = '';
  const child = spawn(options.command, options.args({ configFile, dir, port }), { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.on('error', (error) => (output += `\n${error.message}\n`));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;

  let stopped: Promise<void> | undefined;
  const daemon: Daemon = {
    url,
    port,
    dir,
    log: () => output,
    stop: () =>
      (stopped ??= (async () => {
        if (running()) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      })()),
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return daemon;
    if (!running() || child.pid === undefined || Date.now() > deadline) {
      await daemon.stop();
      const why = running() ? 'did not become ready in time' : 'exited';
      throw new Error(`${options.command} on ${url} ${why}:\n${output.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Debian's Alertmanager (0.25) with `config` (route, receivers, ...), clustering off (`--cluster.listen-address=`:
 * no gossip port, no peers to wait for) and its storage in its own temporary directory.
 */
export async function startAlertmanager(config: object): Promise<Daemon> {
  await requireDebianTools({ 'prometheus-alertmanager': 'prometheus-alertmanager' });
  return startDaemon({
    command: 'prometheus-alertmanager',
    config,
    configName: 'alertmanager.yml',
    args: ({ configFile, dir, port }) => [
      `--config.file=${configFile}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
  });
}
