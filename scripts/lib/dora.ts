// DORA KPIs from the lab's deploy history: every deploy (by hand or from Jenkins) appends one JSON line to
// <LAB_DIR>/deploy/history.jsonl (append-only, mode 600) and pushes running totals to the Pushgateway (job
// `deploy`) for the Grafana dashboard; computeKpis() turns the history into the four figures for a period.
// Definitions (docs/cicd.md):
//   - a deploy *succeeds* when its result is success and it was not rolled back; it is a *change failure* otherwise;
//   - deployment frequency: successful deploys in the period, in total and per day;
//   - lead time for changes: commit time → deploy finished, for successful deploys (median and p90);
//   - change failure rate: change failures / all deploys in the period;
//   - time to restore: from the first change failure of a run of them to the next successful deploy (median over
//     the incidents restored in the period).
import { appendFile, chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { $ } from 'zx';
import { labDir } from './lab-secrets.js';
import { modeOf, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.js';

export const STRATEGIES = ['rolling', 'bluegreen'] as const;
export const RESULTS = ['success', 'failure'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export type Result = (typeof RESULTS)[number];

/** One deploy, as history.jsonl keeps it. Times are ISO 8601. */
export interface DeploymentEvent {
  sha: string;
  /** When the deployed commit was made: `git log -1 --format=%cI <sha>`. */
  commitTime: string;
  startedAt: string;
  finishedAt: string;
  strategy: Strategy;
  result: Result;
  rolledBack: boolean;
}

export const PUSHGATEWAY_JOB = 'deploy';

/**
 * The Pushgateway group (its URL path after /metrics/) this machine's totals go to. The operator's deploys and the
 * pipeline's keep histories of their own (each in its LAB_DIR), so each pushes to a group of its own and Prometheus
 * adds them up: job=deploy (the operator's, as before), and job=deploy with source=pipeline (SWARMLAB_PIPELINE=1).
 * One group for both would make each push replace the other's totals.
 */
export function pushGroup(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWARMLAB_PIPELINE === '1' ? `job/${PUSHGATEWAY_JOB}/source/pipeline` : `job/${PUSHGATEWAY_JOB}`;
}
const DAY_MS = 86_400_000;

/** <LAB_DIR>/deploy/history.jsonl */
export const historyFile = (root: string = labDir()) => path.join(root, 'deploy', 'history.jsonl');

const ms = (iso: string) => Date.parse(iso);
export const succeeded = (event: DeploymentEvent) => event.result === 'success' && !event.rolledBack;
export const isChangeFailure = (event: DeploymentEvent) => !succeeded(event);

// --- the event --------------------------------------------------------------------------------------------------

/** The problems with `value` as a deployment event; empty when it is one. */
export function eventProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['not an object'];
  const event = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof event.sha !== 'string' || !/^[0-9a-f]{7,64}$/i.test(event.sha)) problems.push('sha: not a commit id');
  for (const key of ['commitTime', 'startedAt', 'finishedAt'] as const) {
    const time = event[key];
    if (typeof time !== 'string' || Number.isNaN(ms(time))) problems.push(`${key}: not an ISO 8601 time`);
  }
  if (!STRATEGIES.includes(event.strategy as Strategy)) problems.push(`strategy: not one of ${STRATEGIES.join(', ')}`);
  if (!RESULTS.includes(event.result as Result)) problems.push(`result: not one of ${RESULTS.join(', ')}`);
  if (typeof event.rolledBack !== 'boolean') problems.push('rolledBack: not true or false');
  if (problems.length === 0 && ms(event.finishedAt as string) < ms(event.startedAt as string)) {
    problems.push('finishedAt: before startedAt');
  }
  return problems;
}

/** The event with its fields in a fixed order and its times normalised to UTC ISO; throws on a bad event. */
export function toEvent(value: unknown): DeploymentEvent {
  const problems = eventProblems(value);
  if (problems.length > 0) throw new Error(`not a deployment event: ${problems.join('; ')}`);
  const event = value as DeploymentEvent;
  const iso = (time: string) => new Date(ms(time)).toISOString();
  return {
    sha: event.sha,
    commitTime: iso(event.commitTime),
    startedAt: iso(event.startedAt),
    finishedAt: iso(event.finishedAt),
    strategy: event.strategy,
    result: event.result,
    rolledBack: event.rolledBack,
  };
}

/** When `sha` was committed (its committer date, ISO 8601), from the repository at `repo`. */
export async function commitTimeOf(sha: string, repo: string): Promise<string> {
  const result = await $({ quiet: true, cwd: repo, nothrow: true })`git log -1 --format=%cI ${sha} --`;
  const time = result.stdout.trim();
  if (result.exitCode !== 0 || Number.isNaN(ms(time))) {
    throw new Error(`no commit ${sha} in ${repo}: ${result.stderr.trim() || 'git log printed no date'}`);
  }
  return time;
}

// --- the history file -------------------------------------------------------------------------------------------

export interface History {
  events: DeploymentEvent[];
  /** Lines that are not events (1-based line numbers), left out of every figure. */
  skipped: { line: number; reason: string }[];
}

/** The history in file order; a missing file is an empty history. */
export async function readHistory(file: string = historyFile()): Promise<History> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const history: History = { events: [], skipped: [] };
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    try {
      history.events.push(toEvent(JSON.parse(line)));
    } catch (error) {
      history.skipped.push({ line: index + 1, reason: (error as Error).message });
    }
  }
  return history;
}

