// `npm run kpi`: the four DORA figures from the lab's deploy history (<LAB_DIR>/deploy/history.jsonl) for a period.
// `npm run kpi:record`: records one deploy in that history and pushes the totals to the Pushgateway (the Jenkins
// pipeline's last stage; deploy records its own runs through recordDeployment()). Definitions: docs/cicd.md.
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { printTable } from './lib/docker.js';
import {
  commitTimeOf,
  computeKpis,
  formatDuration,
  historyFile,
  readHistory,
  recordDeployment,
  RESULTS,
  STRATEGIES,
  type Kpis,
  type PushResult,
  type Result,
  type Strategy,
} from './lib/dora.js';
import { findLab } from './lib/lab-context.js';
import { pushThroughLab } from './lib/lab-pushgateway.js';
import { labDir } from './lib/lab-secrets.js';
import { summary } from './lib/log.js';
import { REPO_ROOT } from './lib/paths.js';

const HELP = `
Usage: npm run kpi [-- --since <n>d|<n>h|<n>w | --from <time> [--to <time>]] [--json]
       npm run kpi:record -- --sha <commit> --started <time> [--finished <time>] --strategy rolling|bluegreen
                             --result success|failure [--rolled-back] [--commit-time <time>] [--repo <dir>]

kpi prints the DORA figures for the deploys that finished in the period (default: the last 30 days):
  deployment frequency   successful deploys, in total and per day
  lead time for changes  commit → deployed, median and p90, successful deploys
  change failure rate    deploys that failed or were rolled back / all deploys
  time to restore        first failed deploy → next successful one, median over the incidents restored
A deploy "succeeds" when its result is success and it was not rolled back.

kpi:record appends one deploy to the history (append-only, mode 600) and pushes the running totals (job "deploy")
to the lab's Pushgateway through its container on node1 (the lab's Docker API, as deploy does: the Pushgateway's
key stays in it), or to the Pushgateway at PUSHGATEWAY_URL when that is set. When the push fails, a note says so
and the record still counts. The commit time comes from git log in --repo (default: this repository) unless given.

Times are ISO 8601 (2026-11-21T10:00:00Z) or Unix milliseconds (Jenkins' currentBuild.startTimeInMillis).

Options (kpi):
  --since <n>d|h|w   the period up to now (default 30d)
  --from, --to       the period's bounds (--to defaults to now)
  --json             the figures as JSON

Environment: LAB_DIR (default <repo>/.lab); kpi:record: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH (the lab,
else LAB_DIR's client certificate), PUSHGATEWAY_URL (a Pushgateway without a key, instead).
`;

const HOUR_MS = 3_600_000;
const UNITS: Record<string, number> = { h: HOUR_MS, d: 24 * HOUR_MS, w: 7 * 24 * HOUR_MS };

/** An ISO 8601 time or Unix milliseconds. */
function parseTime(flag: string, raw: string): Date {
  const time = /^\d{10,}$/.test(raw) ? new Date(Number(raw)) : new Date(raw);
  if (!/\d/.test(raw) || Number.isNaN(time.getTime())) {
    throw new StopError(`--${flag} must be an ISO 8601 time or Unix milliseconds, not "${raw}".`);
  }
  return time;
}

