// `npm run bench:lab`: how long the lab takes from nothing to all healthy (docker driver, images cached), how long a
// code-only redeploy takes, how many requests fail during its rolling update under load, and what a client writing
// through the edge sees when the PostgreSQL leader crashes. A benchmark, not a test: figures never fail it. It uses
// a lab directory of its own and removes its lab at the end.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { $ } from 'zx';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { formatMs, printTable, requireDocker } from './lib/docker.js';
import { findLab } from './lib/lab-context.js';
import { killServiceContainer, leaderByPatroni, storedTitles, writeThroughEdge } from './lib/lab-faults.js';
import { LabClient } from './lib/lab-https.js';
import { summary } from './lib/log.js';
import { labPaths } from './lib/lab-secrets.js';
import { REPO_ROOT } from './lib/paths.js';
import { steadyStream } from './lib/steady-stream.js';

const HELP = `
Usage: npm run bench:lab [-- --edge traefik|haproxy] [--replace] [--keep]

1. from nothing: lab:up + deploy, timed until every service is healthy and the smoke test passes;
2. a code-only redeploy (a new API image: a new commit id), timed, under a steady stream of authenticated reads
   through the edge (4 in flight, at least 2,000 requests), counting the failed ones;
3. the PostgreSQL leader's container killed (SIGKILL; Swarm restarts it) while a client writes items through the
   edge for 60 s, one after the other: the longest gap between two acknowledged writes, the answers by status, and
   acknowledged writes missing afterwards.
Aims: under 3 min, under 60 s, zero failed; no acknowledged write lost and no 500 (the gap is a figure). Uses its own LAB_DIR (a temporary folder) and the same host ports as
any lab: a lab already on this engine stops it unless --replace (which purges that lab first).

Options:
  --edge <e>   traefik (default) or haproxy where Traefik's image cannot be pulled
  --replace    purge a lab found on this engine first
  --keep       keep the lab at the end (default: lab:down --purge)
`;

const AIMS = { upMs: 180_000, redeployMs: 60_000 };

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      edge: { type: 'string', default: process.env.LAB_EDGE || 'traefik' },
      replace: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
    HELP,
  );
  await requireDocker();
  const existing = (await $({ quiet: true })`docker ps -aq --filter label=swarmlab.lab=node`).stdout.trim();
  if (existing && !flags.replace)
    throw new StopError('A lab runs on this engine: npm run lab:down -- --purge, or --replace.');
  const labDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-bench-'));
  let env: NodeJS.ProcessEnv = { ...process.env, LAB_DIR: labDir, FORCE_COLOR: '0', DOCKER_HOST: '' };
  const npm = async (script: string, ...args: string[]) => {
    const extra = args.length > 0 ? ['--', ...args] : [];
    const result = await $({ cwd: REPO_ROOT, env, stdio: 'inherit' })`npm run --silent ${script} ${extra}`.nothrow();
    if (result.exitCode !== 0)
      throw new StopError(`npm run ${script} ${args.join(' ')} failed (exit ${result.exitCode}): see above.`);
  };
  try {
    if (existing) await npm('lab:down', '--purge');
    await npm('images:seed'); // not timed: the aim is with images cached
    const upStarted = performance.now();
    await npm('lab:up');
    await npm('deploy', '--edge', flags.edge);
    const upMs = performance.now() - upStarted;

    const client = new LabClient(await readFile(path.join(labDir, 'ca/ca.crt')));
    const password = (await readFile(path.join(labDir, 'secrets/admin_password'), 'utf8')).trim();
    const login = await client.request({
      host: 'api',
      method: 'POST',
      path: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@lab.localhost', password }),
    });
    const token = (JSON.parse(login.body) as { accessToken: string }).accessToken;
    const stream = steadyStream(
      () => client.request({ host: 'api', path: '/v1/items?limit=5', headers: { authorization: `Bearer ${token}` } }),
      { minRequests: 2000, maxMs: 15 * 60_000 },
    );
    env = { ...env, GIT_SHA: `bench${Date.now().toString(16)}`.padEnd(40, '0') };
    const redeployStarted = performance.now();
    await npm('deploy', '--edge', flags.edge);
    const redeployMs = performance.now() - redeployStarted;
    const result = await stream.stop();

    const lab = await findLab(labPaths(labDir), env);
    const leader = await leaderByPatroni(lab);
    if (!leader) throw new StopError('No single PostgreSQL leader in the lab: see npm run lab:status.');
    const writes = writeThroughEdge(
      (title) =>
        client.request({
          host: 'api',
          method: 'POST',
          path: '/v1/items',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ title, body: '', tags: [] }),
        }),
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await killServiceContainer(lab, leader);
    const failover = await writes;
    const stored = new Set(await storedTitles(lab, failover.prefix));
    const lost = failover.acked.filter((title) => !stored.has(title)).length;
    client.close();

    printTable(
      'bench:lab (docker driver, images cached)',
      ['measure', 'value', 'aim'],
      [
        ['nothing → all healthy (lab:up + deploy)', formatMs(upMs), `< ${formatMs(AIMS.upMs)}`],
        ['code-only redeploy', formatMs(redeployMs), `< ${formatMs(AIMS.redeployMs)}`],
        ['requests during the rolling update', `${result.sent} sent, ${result.failed.length} failed`, '0 failed'],
        [`leader (${leader}) killed: longest gap between acknowledged writes`, formatMs(failover.longestGapMs), ''],
        [
          'writes through the edge during the failover',
          Object.entries(failover.byStatus)
            .map(([status, n]) => `${n} × ${status}`)
            .join(', '),
          'no 500',
        ],
        ['acknowledged writes lost', String(lost), '0'],
      ],
    );
    summary('Aims', {
      'from nothing': upMs < AIMS.upMs ? 'met' : 'missed',
      redeploy: redeployMs < AIMS.redeployMs ? 'met' : 'missed',
      'zero failed': result.failed.length === 0 ? 'met' : `missed: ${result.failed.slice(0, 3).join(' | ')}`,
      failover:
        lost === 0 && !failover.byStatus['500']
          ? 'met'
          : `missed: ${lost} lost, ${failover.byStatus['500'] ?? 0} × 500`,
    });
  } finally {
    if (!flags.keep) await npm('lab:down', '--purge').catch(() => undefined);
    if (!flags.keep) await rm(labDir, { recursive: true, force: true });
  }
}

await runCommand(main);
