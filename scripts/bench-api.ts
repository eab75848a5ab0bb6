// `npm run bench:api`: throughput and latency of the API's users endpoints next to a minimal node:http + pg
// server doing the same queries, on a throwaway database. A benchmark, not a test: figures never fail it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { loadConfig } from '../api/src/config.js';
import { createLogger } from '../api/src/lib/logger.js';
import { startServer } from '../api/src/start.js';
import { startBaselineServer } from './lib/baseline-server.js';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { ADMIN_EMAIL, apiEnv, startDevDatabase, writeApiSecrets } from './lib/dev-database.js';
import { fillTemplate, runLoad, type LoadJob, type LoadResult } from './lib/load.js';
import { step } from './lib/log.js';

const HELP = `
Usage: npm run bench:api [-- --duration <s>] [-- --connections <n>]

Starts a throwaway PostgreSQL (the lab database, migrated) with 1,000 users, the real API in-process and a
minimal node:http + pg baseline, then for each users endpoint and each server: the max throughput
(autocannon, all on 127.0.0.1), and p50/p99 latency at half that rate. Prints a table and whether the aims hold.
With the defaults it takes about 2.5 minutes. Exits 0 whatever the figures; 1 only if something broke.

Options:
  --duration <s>      seconds of each measured run (default 10)
  --connections <n>   concurrent connections (default 50)
  -h, --help          show this help
`;

const SEED_USERS = 1000;
// The API logs as in production (an access line per request), to a sink: the cost counts, the noise does not.
const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
const WARM_UP_SECONDS = 2;
const AIMS = { listRatio: 0.6, p99Ms: 25 };

interface Endpoint {
  name: string;
  method: LoadJob['method'];
  path: string;
  body?: string;
}

const ENDPOINTS: Endpoint[] = [
  { name: 'list 20 users', method: 'GET', path: '/v1/users?limit=20' },
  { name: 'get user by id', method: 'GET', path: '/v1/users/{userId}' },
  {
    name: 'create user',
    method: 'POST',
    path: '/v1/users',
    body: JSON.stringify({ email: 'bench-{seq}@lab.localhost', name: 'Bench User', password: 'bench-password-0123' }),
  },
];

interface Row {
  endpoint: string;
  server: 'api' | 'baseline';
  max: LoadResult;
  half: LoadResult;
}

async function seedUsers(databaseUrl: string) {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  try {
    await client.query(
      `INSERT INTO app.users (email, name)
       SELECT 'seed-' || i || '@lab.localhost', 'Seed User ' || i FROM generate_series(1, $1::int) AS i`,
      [SEED_USERS],
    );
    const { rows } = await client.query('SELECT min(id) AS min, max(id) AS max FROM app.users');
    return { min: Number(rows[0].min), max: Number(rows[0].max) };
  } finally {
    await client.end();
  }
}

async function logIn(origin: string, password: string) {
  const response = await fetch(`${origin}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: ADMIN_EMAIL, password }),
  });
  if (!response.ok) throw new Error(`admin login failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { accessToken: string }).accessToken;
}