function parseSince(raw: string): number {
  const match = /^(\d+)([hdw])$/.exec(raw);
  const span = match ? Number(match[1]) * UNITS[match[2]!]! : 0;
  if (span <= 0 || span > 3650 * 24 * HOUR_MS) {
    throw new StopError(`--since must look like 30d, 12h or 4w (at most 10 years), not "${raw}".`);
  }
  return span;
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

function printKpis(kpis: Kpis, file: string, skipped: number) {
  const { counts } = kpis;
  const days = Number.isInteger(kpis.period.days) ? `${kpis.period.days}` : kpis.period.days.toFixed(1);
  const rows = [
    [
      'deployment frequency',
      `${kpis.deploymentFrequency.perDay.toFixed(2)} per day (${plural(kpis.deploymentFrequency.total, 'successful deploy')})`,
    ],
    [
      'lead time for changes',
      kpis.leadTimeSeconds
        ? `median ${formatDuration(kpis.leadTimeSeconds.median)}, p90 ${formatDuration(kpis.leadTimeSeconds.p90)}`
        : 'n/a (no successful deploy)',
    ],
    [
      'change failure rate',
      kpis.changeFailureRate === null
        ? 'n/a (no deploy)'
        : `${percent(kpis.changeFailureRate)} (${counts.changeFailures} of ${counts.deployments})`,
    ],
    [
      'time to restore',
      kpis.timeToRestoreSeconds
        ? `median ${formatDuration(kpis.timeToRestoreSeconds.median)} (${plural(kpis.timeToRestoreSeconds.incidents, 'incident')})`
        : 'n/a (no incident restored)',
    ],
  ];
  printTable(`DORA KPIs, ${utc(kpis.period.from)} → ${utc(kpis.period.to)} (${days} days)`, ['KPI', 'value'], rows);
  summary('Deploys in the period', {
    deploys: `${counts.deployments}: ${counts.successful} successful, ${plural(counts.changeFailures, 'change failure')} (${counts.failed} failed, ${counts.rolledBack} rolled back)`,
    ...(kpis.failingSince && { failing: `since ${utc(kpis.failingSince)}: no successful deploy after it yet` }),
    history: `${file}${skipped > 0 ? ` (${plural(skipped, 'unreadable line')} left out)` : ''}`,
  });
}

async function report(argv: string[]) {
  const flags = parseFlags(
    argv,
    { since: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } },
    HELP,
  );
  if (flags.since !== undefined && (flags.from !== undefined || flags.to !== undefined)) {
    throw new StopError('Give either --since or --from/--to, not both.');
  }
  if (flags.to !== undefined && flags.from === undefined) throw new StopError('--to needs --from.');
  const to = flags.to !== undefined ? parseTime('to', flags.to) : new Date();
  const from =
    flags.from !== undefined
      ? parseTime('from', flags.from)
      : new Date(to.getTime() - parseSince(flags.since ?? '30d'));
  if (from >= to) throw new StopError('--from must come before --to.');
  const file = historyFile(labDir());
  const history = await readHistory(file);
  for (const { line, reason } of history.skipped) console.error(`note: ${file}:${line} left out (${reason})`);
  const kpis = computeKpis(history.events, { from, to });
  if (flags.json)
    console.log(JSON.stringify({ history: file, skippedLines: history.skipped.length, ...kpis }, null, 2));
  else printKpis(kpis, file, history.skipped.length);
}

function oneOf<T extends string>(flag: string, raw: string | undefined, allowed: readonly T[]): T {
  if (raw === undefined || !allowed.includes(raw as T)) {
    throw new StopError(`--${flag} must be ${allowed.join(' or ')}${raw === undefined ? '' : `, not "${raw}"`}.`);
  }
  return raw as T;
}

async function record(argv: string[]) {
  const flags = parseFlags(
    argv,
    {
      sha: { type: 'string' },
      'commit-time': { type: 'string' },
      repo: { type: 'string', default: REPO_ROOT },
      started: { type: 'string' },
      finished: { type: 'string' },
      strategy: { type: 'string' },
      result: { type: 'string' },
      'rolled-back': { type: 'boolean', default: false },
    },
    HELP,
  );
  if (!flags.sha || !/^[0-9a-f]{7,64}$/i.test(flags.sha)) throw new StopError('--sha must be a commit id.');
  if (!flags.started) throw new StopError('--started is required (when the deploy started).');
  const strategy = oneOf<Strategy>('strategy', flags.strategy, STRATEGIES);
  const result = oneOf<Result>('result', flags.result, RESULTS);
  const startedAt = parseTime('started', flags.started);
  const finishedAt = flags.finished ? parseTime('finished', flags.finished) : new Date();
  if (finishedAt < startedAt) throw new StopError('--finished must not come before --started.');
  const commitTime = flags['commit-time']
    ? parseTime('commit-time', flags['commit-time']).toISOString()
    : await commitTimeOf(flags.sha, flags.repo).catch((error: Error) => {
        throw new StopError(`${error.message}\nGive --commit-time, or --repo with the repository that has it.`);
      });
  const recorded = await recordDeployment(
    {
      sha: flags.sha,
      commitTime,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      strategy,
      result,
      rolledBack: flags['rolled-back'],
    },
    // The summary says whether it was pushed.
    { note: () => {}, ...(process.env.PUSHGATEWAY_URL ? {} : { push: pushThroughFoundLab }) },
  );
  summary(`Recorded deploy ${flags.sha.slice(0, 12)}: ${result}${flags['rolled-back'] ? ', rolled back' : ''}`, {
    history: `${recorded.file} (${plural(recorded.history.events.length, 'deploy')})`,
    pushgateway: recorded.push.pushed ? `pushed to ${recorded.push.url}` : `not pushed: ${recorded.push.reason}`,
    next: 'npm run kpi',
  });
}

/** Through the lab's Pushgateway container; no lab is a reason not to push, never an error. */
async function pushThroughFoundLab(group: string, body: string): Promise<PushResult> {
  try {
    return await pushThroughLab(await findLab(), group, body);
  } catch (error) {
    return { pushed: false, reason: (error as Error).message.split('\n')[0]! };
  }
}

async function main() {
  const [first, ...rest] = process.argv.slice(2);
  if (first === 'record') await record(rest);
  else await report(process.argv.slice(2));
}

await runCommand(main);
