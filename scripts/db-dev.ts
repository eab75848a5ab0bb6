// `npm run db:dev`: the lab's data tier on this machine (3 etcd, 2 Patroni-managed PostgreSQL members,
// the HAProxy db-router) until Ctrl-C, described in .lab/db-dev.json for the db: commands.
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { DATABASE, SCOPE, startHaCluster, type HaCluster } from './lib/ha-cluster.js';
import { step, summary } from './lib/log.js';
import { DB_DEV_FILE, DB_DEV_SECRETS_DIR, readDbDevFile, type DbDevFile } from './lib/patroni.js';

const HELP = `
Usage: npm run db:dev

Starts the lab's data tier as local processes on 127.0.0.1 (free ports): three etcd members, two PostgreSQL
members under Patroni (synchronous replication) and the HAProxy db-router, from the same config files as the
images. Writes .lab/db-dev.json (the API URLs, router ports, password files; mode 600) and the passwords
under .lab/db-dev/ (mode 600), so that npm run db:status, db:switchover, db:failover and db:reinit find it with --local.
Ctrl-C stops everything, deletes the data and removes those files.

Options:
  -h, --help   show this help
`;

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const relative = (file: string) => path.relative(process.cwd(), file) || file;

async function writeState(cluster: HaCluster): Promise<DbDevFile> {
  await mkdir(DB_DEV_SECRETS_DIR, { recursive: true, mode: 0o700 });
  await chmod(DB_DEV_SECRETS_DIR, 0o700);
  const secret = async (name: string, value: string) => {
    const file = path.join(DB_DEV_SECRETS_DIR, name);
    await writeFile(file, value, { mode: 0o600 });
    await chmod(file, 0o600);
    return file;
  };
  const state: DbDevFile = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    scope: SCOPE,
    database: DATABASE,
    members: cluster.members.map((m) => ({ name: m.name, apiUrl: m.apiUrl, host: '127.0.0.1', pgPort: m.pgPort })),
    router: {
      host: '127.0.0.1',
      rwPort: cluster.router.rwPort,
      roPort: cluster.router.roPort,
      statsUrl: `http://127.0.0.1:${cluster.router.statsPort}/stats`,
    },
    passwordFiles: {
      restapi: await secret('patroni-api-password', cluster.passwords.restapi),
      postgres: await secret('postgres-password', cluster.passwords.superuser),
      app: await secret('app-password', cluster.passwords.app),
    },
  };
  await mkdir(path.dirname(DB_DEV_FILE), { recursive: true });
  await writeFile(DB_DEV_FILE, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(DB_DEV_FILE, 0o600);
  return state;
}

async function main() {
  parseFlags(process.argv.slice(2), {}, HELP);
  const existing = await readDbDevFile();
  if (existing && !existing.stale) {
    throw new StopError(
      `A db:dev cluster already runs (pid ${existing.state.pid}, see ${relative(DB_DEV_FILE)}). ` +
        'Use it (npm run db:status -- --local), or stop it with Ctrl-C in its terminal first.',
    );
  }

  // Handled from the start, and repeats ignored: Ctrl-C reaches this process from the terminal and from npm.
  let requestStop: (signal: string) => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  for (const signal of STOP_SIGNALS) process.on(signal, () => requestStop(signal));

  const cluster = await step('start 3 etcd, 2 Patroni members and the db-router (~10 s)', () => startHaCluster());
  try {
    const state = await step(`write ${relative(DB_DEV_FILE)} and the passwords`, () => writeState(cluster));
    summary('The data tier is running. Ctrl-C stops it and deletes its data.', {
      'rw (writes, app)': cluster.url('rw', 'app'),
      'ro (reads, app)': cluster.url('ro', 'app'),
      'Patroni API': state.members.map((m) => `${m.name} ${m.apiUrl}`).join(', '),
      'router stats': state.router.statsUrl,
      'REST password': `user patroni, in ${relative(state.passwordFiles.restapi)}`,
      'superuser psql': `psql ${cluster.url('rw', 'postgres')}`,
      'cluster file': relative(DB_DEV_FILE),
      try: 'npm run db:status -- --local   (then npm run db:switchover -- --local)',
    });
    const signal = await stopRequested;
    console.error(`\nstopping (${signal})`);
  } finally {
    await step('stop the data tier and delete its data', () => cluster.destroy());
    await step(`remove ${relative(DB_DEV_FILE)} and the passwords`, async () => {
      await rm(DB_DEV_FILE, { force: true });
      await rm(DB_DEV_SECRETS_DIR, { recursive: true, force: true });
    });
  }
}

await runCommand(main);
// The signal handlers keep no handle open; exit once cleanup is done even if a child's pipe lingers.
process.exit();