/** One request of each kind, so a missing route or a refused token stops the run before any figure. */
async function preflight(job: LoadJob, server: string) {
  const response = await fetch(`${job.origin}${fillTemplate(job.path, job, '')}`, {
    method: job.method,
    headers: { ...job.headers, ...(job.body ? { 'content-type': 'application/json' } : {}) },
    ...(job.body ? { body: fillTemplate(job.body, job, `preflight-${server}`) } : {}),
  });
  if (!response.ok) {
    throw new Error(`${server} ${job.method} ${job.path} answered ${response.status}: ${await response.text()}`);
  }
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const verdict = (holds: boolean) => (holds ? 'holds' : 'MISSED');

function printTable(rows: Row[]) {
  const header = ['endpoint', 'server', 'max req/s', 'p50 @ half', 'p99 @ half', 'API/baseline', 'failures'];
  const lines = rows.map((row) => {
    const baseline = rows.find((other) => other.endpoint === row.endpoint && other.server === 'baseline')!;
    const ratio = row.server === 'api' ? (row.max.requestsPerSecond / baseline.max.requestsPerSecond).toFixed(2) : '';
    return [
      row.endpoint,
      row.server,
      row.max.requestsPerSecond.toFixed(0),
      ms(row.half.p50),
      ms(row.half.p99),
      ratio,
      String(row.max.failures + row.half.failures),
    ];
  });
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)));
  const format = (cells: string[]) =>
    cells.map((cell, i) => (i < 2 ? cell.padEnd : cell.padStart).call(cell, widths[i]!)).join('  ');
  console.log(`\n${format(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const line of lines) console.log(format(line));
}

function printAims(rows: Row[]) {
  const api = (endpoint: string) => rows.find((row) => row.endpoint === endpoint && row.server === 'api')!;
  const baseline = rows.find((row) => row.endpoint === ENDPOINTS[0]!.name && row.server === 'baseline')!;
  const ratio = api(ENDPOINTS[0]!.name).max.requestsPerSecond / baseline.max.requestsPerSecond;
  console.log('\nAims');
  console.log(
    `  list: API throughput >= ${AIMS.listRatio} x baseline   ${verdict(ratio >= AIMS.listRatio)} (${ratio.toFixed(2)})`,
  );
  for (const { name } of ENDPOINTS) {
    const p99 = api(name).half.p99;
    console.log(`  ${name}: API p99 < ${AIMS.p99Ms} ms at half max rate   ${verdict(p99 < AIMS.p99Ms)} (${ms(p99)})`);
  }
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    { duration: { type: 'string' }, connections: { type: 'string' } },
    HELP,
  );
  const durationSeconds = intFlag('duration', flags.duration ?? '10', 1, 120);
  const connections = intFlag('connections', flags.connections ?? '50', 1, 1000);

  // Ctrl-C stops the current run; the finally below still deletes the database.
  const interrupt = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => interrupt.abort(new StopError(`Interrupted (${signal}); the database was deleted.`)));
  }

  const db = await startDevDatabase();
  const secretsDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-bench-'));
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const userIds = await step(`seed ${SEED_USERS} users`, () => seedUsers(db.urls.superuser));
    const secrets = await writeApiSecrets(secretsDir);
    const config = loadConfig({
      ...apiEnv(db, secrets),
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'http',
    });
    const servers = await step('start the API and the baseline', async () => {
      const api = await startServer(config, createLogger({ level: 'http', service: 'bench-api', stream: discard }));
      stops.push(() => api.shutdown('bench done'));
      const baseline = await startBaselineServer({ databaseUrl: db.urls.app, poolMax: config.db.poolMax });
      stops.push(() => baseline.close());
      return { api: `http://127.0.0.1:${api.port}`, baseline: baseline.origin };
    });
    const token = await step('log in as admin', () => logIn(servers.api, secrets.adminPassword));

    const auth: Record<'api' | 'baseline', Record<string, string>> = {
      api: { authorization: `Bearer ${token}` },
      baseline: {},
    };
    const jobs = ENDPOINTS.flatMap(({ name, ...request }) =>
      (['api', 'baseline'] as const).map((server) => {
        const job: LoadJob = {
          ...request,
          origin: servers[server],
          headers: auth[server],
          userIds,
          connections,
          durationSeconds,
        };
        return { endpoint: name, server, job };
      }),
    );
    await step('check every endpoint answers', () =>
      Promise.all(jobs.map(({ job, server }) => preflight(job, server))),
    );

    const rows: Row[] = [];
    for (const { endpoint, server, job } of jobs) {
      const row = await step(`${endpoint} · ${server}`, async () => {
        const max = await runLoad({ ...job, warmUpSeconds: WARM_UP_SECONDS }, interrupt.signal);
        const rate = Math.max(1, Math.round(max.requestsPerSecond / 2));
        const half = await runLoad({ ...job, rate }, interrupt.signal);
        return { endpoint, server, max, half };
      });
      console.error(
        `  max ${row.max.requestsPerSecond.toFixed(0)} req/s; at half: p50 ${ms(row.half.p50)}, p99 ${ms(row.half.p99)}`,
      );
      rows.push(row);
    }
    printTable(rows);
    printAims(rows);
    console.log(
      `\nmax: ${connections} connections for ${durationSeconds} s after ${WARM_UP_SECONDS} s of warm-up; ` +
        `@ half: half that rate for ${durationSeconds} s, paced over up to ${connections} staggered connections.`,
    );
  } catch (error) {
    throw interrupt.signal.aborted ? interrupt.signal.reason : error;
  } finally {
    for (const stop of stops.reverse()) await stop();
    await db.cluster.destroy();
    await rm(secretsDir, { recursive: true, force: true });
  }
}

await runCommand(main);
