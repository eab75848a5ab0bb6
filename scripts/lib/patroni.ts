// The operator commands' view of the data tier: where the cluster is (--api, PATRONI_API_URL, the deployed lab, or
// with --local the .lab/db-dev.json that `npm run db:dev` writes), a small client of Patroni's REST API (GET /cluster, /config,
// /patroni; POST /switchover, /failover, /reinitialize with basic auth user `patroni`), the HAProxy db-router's
// targets, and the waits and checks that db:switchover, db:failover and db:reinit share.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { StopError } from './cli.js';
import { labClusterLocation } from './lab-patroni.js';
import { REPO_ROOT } from './paths.js';

export const DB_DEV_FILE = path.join(REPO_ROOT, '.lab/db-dev.json');
export const DB_DEV_SECRETS_DIR = path.join(REPO_ROOT, '.lab/db-dev');
const DB_DEV_RELATIVE = path.relative(REPO_ROOT, DB_DEV_FILE);
export const START_HINT =
  'Start a local cluster with `npm run db:dev` (in another terminal) and add --local, or point at one with --api URL ' +
  '(any member’s Patroni REST API, e.g. http://127.0.0.1:8008) or PATRONI_API_URL.';
const GET_TIMEOUT_MS = 3_000;
// Patroni answers POST /switchover and /failover only once the new leader holds the lock (up to ~20 s).
const POST_TIMEOUT_MS = 45_000;

// ---------------------------------------------------------------------------------------------------------
// Where the cluster is

/** What `npm run db:dev` writes to .lab/db-dev.json (mode 600) while it runs. */
export interface DbDevFile {
  pid: number;
  startedAt: string;
  scope: string;
  database: string;
  members: { name: string; apiUrl: string; host: string; pgPort: number }[];
  router: { host: string; rwPort: number; roPort: number; statsUrl: string };
  /** Files (mode 600) under .lab/db-dev/ holding the Patroni REST password and the role passwords. */
  passwordFiles: { restapi: string; postgres: string; app: string };
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  basicAuth?: { user: string; password: string };
  timeoutMs: number;
}
export interface HttpResponse {
  status: number;
  text: string;
}
/** How requests reach the cluster: straight from here, or relayed inside the lab (lab-patroni.ts). */
export type HttpTransport = (url: string, request: HttpRequest) => Promise<HttpResponse>;

export const directHttp: HttpTransport = async (url, request) => {
  const headers = { ...request.headers };
  if (request.basicAuth) {
    const { user, password } = request.basicAuth;
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }
  const response = await fetch(url, {
    method: request.method ?? 'GET',
    headers,
    ...(request.body !== undefined && { body: request.body }),
    signal: AbortSignal.timeout(request.timeoutMs),
  });
  return { status: response.status, text: await response.text() };
};

export interface ClusterLocation {
  /** Patroni REST API base URLs to ask first (any member will do). */
  apiUrls: string[];
  /** Where the URLs came from, for messages: `--api`, `PATRONI_API_URL`, the lab or `.lab/db-dev.json`. */
  from: string;
  http: HttpTransport;
  apiPasswordFile?: string;
  /** HAProxy's stats page (…/stats), to show where the router sends reads and writes. */
  routerStatsUrl?: string;
  router?: { host: string; rwPort: number; roPort: number };
}

export interface LocateOptions {
  api?: string;
  /** The cluster of `npm run db:dev` rather than the deployed lab. */
  local?: boolean;
  apiPasswordFile?: string;
  routerStats?: string;
}

const origin = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    throw new StopError(`"${url}" is not a URL. Pass a Patroni REST API like --api http://127.0.0.1:8008.`);
  }
};

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The running db:dev's file; undefined when there is none; `stale` when its process is gone. */
export async function readDbDevFile(file = DB_DEV_FILE): Promise<{ state: DbDevFile; stale: boolean } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as DbDevFile;
    return { state, stale: !isAlive(state.pid) };
  } catch {
    throw new StopError(`${file} is not valid JSON. Delete it and start the cluster again: npm run db:dev.`);
  }
}

/** The flags with which every db:* command is pointed at a cluster (see locateCluster). */
export const LOCATE_FLAGS = {
  local: { type: 'boolean' },
  api: { type: 'string' },
  'api-password-file': { type: 'string' },
} as const;

/** A client for the cluster those flags (or the environment, or db:dev) point at. */
export async function clientFromFlags(flags: {
  local?: boolean | undefined;
  api?: string | undefined;
  'api-password-file'?: string | undefined;
}) {
  return new PatroniClient(
    await locateCluster({ local: flags.local, api: flags.api, apiPasswordFile: flags['api-password-file'] }),
  );
}

