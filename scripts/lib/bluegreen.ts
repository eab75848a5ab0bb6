// Blue/green releases of the API (`npm run deploy -- --strategy bluegreen`) and their instant rollback
// (`npm run rollback`). The live colour is always the stack's `api` service, the name Prometheus, the alerts and the
// remediator know; the new version starts beside it as `api-next` (the idle colour), is smoke-tested on a private
// route (the X-Swarmlab-Candidate header), and then the edge sends all traffic to it in one step. The previous
// version keeps running for the grace period, when `npm run rollback` switches back at once. Then `api` rolls to the
// new version while `api-next` serves, traffic switches back to `api`, and `api-next` is removed. Docs: docs/cicd.md.
//
// The switch is one label on the api service, which tasks do not see (no task restarts):
// traefik.http.routers.api.service = api | api-next. Traefik's Swarm provider reads it; with the HAProxy edge
// (lab/edge-fallback/) deploy also sets HAProxy's route map through its runtime API.
import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { StopError } from './cli.js';
import { formatMs } from './docker.js';
import type { Lab } from './lab-context.js';
import { execInContainer, managerContainer } from './lab-backup.js';
import { LabClient } from './lab-https.js';
import { labPaths } from './lab-secrets.js';
import { failureDetails, ServiceFailure, serviceStates, stackService, waitForConvergence } from './lab-swarm.js';
import { step } from './log.js';
import type { StackSpec } from './stack-policy.js';

export type Edge = 'traefik' | 'haproxy';

/** The live colour (the stack's API) and the idle one a blue/green release starts. */
export const LIVE = 'api';
export const CANDIDATE = 'api-next';
export type Colour = typeof LIVE | typeof CANDIDATE;
/** Requests with this header (value 1) reach the candidate: its private route, for the smoke test. */
export const CANDIDATE_HEADER = 'X-Swarmlab-Candidate';
/** The switch: which Traefik service the api router sends to. */
export const SWITCH_LABEL = 'traefik.http.routers.api.service';
/** HAProxy's route map (lab/edge-fallback/routes.map) and its backend per colour. */
export const ROUTES_MAP = '/etc/haproxy/routes.map';
const API_HOST = 'api.lab.localhost';
const HAPROXY_BACKEND: Record<Colour, string> = { api: 'api', 'api-next': 'api_next' };
/** HAProxy's runtime API, inside the edge container only (haproxy.cfg: stats socket). */
const HAPROXY_RUNTIME_PORT = 9999;

// --- the stack documents (no I/O) -------------------------------------------------------------------------------

type Rendered = StackSpec & Record<string, unknown>;

/**
 * The rendered stack without the API (and `also`): deployed first, so the live colour stays exactly as it is. A
 * first deploy also leaves Prometheus for later (scripts/deploy.ts FIRST_DEPLOY_LATER).
 */
export function withoutApi(rendered: string, also: readonly string[] = []): string {
  const stack = parse(rendered) as Rendered;
  const left = new Set([LIVE, ...also]);
  const services = Object.fromEntries(Object.entries(stack.services).filter(([name]) => !left.has(name)));
  return stringify({ ...stack, services });
}

/** The rendered stack with the api router sending to `colour` (the promotion: api rolls while api-next serves). */
export function withLive(rendered: string, colour: Colour): string {
  const stack = parse(rendered) as Rendered;
  const api = stack.services[LIVE];
  if (!api?.deploy?.labels?.[SWITCH_LABEL]) throw new Error(`the stack's ${LIVE} service has no ${SWITCH_LABEL} label`);
  api.deploy.labels[SWITCH_LABEL] = colour;
  return stringify(stack);
}

/**
 * The candidate's stack document: the rendered API as `api-next`, with its router and Traefik service renamed and
 * the router's rule narrowed to requests that carry the candidate header (a longer rule: Traefik gives it priority
 * over the public api router). Everything else (image, secrets, networks, health check, replicas) is the new
 * release's, so the candidate is exactly what api becomes.
 */
