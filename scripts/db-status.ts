// `npm run db:status`: the data tier at a glance: members, roles, lag, timeline, synchronous mode, and where
// the db-router sends writes and reads. Exits 1 when no member leads.
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { step, summary } from './lib/log.js';
import {
  formatBytes,
  formatTable,
  locateCluster,
  LOCATE_FLAGS,
  PatroniClient,
  roleLabel,
  routerTargets,
  type ClusterConfig,
  type ClusterView,
  type Member,
  type MemberStatus,
  type RouterTargets,
} from './lib/patroni.js';

const HELP = `
Usage: npm run db:status [-- --json] [--local | --api URL]

Shows the PostgreSQL members that Patroni manages: name, role (leader, sync standby, replica), state, what
each member's PostgreSQL runs as (asked of the member itself), host:port, timeline and replication lag; the
cluster's scope and whether synchronous mode is on; and where the db-router sends writes (rw) and reads (ro)
when its stats page is known. Exits 1 when no member accepts writes.

The cluster: the deployed lab (through node1's Docker API: npm run lab or vagrant up, then npm run deploy); with
--local the cluster that \`npm run db:dev\` runs (.lab/db-dev.json); or --api, or PATRONI_API_URL.

Options:
  --local                     the cluster of npm run db:dev instead of the lab
  --api <url>                 a Patroni REST API (any member; comma-separate several)
  --api-password-file <file>  accepted for symmetry with the other db: commands; not needed to read
  --router-stats <url>        the db-router's HAProxy stats page (env DB_ROUTER_STATS_URL), e.g. http://127.0.0.1:8404/stats
  --json                      print the status as JSON for machines
  -h, --help                  show this help
`;

const NEXT_NO_LEADER =
  'A new leader is normally elected within ~10 s; if not, check that etcd has quorum and read the members’ ' +
  'Patroni logs, then run npm run db:status again.';

/** What the member's own Patroni says its PostgreSQL is: /cluster comes from etcd and can be stale. */
function postgresRole(status: MemberStatus | undefined) {
  if (!status) return 'no answer';
  if (status.role === 'master' || status.role === 'primary') return 'primary';
  return status.role;
}

function lagLabel(member: Member, leaderTimeline: number | undefined) {
  if (member.role === 'leader') return '';
  if (member.lag === undefined) return 'unknown';
  const behind = leaderTimeline !== undefined && member.timeline !== leaderTimeline ? ' (older timeline)' : '';
  return `${formatBytes(member.lag)}${behind}`;
}

function printTable(view: ClusterView, statuses: (MemberStatus | undefined)[]) {
  const leaderTimeline = view.leader?.timeline;
  const rows = view.members.map((m, i) => [
    m.name,
    roleLabel(m.role),
    m.state,
    postgresRole(statuses[i]),
    `${m.host}:${m.port}`,
    m.timeline === undefined ? '?' : String(m.timeline),
    lagLabel(m, leaderTimeline),
  ]);
  console.log(formatTable(['member', 'role', 'state', 'postgres', 'host:port', 'timeline', 'lag'], rows, [5, 6]));
}

function syncModeLabel(config: ClusterConfig) {
  if (!config.synchronous_mode) return 'off (a commit is acknowledged before a replica has it)';
  return config.synchronous_mode_strict ? 'on, strict' : 'on';
}

/** Why no member accepts writes, or undefined when the leader does. */
function leaderProblem(view: ClusterView, leaderStatus: MemberStatus | undefined): string | undefined {
  const leader = view.leader;
  if (!leader) return 'No leader: the cluster accepts no writes.';
  if (leader.state !== 'running')
    return `No running leader: ${leader.name} is ${leader.state}; writes fail until it runs.`;
  const actual = postgresRole(leaderStatus);
  if (!leaderStatus) {
    return `No leader confirmed: ${leader.name} holds the leader key but its Patroni REST API does not answer.`;
  }
  if (actual !== 'primary') {
    return (
      `No leader: the last known leader ${leader.name} now runs its PostgreSQL as ${actual} (Patroni demotes a ` +
      'leader that cannot renew its lock in etcd), so the cluster accepts no writes.'
    );
  }
  return undefined;
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      ...LOCATE_FLAGS,
      'router-stats': { type: 'string' },
      json: { type: 'boolean' },
    },
    HELP,
  );
  const location = await locateCluster({
    local: flags.local,
    api: flags.api,
    apiPasswordFile: flags['api-password-file'],
    routerStats: flags['router-stats'],
  });
  const client = new PatroniClient(location);

  const { view, config, statuses, router } = await step(`ask Patroni (${location.from})`, async () => {
    const view = await client.cluster();
    const config = await client.config();
    const statuses = await Promise.all(view.members.map((m) => client.memberStatus(m)));
    const router: RouterTargets | undefined = location.routerStatsUrl
      ? await routerTargets(location.http, location.routerStatsUrl, view.members)
      : undefined;
    return { view, config, statuses, router };
  });
  const scope = statuses.find((s) => s?.patroni?.scope)?.patroni?.scope ?? '?';
  const problem = leaderProblem(view, statuses[view.members.findIndex((m) => m === view.leader)]);

  if (flags.json) {
    const status = {
      scope,
      synchronousMode: Boolean(config.synchronous_mode),
      synchronousModeStrict: Boolean(config.synchronous_mode_strict),
      leader: problem ? null : view.leader!.name,
      problem: problem ?? null,
      members: view.members.map((m, i) => ({
        name: m.name,
        role: m.role,
        state: m.state,
        postgres: postgresRole(statuses[i]),
        host: m.host,
        port: m.port,
        timeline: m.timeline ?? null,
        lagBytes: m.role === 'leader' ? null : (m.lag ?? null),
        apiUrl: m.apiUrl,
      })),
      router: router ?? null,
    };
    console.log(JSON.stringify(status, null, 2));
  } else {
    console.log(`\nCluster ${scope}: ${view.members.length} member(s), synchronous mode ${syncModeLabel(config)}\n`);
    printTable(view, statuses);
    const lines: Record<string, string> = {
      leader: problem ? 'none' : `${view.leader!.name} (timeline ${view.leader!.timeline ?? '?'})`,
    };
    if (router) {
      lines['writes (rw)'] = router.rw.join(', ') || 'nowhere: no member passes GET /primary';
      lines['reads (ro)'] =
        (router.ro.join(', ') || 'nowhere') + (router.roFallsBackToLeader ? ' (no healthy replica: the leader)' : '');
    } else if (location.routerStatsUrl) {
      lines.router = `stats page ${location.routerStatsUrl} does not answer`;
    }
    if (location.router) {
      lines['router ports'] =
        `rw ${location.router.host}:${location.router.rwPort}, ro ${location.router.host}:${location.router.roPort}`;
    }
    lines['asked'] = `${location.apiUrls.join(', ')} (from ${location.from})`;
    summary('Summary', lines);
  }

  if (problem) throw new StopError(`${problem} ${NEXT_NO_LEADER}`);
}

await runCommand(main);
