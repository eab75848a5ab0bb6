// `npm run api:dev`: the API with live reload against a throwaway, migrated PostgreSQL, ready to log in to.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { ADMIN_EMAIL, apiEnv, startDevDatabase, writeApiSecrets } from './lib/dev-database.js';
import { REPO_ROOT } from './lib/paths.js';
import { step, summary } from './lib/log.js';

const HELP = `
Usage: npm run api:dev [-- --port <n>]

Starts a throwaway PostgreSQL (database swarmlab, the lab roles, migrated), writes a JWT secret and an admin
password under .lab/dev/ (mode 600), and runs the API with \`tsx watch\`: it restarts when you save a file.
Ctrl-C stops the API and deletes the database.

Options:
  --port <n>   port of the API on 127.0.0.1 (env PORT; default 3000)
  -h, --help   show this help
`;

const SECRETS_DIR = path.join(REPO_ROOT, '.lab/dev');
const API_DIR = path.join(REPO_ROOT, 'api');
const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

async function requireFreePort(port: number) {
  const server = createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  } catch {
    throw new StopError(`Port ${port} on 127.0.0.1 is in use. Stop what runs there, or pick another: --port <n>.`);
  } finally {
    server.close();
  }
}

/** Polls /healthz until the API answers; fails early if the watcher itself exits or a stop is requested. */
async function waitForApi(url: string, api: ChildProcess, stopReason: () => string | undefined) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (api.exitCode !== null || api.signalCode !== null) throw new Error('tsx watch exited; see its output above');
    const reason = stopReason();
    if (reason) throw new StopError(`stopped while starting (${reason})`);
    const response = await fetch(`${url}/healthz`).catch(() => undefined);
    if (response?.ok) return;
    await sleep(250);
  }
  throw new Error(`the API did not answer on ${url}/healthz within ${START_TIMEOUT_MS / 1000} s; see its output above`);
}

/** SIGTERM to tsx watch, which passes it on to the API for a graceful shutdown; SIGKILL to the group if stuck. */
async function stopApi(api: ChildProcess) {
  if (api.exitCode !== null || api.signalCode !== null) return;
  const exited = once(api, 'exit');
  api.kill('SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS, false, { ref: false })]);
  if (!stopped) {
    process.kill(-api.pid!, 'SIGKILL');
    await exited;
  }
}

async function main() {
  const flags = parseFlags(process.argv.slice(2), { port: { type: 'string' } }, HELP);
  const port = intFlag('port', flags.port ?? process.env.PORT ?? '3000', 1, 65_535);
  const url = `http://127.0.0.1:${port}`;
  await requireFreePort(port);

  // Handled from the start, and repeats ignored: Ctrl-C reaches this process both from the terminal and from npm.
  let stopReason: string | undefined;
  let requestStop: (reason: string) => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  for (const signal of STOP_SIGNALS) process.on(signal, () => requestStop((stopReason ??= signal)));

  const db = await startDevDatabase();
  let api: ChildProcess | undefined;
  try {
    const secrets = await step('write secrets to .lab/dev', () => writeApiSecrets(SECRETS_DIR));
    await step('start the API (tsx watch)', async () => {
      // Its own process group, so Ctrl-C reaches it once, through stopApi(), not also from the terminal.
      api = spawn(TSX, ['watch', '--clear-screen=false', 'src/server.ts'], {
        cwd: API_DIR,
        env: { ...process.env, ...apiEnv(db, secrets), NODE_ENV: 'development', HOST: '127.0.0.1', PORT: String(port) },
        stdio: ['ignore', 'inherit', 'inherit'],
        detached: true,
      });
      api.on('exit', (code, signal) =>
        requestStop((stopReason ??= `the API watcher exited (${signal ?? `code ${code}`})`)),
      );
      await waitForApi(url, api, () => stopReason);
    });

    const login = JSON.stringify({ email: ADMIN_EMAIL, password: secrets.adminPassword });
    summary('The API is running (reloads on save). Ctrl-C stops it and deletes the database.', {
      API: url,
      Docs: `${url}/docs`,
      'Admin email': ADMIN_EMAIL,
      'Admin password': `${secrets.adminPassword}  (also in ${path.relative(process.cwd(), secrets.adminPasswordFile)})`,
      'Log in': `curl -s ${url}/v1/auth/login -H 'content-type: application/json' -d '${login}'`,
      psql: `psql ${db.urls.superuser}`,
    });

    const reason = await stopRequested;
    console.error(`\nstopping (${reason})`);
    if (!(STOP_SIGNALS as readonly string[]).includes(reason)) process.exitCode = 1;
  } finally {
    if (api) await step('stop the API', () => stopApi(api!));
    await step('delete the database', () => db.cluster.destroy());
  }
}

await runCommand(main);