export function candidateStack(rendered: string): string {
  const stack = parse(rendered) as Rendered;
  const api = stack.services[LIVE];
  if (!api) throw new Error(`the rendered stack has no ${LIVE} service`);
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(api.deploy?.labels ?? {})) {
    const renamed = key
      .replace(/^traefik\.http\.routers\.api\./, `traefik.http.routers.${CANDIDATE}.`)
      .replace(/^traefik\.http\.services\.api\./, `traefik.http.services.${CANDIDATE}.`);
    labels[renamed] = value;
  }
  const rule = `traefik.http.routers.${CANDIDATE}.rule`;
  if (!labels[rule]) throw new Error(`the rendered ${LIVE} service has no traefik.http.routers.api.rule label`);
  labels[rule] = `${labels[rule]} && Header(\`${CANDIDATE_HEADER}\`, \`1\`)`;
  labels[`traefik.http.routers.${CANDIDATE}.service`] = CANDIDATE;
  labels['swarmlab.colour'] = 'candidate';
  const candidate = { ...api, deploy: { ...api.deploy, labels } };
  return stringify({ ...stack, services: { [CANDIDATE]: candidate } });
}

/** The HAProxy runtime command that sends api.lab.localhost to `colour`. */
export const haproxySwitchCommand = (colour: Colour, map = ROUTES_MAP) =>
  `set map ${map} ${API_HOST} ${HAPROXY_BACKEND[colour]}`;

/** The colour HAProxy's `show map` output sends api.lab.localhost to, if any. */
export function haproxyLive(showMap: string): Colour | undefined {
  for (const line of showMap.split('\n')) {
    const [, key, backend] = line.trim().split(/\s+/);
    if (key === API_HOST) return (Object.keys(HAPROXY_BACKEND) as Colour[]).find((c) => HAPROXY_BACKEND[c] === backend);
  }
  return undefined;
}

/** The colour Traefik's API says the api router sends to (GET /api/http/routers/api@swarm), if any. */
export function traefikLive(routerJson: string): Colour | undefined {
  const service = String((JSON.parse(routerJson) as { service?: unknown }).service ?? '').replace(/@swarm$/, '');
  return service === LIVE || service === CANDIDATE ? service : undefined;
}

// --- the swarm and the edge ---------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The image a service runs (without its digest). */
const imageOf = (service: { Spec?: { TaskTemplate?: unknown } }) =>
  String((service.Spec?.TaskTemplate as { ContainerSpec?: { Image?: string } })?.ContainerSpec?.Image ?? '').split(
    '@',
  )[0]!;

/** The image the live API runs (without its digest). */
export const liveImage = async (lab: Lab) => imageOf(await lab.docker.getService(stackService(LIVE)).inspect());

/** The colour the switch label names (api when the label is missing). */
export async function liveColour(lab: Lab): Promise<Colour> {
  const service = await lab.docker.getService(stackService(LIVE)).inspect();
  return service.Spec?.Labels?.[SWITCH_LABEL] === CANDIDATE ? CANDIDATE : LIVE;
}

/** The candidate service, when one runs (a blue/green release under way, or one that was interrupted). */
export async function candidateService(lab: Lab) {
  return lab.docker
    .getService(stackService(CANDIDATE))
    .inspect()
    .catch(() => undefined);
}

/** Which edge the lab runs: the HAProxy fallback when its service has a task, else Traefik. */
export async function detectEdge(lab: Lab): Promise<Edge> {
  const states = await serviceStates(lab);
  return (states.find((state) => state.name === 'edge-fallback')?.desired ?? 0) > 0 ? 'haproxy' : 'traefik';
}

/** Sets the switch label on the api service: a change of the service's labels only, which restarts no task. */
async function setSwitchLabel(lab: Lab, colour: Colour) {
  const service = lab.docker.getService(stackService(LIVE));
  const current = await service.inspect();
  const spec = current.Spec as { Labels?: Record<string, string> };
  await service.update({
    ...spec,
    Labels: { ...spec.Labels, [SWITCH_LABEL]: colour },
    version: current.Version?.Index,
  });
}