/**
 * Finds the cluster: --api, else PATRONI_API_URL, else with --local the running db:dev, else the deployed lab
 * (lab-patroni.ts). The REST password file: the flag, else PATRONI_API_PASSWORD_FILE, else the lab's or db:dev's
 * (only when talking to that cluster). The router's stats page: --router-stats, else DB_ROUTER_STATS_URL, else the
 * lab's or db:dev's.
 */
export async function locateCluster(options: LocateOptions, env = process.env): Promise<ClusterLocation> {
  const split = (value: string) =>
    value
      .split(',')
      .map((url) => url.trim())
      .filter(Boolean)
      .map(origin);

  if (!options.api && !env.PATRONI_API_URL && !options.local) {
    const lab = await labClusterLocation();
    lab.apiPasswordFile = options.apiPasswordFile ?? env.PATRONI_API_PASSWORD_FILE ?? lab.apiPasswordFile;
    lab.routerStatsUrl = options.routerStats ?? env.DB_ROUTER_STATS_URL ?? lab.routerStatsUrl;
    return lab;
  }
  const dev = await readDbDevFile();
  const live = dev && !dev.stale ? dev.state : undefined;
  let location: ClusterLocation;
  if (options.api) location = { apiUrls: split(options.api), from: '--api', http: directHttp };
  else if (env.PATRONI_API_URL)
    location = { apiUrls: split(env.PATRONI_API_URL), from: 'PATRONI_API_URL', http: directHttp };
  else if (live)
    location = { apiUrls: live.members.map((m) => origin(m.apiUrl)), from: DB_DEV_RELATIVE, http: directHttp };
  else if (dev?.stale) {
    throw new StopError(
      `${DB_DEV_RELATIVE} is left over from a db:dev that no longer runs (pid ${dev.state.pid}). ${START_HINT}`,
    );
  } else {
    throw new StopError(`No local cluster: no ${DB_DEV_RELATIVE} (--local). ${START_HINT}`);
  }
  if (location.apiUrls.length === 0) throw new StopError(`${location.from} holds no URL. ${START_HINT}`);

  const devCluster =
    live && location.apiUrls.some((url) => live.members.some((m) => origin(m.apiUrl) === url)) ? live : undefined;
  location.apiPasswordFile =
    options.apiPasswordFile ?? env.PATRONI_API_PASSWORD_FILE ?? devCluster?.passwordFiles.restapi;
  location.routerStatsUrl = options.routerStats ?? env.DB_ROUTER_STATS_URL ?? devCluster?.router.statsUrl;
  if (devCluster) location.router = devCluster.router;
  return location;
}

// ---------------------------------------------------------------------------------------------------------
// Patroni's REST API

/** A member as GET /cluster lists it. `lag` is in bytes; undefined for the leader and when unknown. */
export interface Member {
  name: string;
  /** Patroni's role: leader, sync_standby, replica (or standby_leader). */
  role: string;
  state: string;
  host: string;
  port: number;
  timeline?: number;
  lag?: number;
  /** The member's REST API base URL (origin). */
  apiUrl: string;
  tags: Record<string, unknown>;
}

export interface ClusterView {
  members: Member[];
  leader?: Member;
}

/** GET /patroni of one member. */
export interface MemberStatus {
  state: string;
  role: string;
  timeline?: number;
  postmaster_start_time?: string;
  replication?: { application_name: string; state: string; sync_state: string }[];
  patroni?: { version: string; scope: string };
}

export interface ClusterConfig {
  synchronous_mode?: boolean;
  synchronous_mode_strict?: boolean;
  maximum_lag_on_failover?: number;
  ttl?: number;
  loop_wait?: number;
}

interface RawMember {
  name: string;
  role: string;
  state: string;
  api_url?: string;
  host: string;
  port: number;
  timeline?: number;
  lag?: number | string;
  tags?: Record<string, unknown>;
}

export const roleLabel = (role: string) => role.replace('_', ' ');

export class PatroniClient {
  /** Base URLs to ask, the given ones first, then every member seen in /cluster. */
  private readonly urls: string[];

  constructor(readonly location: ClusterLocation) {
    this.urls = [...location.apiUrls];
  }