/** Appends one line to the history: the file is created mode 600 (its folder 700) and never rewritten. */
export async function appendHistory(event: DeploymentEvent, file: string = historyFile()): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  await appendFile(file, `${JSON.stringify(toEvent(event))}\n`, { mode: PRIVATE_FILE_MODE, flag: 'a' });
  if ((await modeOf(file)) !== PRIVATE_FILE_MODE) await chmod(file, PRIVATE_FILE_MODE);
}

// --- figures ----------------------------------------------------------------------------------------------------

/** Oldest first by finish time; events that finished together keep their order. */
export const byFinish = (events: readonly DeploymentEvent[]) =>
  [...events].sort((a, b) => ms(a.finishedAt) - ms(b.finishedAt));

/** The q-quantile (0..1) of `values`, interpolated linearly between closest ranks; undefined when empty. */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * q;
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** Seconds from the deployed commit to the end of the deploy. */
export const leadTimeSeconds = (event: DeploymentEvent) => (ms(event.finishedAt) - ms(event.commitTime)) / 1000;

export interface Incident {
  /** The first change failure of the run. */
  failedAt: string;
  /** The successful deploy that ended it, or undefined while the lab is still failing. */
  restoredAt?: string;
  seconds?: number;
}

/** Runs of change failures, each with the successful deploy that ended it. */
export function incidents(events: readonly DeploymentEvent[]): Incident[] {
  const found: Incident[] = [];
  let open: Incident | undefined;
  for (const event of byFinish(events)) {
    if (isChangeFailure(event)) {
      if (!open) {
        open = { failedAt: event.finishedAt };
        found.push(open);
      }
    } else if (open) {
      open.restoredAt = event.finishedAt;
      open.seconds = (ms(event.finishedAt) - ms(open.failedAt)) / 1000;
      open = undefined;
    }
  }
  return found;
}

export interface Kpis {
  period: { from: string; to: string; days: number };
  counts: { deployments: number; successful: number; changeFailures: number; failed: number; rolledBack: number };
  deploymentFrequency: { total: number; perDay: number };
  /** Successful deploys only; null when there is none in the period. */
  leadTimeSeconds: { median: number; p90: number; deployments: number } | null;
  /** null when the period has no deploy. */
  changeFailureRate: number | null;
  /** Incidents restored in the period; null when none was. */
  timeToRestoreSeconds: { median: number; incidents: number } | null;
  /** A run of change failures not followed by a success yet (at the end of the period). */
  failingSince: string | null;
}

/**
 * The four DORA figures for deploys that finished in [from, to). Pure: `history` may be in any order. An incident
 * counts in the period its restoring deploy falls in, even when its first failure came before.
 */
