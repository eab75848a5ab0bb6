// `npm run db:switchover`: a planned change of leader. Patroni hands over to the synchronous standby, which
// has every acknowledged commit, so nothing is lost; writes pause for a few seconds.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { step, summary } from './lib/log.js';
import {
  confirm,
  findMember,
  formatSeconds,
  clientFromFlags,
  LOCATE_FLAGS,
  PatroniClient,
  promotionProblem,
  streamsFrom,
  waitFor,
  type ClusterConfig,
  type ClusterView,
  type Member,
} from './lib/patroni.js';

const HELP = `
Usage: npm run db:switchover -- [--candidate NAME] [--yes]

Planned switchover: the leader hands over to a healthy replica (the synchronous standby by default) and
rejoins as its replica. Waits until the new leader runs and the old one streams from it, and prints the time
taken. Refuses, with the reason, when no member is fit to lead. Asks for confirmation unless --yes.

The cluster: the deployed lab (through node1's Docker API: npm run lab or vagrant up, then npm run deploy); with
--local the cluster that \`npm run db:dev\` runs (.lab/db-dev.json); or --api, or PATRONI_API_URL.
The REST password: --api-password-file, else PATRONI_API_PASSWORD_FILE, else the lab's secret (or db:dev's).

Options:
  --candidate <name>          the member to promote (default: the synchronous standby)
  --yes                       do not ask (required when not run from a terminal)
  --timeout <s>               how long to wait for the cluster to settle (default 120)
  --local                     the cluster of npm run db:dev instead of the lab
  --api <url>                 a Patroni REST API (any member; comma-separate several)
  --api-password-file <file>  the file holding the REST password of user patroni
  -h, --help                  show this help
`;

// Patroni marks a streaming replica as the synchronous standby a few seconds after it catches up.
const SYNC_GRACE_MS = 20_000;

/** The member to promote, or a StopError saying why there is none. */
async function pickCandidate(
  client: PatroniClient,
  initial: ClusterView,
  config: ClusterConfig,
  wanted: string | undefined,
): Promise<Member> {
  const maxLag = config.maximum_lag_on_failover;
  const deadline = Date.now() + SYNC_GRACE_MS;
  let view = initial;
  for (;;) {
    const replicas = view.members.filter((m) => m.role !== 'leader');
    const pool = wanted ? [findMember(view, wanted)] : replicas;
    const problems = pool.map((m) => promotionProblem(view, m, maxLag));
    const healthy = pool.filter((_, i) => problems[i] === undefined);
    const fit = config.synchronous_mode ? healthy.filter((m) => m.role === 'sync_standby') : healthy;
    if (fit.length > 0) return fit.sort((a, b) => (a.lag ?? 0) - (b.lag ?? 0))[0]!;

    // A healthy replica not yet marked synchronous: give Patroni a moment, then say so.
    if (healthy.length > 0 && Date.now() < deadline) {
      await sleep(1_000);
      view = await client.cluster();
      continue;
    }
    if (pool.length === 0) {
      throw new StopError(
        'No replica to switch over to: the leader is alone. Start the other member (it rejoins as a replica), ' +
          'then check with npm run db:status.',
      );
    }
    const reasons = problems.filter((p): p is string => p !== undefined);
    if (healthy.length > 0) {
      const sync = view.members.find((m) => m.role === 'sync_standby')?.name ?? 'none';
      reasons.push(
        ...healthy.map(
          (m) =>
            `${m.name} is not the synchronous standby (that is ${sync}), and in synchronous mode Patroni ` +
            'hands over only to it',
        ),
      );
    }
    throw new StopError(
      `No healthy candidate to switch over to: ${reasons.join('; ')}. ` +
        'Check npm run db:status; a replica that does not stream can be rebuilt with npm run db:reinit -- NAME.',
    );
  }
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      candidate: { type: 'string' },
      yes: { type: 'boolean' },
      timeout: { type: 'string' },
      ...LOCATE_FLAGS,
    },
    HELP,
  );
  const timeoutMs = intFlag('timeout', flags.timeout ?? '120', 10, 3_600) * 1_000;
  const client = await clientFromFlags(flags);

  const { view, config } = await step('read the cluster', async () => ({
    view: await client.cluster(),
    config: await client.config(),
  }));
  const leader = view.leader;
  if (!leader || leader.state !== 'running') {
    throw new StopError(
      `No running leader to switch over from (${leader ? `${leader.name} is ${leader.state}` : 'none'}). ` +
        'A switchover is planned and needs one; to promote a replica now: npm run db:failover -- --candidate NAME.',
    );
  }
  const candidate = await step('choose the member to promote', () =>
    pickCandidate(client, view, config, flags.candidate),
  );

  await confirm(
    `Switch over from ${leader.name} to ${candidate.name}? Writes pause for a few seconds; ${leader.name} becomes a replica.`,
    flags.yes,
  );
  const started = performance.now();
  const answer = await step(`switch over from ${leader.name} to ${candidate.name}`, () =>
    client.switchover(leader, candidate),
  );
  const leaderAfter = performance.now() - started;
  // "Successfully switched over to "x"" or "Switched over to "x" instead of "y"": the first name is the leader.
  const newLeader = /"([^"]+)"/.exec(answer)?.[1] ?? candidate.name;
  await step(`wait until ${newLeader} leads and ${leader.name} streams from it`, () =>
    waitFor(
      `${leader.name} to stream from ${newLeader}`,
      timeoutMs,
      `The leader is ${newLeader}, but ${leader.name} has not rejoined: see npm run db:status and its Patroni log; ` +
        `if it stays behind, rebuild it with npm run db:reinit -- ${leader.name}.`,
      () => streamsFrom(client, newLeader, leader.name),
    ),
  );
  const took = performance.now() - started;

  summary('Switched over', {
    leader: `${newLeader} (was ${leader.name})`,
    Patroni: answer,
    'new leader after': formatSeconds(leaderAfter),
    took: `${formatSeconds(took)} (until ${leader.name} streams from ${newLeader})`,
    next: 'npm run db:status',
  });
}

await runCommand(main);