  /** GET `path` from the first member that answers. */
  private async get<T>(urlPath: string): Promise<T> {
    const failures: string[] = [];
    for (const base of this.urls) {
      try {
        const response = await this.location.http(`${base}${urlPath}`, { timeoutMs: GET_TIMEOUT_MS });
        if (response.status === 200) return JSON.parse(response.text) as T;
        failures.push(`${base}: HTTP ${response.status}`);
      } catch (error) {
        failures.push(`${base}: ${describeFetchError(error)}`);
      }
    }
    throw new StopError(
      `No Patroni member answers GET ${urlPath} (asked ${failures.join('; ')}; URLs from ${this.location.from}). ` +
        `Is the cluster running? ${START_HINT}`,
    );
  }

  async cluster(): Promise<ClusterView> {
    const raw = await this.get<{ members?: RawMember[] }>('/cluster');
    const members = (raw.members ?? []).map((m): Member => ({
      name: m.name,
      role: m.role,
      state: m.state,
      host: m.host,
      port: m.port,
      timeline: m.timeline,
      lag: typeof m.lag === 'number' ? m.lag : undefined,
      apiUrl: m.api_url ? origin(m.api_url) : '',
      tags: m.tags ?? {},
    }));
    for (const member of members) {
      if (member.apiUrl && !this.urls.includes(member.apiUrl)) this.urls.push(member.apiUrl);
    }
    return { members, leader: members.find((m) => m.role === 'leader') };
  }

  config(): Promise<ClusterConfig> {
    return this.get<ClusterConfig>('/config');
  }