export function computeKpis(history: readonly DeploymentEvent[], period: { from: Date; to: Date }): Kpis {
  const from = period.from.getTime();
  const to = period.to.getTime();
  if (!(to > from)) throw new Error('the period must end after it starts');
  const inPeriod = (iso: string) => ms(iso) >= from && ms(iso) < to;
  const events = byFinish(history).filter((event) => inPeriod(event.finishedAt));
  const successes = events.filter(succeeded);
  const leadTimes = successes.map(leadTimeSeconds);
  const restored = incidents(history.filter((event) => ms(event.finishedAt) < to)).filter(
    (incident) => incident.restoredAt !== undefined && inPeriod(incident.restoredAt),
  );
  const last = incidents(history.filter((event) => ms(event.finishedAt) < to)).at(-1);
  const days = (to - from) / DAY_MS;
  return {
    period: { from: period.from.toISOString(), to: period.to.toISOString(), days },
    counts: {
      deployments: events.length,
      successful: successes.length,
      changeFailures: events.length - successes.length,
      failed: events.filter((event) => event.result === 'failure').length,
      rolledBack: events.filter((event) => event.rolledBack).length,
    },
    deploymentFrequency: { total: successes.length, perDay: successes.length / days },
    leadTimeSeconds:
      leadTimes.length === 0
        ? null
        : { median: quantile(leadTimes, 0.5)!, p90: quantile(leadTimes, 0.9)!, deployments: leadTimes.length },
    changeFailureRate: events.length === 0 ? null : (events.length - successes.length) / events.length,
    timeToRestoreSeconds:
      restored.length === 0
        ? null
        : {
            median: quantile(
              restored.map((incident) => incident.seconds!),
              0.5,
            )!,
            incidents: restored.length,
          },
    failingSince: last && last.restoredAt === undefined ? last.failedAt : null,
  };
}

// --- metrics for the Pushgateway --------------------------------------------------------------------------------

export interface Sample {
  name: string;
  labels?: Record<string, string>;
  value: number;
}

const METRICS: Record<string, { type: 'counter' | 'gauge'; help: string }> = {
  swarmlab_deploy_total: { type: 'counter', help: 'Deploys recorded, by result and strategy (running total).' },
  swarmlab_deploy_rollbacks_total: { type: 'counter', help: 'Deploys that were rolled back (running total).' },
  swarmlab_deploy_lead_time_seconds: {
    type: 'gauge',
    help: 'Lead time of the last successful deploy: its commit time to the end of the deploy.',
  },
  swarmlab_deploy_last_success_timestamp_seconds: {
    type: 'gauge',
    help: 'Unix time at which the last successful deploy finished.',
  },
  swarmlab_deploy_time_to_restore_seconds: {
    type: 'gauge',
    help: 'Time to restore of the last restored incident: its first failed deploy to the next successful one.',
  },
  swarmlab_deploy_last_run_success: {
    type: 'gauge',
    help: '1 when the last deploy succeeded, 0 when it failed or was rolled back.',
  },
};

/**
 * What the Pushgateway gets after each deploy, computed from the whole history: counters as running totals (all
 * four result × strategy series, zeros included, so rate() works from the first deploy), gauges for the latest
 * figures (left out while they have no value). swarmlab_deploy_last_run_success is in the same group because a
 * push replaces the whole group (the DeploymentFailed alert reads it: docs/monitoring.md).
 */
