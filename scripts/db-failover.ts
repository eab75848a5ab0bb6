// `npm run db:failover -- --candidate NAME`: a forced change of leader, for when a switchover is refused or the
// leader misbehaves. Patroni promotes the named member whatever the leader's state.
import { performance } from 'node:perf_hooks';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { step, summary } from './lib/log.js';
import {
  confirm,
  findMember,
  formatBytes,
  formatSeconds,
  clientFromFlags,
  LOCATE_FLAGS,
  roleLabel,
  streamsFrom,
  waitFor,
} from './lib/patroni.js';

const HELP = `
Usage: npm run db:failover -- --candidate NAME [--yes]

Forced failover: Patroni promotes the named member at once; a running leader is demoted and rejoins as its
replica. Waits until the new leader runs and the old one streams from it, and prints the time taken.
Prefer npm run db:switchover while the leader is healthy. Asks for confirmation unless --yes.

The cluster: the deployed lab (through node1's Docker API: npm run lab or vagrant up, then npm run deploy); with
--local the cluster that \`npm run db:dev\` runs (.lab/db-dev.json); or --api, or PATRONI_API_URL.
The REST password: --api-password-file, else PATRONI_API_PASSWORD_FILE, else the lab's secret (or db:dev's).

Options:
  --candidate <name>          the member to promote (required)
  --yes                       do not ask (required when not run from a terminal)
  --timeout <s>               how long to wait for the cluster to settle (default 120)
  --local                     the cluster of npm run db:dev instead of the lab
  --api <url>                 a Patroni REST API (any member; comma-separate several)
  --api-password-file <file>  the file holding the REST password of user patroni
  -h, --help                  show this help
`;

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
  const members = view.members.map((m) => `${m.name} (${roleLabel(m.role)}, ${m.state})`).join(', ');
  if (!flags.candidate) {
    throw new StopError(
      `--candidate NAME is required: a forced failover promotes the member you name. Members: ${members}. ` +
        'To let Patroni pick the synchronous standby: npm run db:switchover.',
    );
  }
  const candidate = findMember(view, flags.candidate);
  const leader = view.leader;
  if (candidate.role === 'leader') {
    throw new StopError(`${candidate.name} is already the leader: nothing to fail over. See npm run db:status.`);
  }
  if (candidate.state !== 'running') {
    throw new StopError(
      `Cannot promote ${candidate.name}: it is ${candidate.state}, not running. ` +
        `Start it (it rejoins as a replica) or rebuild it with npm run db:reinit -- ${candidate.name}.`,
    );
  }
  if (candidate.tags.nofailover === true) {
    throw new StopError(`Cannot promote ${candidate.name}: it is tagged nofailover in its Patroni config.`);
  }
  if (config.synchronous_mode && leader?.state === 'running' && candidate.role !== 'sync_standby') {
    const sync = view.members.find((m) => m.role === 'sync_standby')?.name ?? 'none';
    throw new StopError(
      `Cannot promote ${candidate.name}: it is not the synchronous standby (that is ${sync}), and while the ` +
        'leader runs in synchronous mode Patroni promotes only that one. Wait until npm run db:status shows it ' +
        'as sync standby.',
    );
  }
  const risk =
    candidate.lag === undefined
      ? ' Its lag is unknown: writes it has not received are lost.'
      : candidate.lag > 0
        ? ` It is ${formatBytes(candidate.lag)} behind: those writes are lost.`
        : '';

  await confirm(
    `Force ${candidate.name} to lead${leader ? ` (${leader.name} is demoted at once)` : ''}?${risk}`,
    flags.yes,
  );
  const started = performance.now();
  const answer = await step(`fail over to ${candidate.name}`, () => client.failover(candidate));
  const leaderAfter = performance.now() - started;
  const newLeader = /"([^"]+)"/.exec(answer)?.[1] ?? candidate.name;

  const oldLeader = leader?.state === 'running' ? leader.name : undefined;
  if (oldLeader) {
    await step(`wait until ${newLeader} leads and ${oldLeader} streams from it`, () =>
      waitFor(
        `${oldLeader} to stream from ${newLeader}`,
        timeoutMs,
        `The leader is ${newLeader}, but ${oldLeader} has not rejoined: see npm run db:status and its Patroni log; ` +
          `if it stays behind, rebuild it with npm run db:reinit -- ${oldLeader}.`,
        () => streamsFrom(client, newLeader, oldLeader),
      ),
    );
  } else {
    await step(`wait until ${newLeader} leads`, () =>
      waitFor(`${newLeader} to lead`, timeoutMs, 'See npm run db:status and its Patroni log.', async () => {
        const now = await client.cluster();
        return now.leader?.name === newLeader && now.leader.state === 'running' ? now : undefined;
      }),
    );
  }
  const took = performance.now() - started;

  summary('Failed over', {
    leader: `${newLeader} (was ${leader?.name ?? 'none'})`,
    Patroni: answer,
    'new leader after': formatSeconds(leaderAfter),
    took: oldLeader
      ? `${formatSeconds(took)} (until ${oldLeader} streams from ${newLeader})`
      : `${formatSeconds(took)} (until ${newLeader} runs as leader)`,
    next:
      leader && !oldLeader
        ? `start ${leader.name}: it rejoins as a replica; then npm run db:status`
        : 'npm run db:status',
  });
}

await runCommand(main);