  /** GET /patroni of that member; undefined when it does not answer. */
  async memberStatus(member: Member): Promise<MemberStatus | undefined> {
    try {
      const response = await this.location.http(`${member.apiUrl}/patroni`, { timeoutMs: GET_TIMEOUT_MS });
      return response.status === 200 ? (JSON.parse(response.text) as MemberStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  /** POST with the REST password; Patroni's refusal becomes a StopError carrying its words. */
  async post(base: string, urlPath: string, body: Record<string, unknown>): Promise<string> {
    const password = await this.password();
    let response: HttpResponse;
    try {
      response = await this.location.http(`${base}${urlPath}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        basicAuth: { user: 'patroni', password },
        body: JSON.stringify(body),
        timeoutMs: POST_TIMEOUT_MS,
      });
    } catch (error) {
      throw new StopError(
        `POST ${base}${urlPath} failed: ${describeFetchError(error)}. Check the cluster with npm run db:status.`,
      );
    }
    const text = response.text.trim();
    if (response.status === 401) {
      throw new StopError(
        `Patroni refused the REST password (401) at ${base}. Check the file given by --api-password-file ` +
          `(or PATRONI_API_PASSWORD_FILE): it must hold the password of user "patroni".`,
      );
    }
    if (response.status < 200 || response.status > 299)
      throw new StopError(`Patroni refused POST ${urlPath} (HTTP ${response.status}): ${text}`);
    return text;
  }

  /** Planned: the leader hands over to the candidate once it has every write. */
  switchover(leader: Member, candidate: Member) {
    return this.post(leader.apiUrl, '/switchover', { leader: leader.name, candidate: candidate.name });
  }

  /** Forced: the candidate is promoted whatever the leader's state. */
  failover(candidate: Member) {
    return this.post(candidate.apiUrl, '/failover', { candidate: candidate.name });
  }

  /** The member deletes its data directory and clones the leader again. */
  reinitialize(member: Member) {
    return this.post(member.apiUrl, '/reinitialize', { force: false });
  }

  private async password() {
    const file = this.location.apiPasswordFile;
    if (!file) {
      throw new StopError(
        'Changing the cluster needs the Patroni REST password: pass --api-password-file FILE or set ' +
          `PATRONI_API_PASSWORD_FILE (npm run db:dev writes it under ${path.relative(REPO_ROOT, DB_DEV_SECRETS_DIR)}/).`,
      );
    }
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (error) {
      throw new StopError(`Cannot read the Patroni REST password from ${file}: ${(error as Error).message}.`);
    }
  }
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === 'TimeoutError') return 'no answer in time';
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

// ---------------------------------------------------------------------------------------------------------
// The router

export interface RouterTargets {
  /** Members the rw frontend sends writes to (the leader backend's servers that are up). */
  rw: string[];
  /** Members the ro frontend sends reads to: the replicas up, or the leader when none is. */
  ro: string[];
  roFallsBackToLeader: boolean;
}

/** Reads HAProxy's stats CSV; names the servers by the member at their address. Undefined when unreachable. */
export async function routerTargets(
  http: HttpTransport,
  statsUrl: string,
  members: Member[],
): Promise<RouterTargets | undefined> {
  let csv: string;
  try {
    const response = await http(`${statsUrl};csv`, { timeoutMs: GET_TIMEOUT_MS });
    if (response.status !== 200) return undefined;
    csv = response.text;
  } catch {
    return undefined;
  }
  const [header, ...lines] = csv.trim().split('\n');
  const columns = (header ?? '').replace(/^# /, '').split(',');
  const at = (name: string) => columns.indexOf(name);
  const up = (backend: string) =>
    lines
      .map((line) => line.split(','))
      .filter((cells) => cells[at('pxname')] === backend && cells[at('type')] === '2')
      .filter((cells) => (cells[at('status')] ?? '').startsWith('UP'))
      .map((cells) => {
        // The address when HAProxy shows it, else the server name (member1, member2 in haproxy.cfg).
        const address = cells[at('addr')] ?? '';
        const server = cells[at('svname')] ?? '?';
        // haproxy.cfg names its servers member1 and member2, for PG_MEMBER1_* and PG_MEMBER2_*: the members in order.
        const byOrder = [...members].sort((a, b) => a.name.localeCompare(b.name))[
          Number(/^member(\d)$/.exec(server)?.[1]) - 1
        ];
        const member = members.find((m) => `${m.host}:${m.port}` === address || m.name === server) ?? byOrder;
        return member?.name ?? `router server ${server}`;
      });
  const replicas = up('replicas');
  const rw = up('leader');
  return { rw, ro: replicas.length > 0 ? replicas : rw, roFallsBackToLeader: replicas.length === 0 };
}

// ---------------------------------------------------------------------------------------------------------
// Checks and waits shared by the commands that change the cluster

/** Why this member cannot be promoted now, or undefined when it can. */
export function promotionProblem(view: ClusterView, member: Member, maxLagBytes?: number): string | undefined {
  if (member.role === 'leader') return `${member.name} is already the leader`;
  if (member.state !== 'running') return `${member.name} is ${member.state}, not running`;
  if (member.tags.nofailover === true) return `${member.name} is tagged nofailover`;
  if (member.lag === undefined) return `${member.name} does not stream from the leader (lag unknown)`;
  if (maxLagBytes !== undefined && member.lag > maxLagBytes) {
    return `${member.name} is ${formatBytes(member.lag)} behind (limit maximum_lag_on_failover ${formatBytes(maxLagBytes)})`;
  }
  const leaderTimeline = view.leader?.timeline;
  if (leaderTimeline !== undefined && member.timeline !== undefined && member.timeline !== leaderTimeline) {
    return `${member.name} is on timeline ${member.timeline}, the leader on ${leaderTimeline}`;
  }
  return undefined;
}

/** The member by name, or a StopError that lists the members. */
export function findMember(view: ClusterView, name: string): Member {
  const member = view.members.find((m) => m.name === name);
  if (!member) {
    const known = view.members.map((m) => `${m.name} (${roleLabel(m.role)})`).join(', ') || 'none';
    throw new StopError(`No member named "${name}" in the cluster. Members: ${known}. See npm run db:status.`);
  }
  return member;
}

/** Polls `probe` every 500 ms until it returns a value; a StopError naming `what` and `hint` after the time. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  hint: string,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // the cluster is changing: ask again
    }
    await sleep(500);
  }
  throw new StopError(`Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}. ${hint}`);
}

/** The view once `leader` leads and runs, and `replica` runs and streams from it (the leader's pg_stat_replication). */
export async function streamsFrom(
  client: PatroniClient,
  leader: string,
  replica: string,
): Promise<ClusterView | undefined> {
  const view = await client.cluster();
  if (view.leader?.name !== leader || view.leader.state !== 'running') return undefined;
  // Patroni's own view too: PostgreSQL may stream before Patroni calls it running (state "starting").
  const member = view.members.find((m) => m.name === replica);
  if (member?.state !== 'running' || member.lag === undefined) return undefined;
  const status = await client.memberStatus(view.leader);
  const streaming = status?.replication?.some((r) => r.application_name === replica && r.state === 'streaming');
  return streaming ? view : undefined;
}

/** Asks before a change, unless --yes; refuses without a terminal to ask on. */
export async function confirm(question: string, yes: boolean | undefined) {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new StopError('Not run from a terminal, so there is no one to confirm: pass --yes to go ahead.');
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new StopError('Nothing changed.');
  } finally {
    prompt.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Output

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export const formatSeconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Aligned columns with a rule under the header; `right` names the columns aligned right (numbers). */
export function formatTable(header: string[], rows: string[][], right: number[] = []): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (right.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