export function deploySamples(history: readonly DeploymentEvent[]): Sample[] {
  const events = byFinish(history);
  const samples: Sample[] = [];
  for (const result of RESULTS) {
    for (const strategy of STRATEGIES) {
      const value = events.filter((event) => event.result === result && event.strategy === strategy).length;
      samples.push({ name: 'swarmlab_deploy_total', labels: { result, strategy }, value });
    }
  }
  samples.push({ name: 'swarmlab_deploy_rollbacks_total', value: events.filter((event) => event.rolledBack).length });
  const lastSuccess = events.filter(succeeded).at(-1);
  if (lastSuccess) {
    samples.push({ name: 'swarmlab_deploy_lead_time_seconds', value: leadTimeSeconds(lastSuccess) });
    samples.push({
      name: 'swarmlab_deploy_last_success_timestamp_seconds',
      value: ms(lastSuccess.finishedAt) / 1000,
    });
  }
  const restored = incidents(events).filter((incident) => incident.seconds !== undefined);
  const lastRestored = restored.at(-1);
  if (lastRestored) samples.push({ name: 'swarmlab_deploy_time_to_restore_seconds', value: lastRestored.seconds! });
  const last = events.at(-1);
  if (last) samples.push({ name: 'swarmlab_deploy_last_run_success', value: succeeded(last) ? 1 : 0 });
  return samples;
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The Prometheus text exposition format (version 0.0.4), as the Pushgateway takes it. */
export function exposition(samples: readonly Sample[]): string {
  const lines: string[] = [];
  const described = new Set<string>();
  for (const sample of samples) {
    const meta = METRICS[sample.name];
    if (meta && !described.has(sample.name)) {
      described.add(sample.name);
      lines.push(`# HELP ${sample.name} ${meta.help}`, `# TYPE ${sample.name} ${meta.type}`);
    }
    const labels = Object.entries(sample.labels ?? {});
    const rendered =
      labels.length === 0 ? '' : `{${labels.map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(',')}}`;
    lines.push(`${sample.name}${rendered} ${sample.value}`);
  }
  return `${lines.join('\n')}\n`;
}

export type PushResult = { pushed: true; url: string } | { pushed: false; reason: string };

/** PUTs `body` as the group at /metrics/`group` (replacing it); never throws: a failure comes back as its reason. */
export async function pushMetrics(
  baseUrl: string | undefined,
  group: string,
  body: string,
  timeoutMs = 5000,
): Promise<PushResult> {
  if (!baseUrl) return { pushed: false, reason: 'PUSHGATEWAY_URL is not set' };
  let url: string;
  try {
    const groupPath = group.split('/').map(encodeURIComponent).join('/');
    url = new URL(`metrics/${groupPath}`, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;
  } catch {
    return { pushed: false, reason: `PUSHGATEWAY_URL is not a URL: ${baseUrl}` };
  }
  try {
    const response = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain; version=0.0.4' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.ok) return { pushed: true, url };
    const detail = (await response.text().catch(() => '')).trim().slice(0, 200);
    return { pushed: false, reason: `${url} answered ${response.status}${detail ? `: ${detail}` : ''}` };
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    return {
      pushed: false,
      reason: `${url} unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    };
  }
}

export interface RecordOptions {
  /** Default: labDir() (LAB_DIR, or <repo>/.lab). */
  labDir?: string;
  /** Default: PUSHGATEWAY_URL; unset: no push. */
  pushgatewayUrl?: string | undefined;
  /** Where the note about a skipped push goes (default: stderr). */
  note?: (message: string) => void;
  /** How the metrics are pushed (default: pushMetrics to pushgatewayUrl); deploy pushes through the lab's container. */
  push?: (group: string, body: string) => Promise<PushResult>;
  /** The Pushgateway group (default: pushGroup()). */
  group?: string;
}

/**
 * Records one deploy: appends it to the history, then pushes the running totals to the Pushgateway. A Pushgateway
 * that is not configured or does not answer is a printed note, never an error: it must not fail the deploy.
 */
export async function recordDeployment(event: DeploymentEvent, options: RecordOptions = {}) {
  const checked = toEvent(event);
  const file = historyFile(options.labDir ?? labDir());
  await appendHistory(checked, file);
  const history = await readHistory(file);
  const pushgatewayUrl = 'pushgatewayUrl' in options ? options.pushgatewayUrl : process.env.PUSHGATEWAY_URL;
  const send = options.push ?? ((group: string, body: string) => pushMetrics(pushgatewayUrl, group, body));
  const push = await send(options.group ?? pushGroup(), exposition(deploySamples(history.events)));
  if (!push.pushed)
    (options.note ?? ((message) => console.error(message)))(`note: metrics not pushed (${push.reason})`);
  return { file, event: checked, history, push };
}

// --- printing ---------------------------------------------------------------------------------------------------

/** A duration for people: `45 s`, `12 min 5 s`, `3 h 4 min`, `2 d 6 h`. */
export function formatDuration(seconds: number): string {
  const sign = seconds < 0 ? '-' : '';
  let rest = Math.round(Math.abs(seconds));
  const parts: [number, string][] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['min', 60],
    ['s', 1],
  ] as const) {
    parts.push([Math.floor(rest / size), unit]);
    rest %= size;
  }
  const first = parts.findIndex(([value]) => value > 0);
  if (first === -1) return '0 s';
  return (
    sign +
    parts
      .slice(first, first + 2)
      .filter(([value]) => value > 0)
      .map(([value, unit]) => `${value} ${unit}`)
      .join(' ')
  );
}
