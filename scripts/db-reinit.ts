// `npm run db:reinit -- MEMBER`: rebuild a replica that cannot catch up: Patroni deletes its data directory and
// clones the leader again. Never the leader.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { intFlag, runCommand, StopError } from './lib/cli.js';
import { step, summary } from './lib/log.js';
import {
  confirm,
  findMember,
  formatSeconds,
  clientFromFlags,
  LOCATE_FLAGS,
  streamsFrom,
  waitFor,
} from './lib/patroni.js';

const HELP = `
Usage: npm run db:reinit -- MEMBER [--yes]

Reinitializes a replica: Patroni on MEMBER stops PostgreSQL, deletes its data directory and clones the
leader again (pg_basebackup). Waits until it streams from the leader again. Refuses the leader. Asks for
confirmation unless --yes.

The cluster: the deployed lab (through node1's Docker API: npm run lab or vagrant up, then npm run deploy); with
--local the cluster that \`npm run db:dev\` runs (.lab/db-dev.json); or --api, or PATRONI_API_URL.
The REST password: --api-password-file, else PATRONI_API_PASSWORD_FILE, else the lab's secret (or db:dev's).

Options:
  --yes                       do not ask (required when not run from a terminal)
  --timeout <s>               how long to wait for it to stream again (default 300)
  --local                     the cluster of npm run db:dev instead of the lab
  --api <url>                 a Patroni REST API (any member; comma-separate several)
  --api-password-file <file>  the file holding the REST password of user patroni
  -h, --help                  show this help
`;

function parse(argv: string[]) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP.trim());
    process.exit(0);
  }
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        yes: { type: 'boolean' },
        timeout: { type: 'string' },
        ...LOCATE_FLAGS,
      },
    });
    if (positionals.length !== 1) throw new Error('Name exactly one member: npm run db:reinit -- MEMBER.');
    return { ...values, member: positionals[0]! };
  } catch (error) {
    throw new StopError(`${(error as Error).message}\nSee --help.`);
  }
}

async function main() {
  const flags = parse(process.argv.slice(2));
  const timeoutMs = intFlag('timeout', flags.timeout ?? '300', 10, 24 * 3_600) * 1_000;
  const client = await clientFromFlags(flags);

  const view = await step('read the cluster', () => client.cluster());
  const member = findMember(view, flags.member);
  const leader = view.leader;
  if (member.role === 'leader') {
    throw new StopError(
      `${member.name} is the leader: it is never reinitialized (its data is the cluster's). To rebuild it, ` +
        `move the leadership first (npm run db:switchover), then npm run db:reinit -- ${member.name}.`,
    );
  }
  if (!leader || leader.state !== 'running') {
    throw new StopError(
      `No running leader to clone ${member.name} from. Get a leader first (npm run db:status shows why there is none).`,
    );
  }
  const before = await client.memberStatus(member);

  await confirm(
    `Reinitialize ${member.name}? Its data directory is deleted and cloned again from ${leader.name}.`,
    flags.yes,
  );
  const started = performance.now();
  const answer = await step(`reinitialize ${member.name}`, () => client.reinitialize(member));
  await step(`wait until ${member.name} is cloned and streams from ${leader.name}`, () =>
    waitFor(
      `${member.name} to stream from ${leader.name}`,
      timeoutMs,
      `See npm run db:status and ${member.name}'s Patroni log (pg_basebackup errors show there); ` +
        `then try again: npm run db:reinit -- ${member.name}.`,
      async () => {
        const now = await client.memberStatus(member);
        // A new postmaster: the clone happened, not just the old server still answering.
        const restarted =
          now?.state === 'running' &&
          now.postmaster_start_time !== undefined &&
          now.postmaster_start_time !== before?.postmaster_start_time;
        return restarted ? streamsFrom(client, leader.name, member.name) : undefined;
      },
    ),
  );

  summary('Reinitialized', {
    member: `${member.name}, streaming from ${leader.name}`,
    Patroni: answer,
    took: formatSeconds(performance.now() - started),
    next: 'npm run db:status',
  });
}

await runCommand(main);