/** One command to HAProxy's runtime API in the edge container; its answer. */
async function haproxyRuntime(lab: Lab, command: string): Promise<string> {
  const container = await managerContainer(lab, 'edge-fallback');
  const script = `exec 3<>/dev/tcp/127.0.0.1/${HAPROXY_RUNTIME_PORT} && printf '%s\\n' "$1" >&3 && cat <&3`;
  const run = await execInContainer(container, ['bash', '-c', script, 'haproxy-runtime', command]);
  if (run.exitCode !== 0) throw new StopError(`HAProxy's runtime API (${command}): exit ${run.exitCode}`);
  return run.stdout;
}

/** Where the edge sends api.lab.localhost now. */
async function edgeLive(lab: Lab, edge: Edge): Promise<Colour | undefined> {
  if (edge === 'haproxy') return haproxyLive(await haproxyRuntime(lab, `show map ${ROUTES_MAP}`));
  const password = (await readFile(path.join(labPaths().secrets, 'ops_basic_auth.password'), 'utf8')).trim();
  const client = new LabClient();
  try {
    const response = await client.request({
      host: 'traefik',
      path: '/api/http/routers/api@swarm',
      headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` },
    });
    return response.status === 200 ? traefikLive(response.body) : undefined;
  } finally {
    client.close();
  }
}

/**
 * Sends the API's traffic to `colour` in one step and waits until the edge does: HAProxy at once (runtime API),
 * Traefik at its next read of the swarm (refreshSeconds 10 s). Returns how long the edge took.
 */
export async function switchTo(lab: Lab, edge: Edge, colour: Colour, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  await setSwitchLabel(lab, colour);
  if (edge === 'haproxy') await haproxyRuntime(lab, haproxySwitchCommand(colour));
  let seen: Colour | undefined;
  while (Date.now() - started < timeoutMs) {
    seen = await edgeLive(lab, edge).catch(() => undefined);
    if (seen === colour) return Date.now() - started;
    await sleep(1000);
  }
  throw new StopError(
    `The ${edge} edge still sends the API's traffic to ${seen ?? 'an unknown service'} ${formatMs(timeoutMs)} after ` +
      `the switch to ${colour}. Check it (npm run lab:status), then run npm run rollback.`,
  );
}

/** Stops a deploy while a candidate runs: another release is under way, or one was interrupted. */
export async function refuseWhileCandidate(lab: Lab) {
  if (!(await candidateService(lab))) return;
  throw new StopError(
    `${stackService(CANDIDATE)} runs: another blue/green release is under way, or one was interrupted. Let it ` +
      'finish, or run npm run rollback (the traffic goes back to api, the candidate is removed), then deploy again.',
  );
}

export async function removeCandidate(lab: Lab): Promise<boolean> {
  const candidate = await candidateService(lab);
  if (!candidate) return false;
  await lab.docker.getService(candidate.ID).remove();
  return true;
}

/**
 * Waits until every candidate task runs healthy; fails as soon as as many tasks have ended as the service has
 * replicas. A task that never passes its health check is stopped by Swarm and replaced: the API exits cleanly on
 * that SIGTERM, so such a task ends "complete", not "failed"; during this wait any ended task is a failed start.
 */
async function waitForCandidate(lab: Lab, timeoutMs: number) {
  const started = Date.now();
  let printedAt = 0;
  for (;;) {
    const state = (await serviceStates(lab)).find((candidate) => candidate.name === CANDIDATE);
    if (state && state.desired > 0 && state.running === state.desired) return state;
    const tasks = await lab.docker.listTasks({ filters: { service: [stackService(CANDIDATE)] } });
    const ended = tasks.filter((task) => task.DesiredState === 'shutdown' || task.DesiredState === 'remove');
    const errors = ended.map((task) => task.Status?.Err).filter(Boolean);
    const why = errors[0] ?? 'stopped before its health check (GET /healthz) ever passed';
    const line = `${state?.running ?? 0}/${state?.desired ?? '?'} ready, ${ended.length} ended`;
    if (state && ended.length >= Math.max(state.desired, 1)) {
      console.error(await failureDetails(lab, CANDIDATE));
      throw new ServiceFailure(CANDIDATE, `the release is not ready: ${line} (${why})`);
    }
    const elapsed = Date.now() - started;
    if (elapsed > timeoutMs) {
      console.error(await failureDetails(lab, CANDIDATE));
      throw new ServiceFailure(CANDIDATE, `not ready after ${formatMs(timeoutMs)}: ${line}`);
    }
    if (elapsed - printedAt >= 10_000) {
      console.error(`  … ${formatMs(elapsed)}: ${CANDIDATE} ${line}`);
      printedAt = elapsed;
    }
    await sleep(2500);
  }
}

/** The commit the API answers with (GET /), through the public route or the candidate's private one. */
async function answeringCommit(client: LabClient, candidate: boolean): Promise<string> {
  const response = await client.request({
    host: 'api',
    path: '/',
    headers: candidate ? { [CANDIDATE_HEADER.toLowerCase()]: '1' } : {},
  });
  if (response.status !== 200) throw new Error(`GET / answered ${response.status}`);
  return String((JSON.parse(response.body) as { gitSha?: unknown }).gitSha ?? '');
}

/** Waits until `times` answers in a row come from `sha`, through the public route or the candidate's. */
async function expectCommit(client: LabClient, sha: string, candidate: boolean, times: number, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  let last = '';
  while (Date.now() < deadline) {
    try {
      last = await answeringCommit(client, candidate);
      streak = last === sha ? streak + 1 : 0;
      if (streak >= times) return `${times} answers in a row from ${sha.slice(0, 12)}`;
    } catch (error) {
      streak = 0;
      last = (error as Error).message;
    }
    await sleep(streak > 0 ? 100 : 1000);
  }
  const route = candidate ? `the private route (${CANDIDATE_HEADER}: 1)` : 'the public route';
  throw new ServiceFailure(candidate ? CANDIDATE : LIVE, `${route} does not answer from ${sha.slice(0, 12)}: ${last}`);
}

/** The grace period: the candidate serves, the previous version waits for a rollback. Fails when either goes. */
async function watchGrace(lab: Lab, client: LabClient, graceMs: number) {
  const deadline = Date.now() + graceMs;
  let failures = 0;
  while (Date.now() < deadline) {
    if (!(await candidateService(lab)) || (await liveColour(lab)) !== CANDIDATE) throw new RolledBackDuringGrace();
    const status = await client.request({ host: 'api', path: '/readyz' }).then(
      (response) => response.status,
      () => 0,
    );
    failures = status === 200 ? 0 : failures + 1;
    if (failures >= 3)
      throw new ServiceFailure(CANDIDATE, `/readyz through the edge failed 3 times in a row (last: ${status})`);
    await sleep(2000);
  }
}

/** Someone ran npm run rollback during the grace period: the previous version serves again. */
export class RolledBackDuringGrace extends StopError {
  override name = 'RolledBackDuringGrace';
  constructor() {
    super('The release was rolled back during its grace period (npm run rollback): the previous version serves.');
  }
}

export interface BlueGreenRelease {
  lab: Lab;
  edge: Edge;
  /** The whole stack as deploy rendered it, with the new API image. */
  rendered: string;
  /** The release's commit: what the new API answers GET / with. */
  sha: string;
  timeoutMs: number;
  graceMs: number;
  /** docker stack deploy of one document (deploy.ts). */
  deployStack: (document: string, file: string) => Promise<void>;
}

/** What happened, for the summary and the KPIs. */
export interface BlueGreenOutcome {
  /** How long the edge took to follow the switch to the candidate. */
  switchMs: number;
  /** Whether traffic ever went to the candidate (then a failure is a rollback users may have seen). */
  switched: boolean;
}

/**
 * A blue/green release of the API. On any failure the previous version gets the traffic back and the candidate is
 * removed before the error is rethrown, so the live version keeps serving.
 */
export async function releaseBlueGreen(release: BlueGreenRelease): Promise<BlueGreenOutcome> {
  const { lab, edge, rendered, sha, timeoutMs } = release;
  const client = new LabClient();
  const outcome: BlueGreenOutcome = { switchMs: 0, switched: false };
  try {
    await step('the rest of the stack (the live API left as it is)', async () => {
      await release.deployStack(withoutApi(rendered), 'stack-rest.yml');
      await waitForConvergence(lab, timeoutMs, (name) => name !== LIVE);
    });
    await step(`start the candidate (${CANDIDATE}) beside the live API`, async () => {
      await release.deployStack(candidateStack(rendered), 'stack-candidate.yml');
      await waitForCandidate(lab, timeoutMs);
    });
    await step(`smoke test the candidate on its private route (${CANDIDATE_HEADER}: 1)`, () =>
      expectCommit(client, sha, true, 5),
    );
    outcome.switchMs = await step(`switch the traffic to ${CANDIDATE} (${edge})`, () => switchTo(lab, edge, CANDIDATE));
    outcome.switched = true;
    await step('smoke test after the switch (public route)', () => expectCommit(client, sha, false, 10));
    await step(`grace period ${formatMs(release.graceMs)}: the previous version kept for npm run rollback`, () =>
      watchGrace(lab, client, release.graceMs),
    );
    await step(`promote: ${LIVE} rolls to the new version while ${CANDIDATE} serves`, async () => {
      await release.deployStack(withLive(rendered, CANDIDATE), 'stack-promote.yml');
      await waitForConvergence(lab, timeoutMs);
    });
    await step(`switch the traffic back to ${LIVE} (now the new version)`, () => switchTo(lab, edge, LIVE));
    await step('smoke test after the promotion', () => expectCommit(client, sha, false, 10));
    await step(`remove ${CANDIDATE}`, () => removeCandidate(lab));
    return outcome;
  } catch (error) {
    if (!(error instanceof RolledBackDuringGrace)) await restoreLive(lab, edge, outcome.switched, error as Error);
    throw error;
  } finally {
    client.close();
  }
}

/** After a failed release: traffic back to api (the previous version, unless promotion had begun) and no candidate. */
async function restoreLive(lab: Lab, edge: Edge, switched: boolean, cause: Error) {
  console.error(`✗ ${cause.message}`);
  try {
    if (switched || (await liveColour(lab)) !== LIVE) {
      await step(`switch the traffic back to ${LIVE}`, () => switchTo(lab, edge, LIVE));
    }
    if (await candidateService(lab)) await step(`remove ${CANDIDATE}`, () => removeCandidate(lab));
  } catch (error) {
    console.error(
      `The traffic could not be put back on ${LIVE} (${(error as Error).message}): run npm run rollback, then ` +
        'npm run lab:status.',
    );
  }
}

/**
 * `npm run rollback` while a blue/green release runs: the previous version (api) gets the traffic back at once and
 * the candidate is removed. Undefined when no candidate runs. Refused once the promotion has begun (api runs the
 * new image then): the rollback after it is Swarm's, of the api service.
 */
export async function abortBlueGreen(lab: Lab, edge: Edge): Promise<string | undefined> {
  const candidate = await candidateService(lab);
  if (!candidate) return undefined;
  const api = await lab.docker.getService(stackService(LIVE)).inspect();
  if (imageOf(api) === imageOf(candidate)) {
    throw new StopError(
      `The blue/green release is being promoted (${LIVE} already runs ${imageOf(candidate)}): let the deploy ` +
        'finish, then run npm run rollback again to roll the api service back to its previous version.',
    );
  }
  if ((await liveColour(lab)) === CANDIDATE || edge === 'haproxy') {
    await step(`switch the traffic back to ${LIVE} (${edge})`, () => switchTo(lab, edge, LIVE));
  }
  await step(`remove ${CANDIDATE}`, () => removeCandidate(lab));
  return `${LIVE} serves ${imageOf(api)}; ${CANDIDATE} (${imageOf(candidate)}) removed`;
}
