// Talking to the lab's swarm through its manager: Docker secrets, the stack's services and their convergence,
// one-shot jobs, and what to show when something fails.
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { $ } from 'zx';
import { StopError } from './cli.js';
import { convergence, type ServiceState } from './deploy-plan.js';
import { formatMs, indent, tail } from './docker.js';
import type { Lab } from './lab-context.js';
import { alertmanagerDeployment } from './alertmanager-config.js';
import {
  CATALOGUE,
  dockerSecretName,
  SECRET_NAMES,
  secretFile,
  STACK,
  type LabPaths,
  type Versions,
} from './lab-secrets.js';
import { dockerClientSecrets } from './lab-node-tls.js';
import { labStateSecretName } from './lab-state.js';

export const stackService = (name: string) => `${STACK}_${name}`;
const STACK_LABEL = `com.docker.stack.namespace=${STACK}`;

/**
 * Creates the Docker secret of every lab secret's current version that the swarm lacks, and those of the host's
 * Docker client certificate and key (named by the certificate's hash: lab-node-tls.ts); returns their names.
 */
export async function ensureDockerSecrets(lab: Lab, paths: LabPaths, versions: Versions): Promise<string[]> {
  const existing = new Set((await lab.docker.listSecrets()).map((secret) => secret.Spec?.Name));
  const created: string[] = [];
  for (const name of SECRET_NAMES) {
    const dockerName = dockerSecretName(name, versions);
    // A secret no service mounts (registry_password: the CLI's, never a task's) is never handed to the swarm.
    if (existing.has(dockerName) || CATALOGUE[name].services.length === 0) continue;
    const data = await readFile(secretFile(name, paths));
    await lab.docker.createSecret({
      Name: dockerName,
      Data: data.toString('base64'),
      Labels: { 'swarmlab.secret': name, 'swarmlab.version': String(versions[name]) },
    });
    created.push(dockerName);
  }
  for (const { name, dockerName, file } of dockerClientSecrets(paths)) {
    if (existing.has(dockerName)) continue;
    await lab.docker.createSecret({
      Name: dockerName,
      Data: (await readFile(file)).toString('base64'),
      Labels: { 'swarmlab.secret': name },
    });
    created.push(dockerName);
  }
  return created;
}

/**
 * Creates Alertmanager's Docker config (Slack entries trimmed unless a webhook URL is set) and the Slack secret,
 * named by content hash, when the swarm lacks them; returns the names created.
 */
export async function ensureAlertmanagerObjects(lab: Lab, labRoot: string): Promise<string[]> {
  const deployment = alertmanagerDeployment(labRoot);
  const created: string[] = [];
  const configName = `${STACK}_alertmanager_config_${deployment.configHash}`;
  const configs = new Set((await lab.docker.listConfigs()).map((config) => config.Spec?.Name));
  if (!configs.has(configName)) {
    await lab.docker.createConfig({
      Name: configName,
      Data: Buffer.from(deployment.configText).toString('base64'),
      Labels: { 'com.docker.stack.namespace': STACK, 'swarmlab.slack': String(deployment.slack) },
    });
    created.push(configName);
  }
  const secretName = `${STACK}_slack_webhook_url_${deployment.slackHash}`;
  const secrets = new Set((await lab.docker.listSecrets()).map((secret) => secret.Spec?.Name));
  if (!secrets.has(secretName)) {
    await lab.docker.createSecret({
      Name: secretName,
      Data: Buffer.from(deployment.slackSecret).toString('base64'),
      Labels: { 'swarmlab.secret': 'slack_webhook_url' },
    });
    created.push(secretName);
  }
  return created;
}

/** Creates the lab state's Docker secret (lab-state.ts) when the swarm lacks it; returns its name when created. */
export async function ensureLabStateSecret(lab: Lab, state: string): Promise<string[]> {
  const name = labStateSecretName(state);
  const existing = await lab.docker.listSecrets({ filters: { name: [name] } });
  if (existing.some((secret) => secret.Spec?.Name === name)) return [];
  await lab.docker.createSecret({
    Name: name,
    Data: Buffer.from(state).toString('base64'),
    Labels: { 'swarmlab.secret': 'lab_state' },
  });
  return [name];
}

/**
 * Removes the Docker secrets this lab made that nothing needs any more: older versions of the lab secrets, and those
 * named by content (Docker client certificate, Slack URL, lab state), unless `keep` names them. Deploy keeps the
 * ones the stack it just deployed uses and the ones the services' previous specs use (previousSpecSecrets), so
 * `npm run rollback` can still go back; a later deploy removes those. Returns their names.
 */
export async function pruneOldSecrets(lab: Lab, versions: Versions, keep: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const secret of await lab.docker.listSecrets({ filters: { label: ['swarmlab.secret'] } })) {
    const labels = secret.Spec?.Labels ?? {};
    const version = labels['swarmlab.version'];
    if (keep.includes(secret.Spec?.Name ?? '')) continue;
    if (version !== undefined) {
      const current = versions[labels['swarmlab.secret'] ?? ''];
      if (current === undefined || Number(version) >= current) continue;
    }
    try {
      await lab.docker.getSecret(secret.ID).remove();
      removed.push(secret.Spec?.Name ?? secret.ID);
    } catch {
      // Still mounted by a task that has not rolled yet: removed by a later deploy.
    }
  }
  return removed;
}

type Service = Awaited<ReturnType<Docker['listServices']>>[number];

/** The Docker secrets the stack's services' previous specs mount: what `docker service rollback` goes back to. */
export async function previousSpecSecrets(lab: Lab): Promise<string[]> {
  type Spec = { TaskTemplate?: { ContainerSpec?: { Secrets?: { SecretName?: string }[] } } };
  return (await stackServices(lab)).flatMap((service) =>
    ((service as { PreviousSpec?: Spec }).PreviousSpec?.TaskTemplate?.ContainerSpec?.Secrets ?? []).flatMap(
      (secret) => secret.SecretName ?? [],
    ),
  );
}
type Task = Awaited<ReturnType<Docker['listTasks']>>[number];

export async function stackServices(lab: Lab): Promise<Service[]> {
  return lab.docker.listServices({ filters: { label: [STACK_LABEL] } });
}

/** Each stack service's replicas wanted and running its current image, its update state and recent task errors. */
export async function serviceStates(lab: Lab): Promise<ServiceState[]> {
  const [services, tasks] = await Promise.all([
    stackServices(lab),
    lab.docker.listTasks({ filters: { label: [STACK_LABEL] } }) as Promise<Task[]>,
  ]);
  return services.map((service) => {
    const image = service.Spec?.TaskTemplate && (service.Spec.TaskTemplate as { ContainerSpec?: { Image?: string } });
    const own = tasks.filter((task) => task.ServiceID === service.ID);
    const running = own.filter(
      (task) =>
        task.DesiredState === 'running' &&
        task.Status?.State === 'running' &&
        (task.Spec as { ContainerSpec?: { Image?: string } } | undefined)?.ContainerSpec?.Image ===
          image?.ContainerSpec?.Image,
    ).length;
    const taskErrors = own
      .filter((task) => task.Status?.Err)
      .sort((a, b) => String(b.UpdatedAt).localeCompare(String(a.UpdatedAt)))
      .map((task) => task.Status!.Err!)
      .slice(0, 3);
    const update = (service as { UpdateStatus?: { State?: string; Message?: string } }).UpdateStatus;
    return {
      name: (service.Spec?.Name ?? '').replace(`${STACK}_`, ''),
      // A global service wants one task per eligible node: as many as Swarm keeps desired-running.
      desired: service.Spec?.Mode?.Global
        ? own.filter((task) => task.DesiredState === 'running').length
        : (service.Spec?.Mode?.Replicated?.Replicas ?? 0),
      running,
      ...(update?.State && { update: update.State }),
      ...(update?.Message && { updateMessage: update.Message }),
      taskErrors,
    };
  });
}

/** Waits until every stack service has converged, printing what is pending every 5 s; throws on failure. */
export async function waitForConvergence(lab: Lab, timeoutMs: number, only?: (name: string) => boolean) {
  const started = performance.now();
  let last = '';
  let printedAt = 0;
  for (;;) {
    const states = (await serviceStates(lab)).filter((state) => !only || only(state.name));
    const result = convergence(states);
    if (result.state === 'converged') return states;
    if (result.state === 'failed') throw new ServiceFailure(result.service, result.reason);
    const elapsed = performance.now() - started;
    const line = states
      .filter((state) => result.pending.includes(state.name))
      .map(
        (state) => `${state.name} ${state.running}/${state.desired}${state.update === 'updating' ? ' updating' : ''}`,
      )
      .join(', ');
    if (elapsed > timeoutMs) {
      const stuck = states.find((state) => result.pending.includes(state.name))!;
      throw new ServiceFailure(
        stuck.name,
        `not converged after ${formatMs(elapsed)} (${line})${stuck.taskErrors[0] ? `; last task error: ${stuck.taskErrors[0]}` : ''}`,
      );
    }
    if (line !== last || elapsed - printedAt >= 10_000) {
      console.error(`  … ${formatMs(elapsed)}: ${line}`);
      printedAt = elapsed;
    }
    last = line;
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }
}

/** A service that did not converge: the message names it and why; details() adds its tasks' errors and logs. */
export class ServiceFailure extends StopError {
  override name = 'ServiceFailure';
  constructor(
    readonly service: string,
    readonly reason: string,
  ) {
    super(`${service}: ${reason}`);
  }
}

/** The service's recent task errors and last log lines, to print when it failed. */
export async function failureDetails(lab: Lab, service: string): Promise<string> {
  const states = await serviceStates(lab).catch(() => []);
  const errors = states.find((state) => state.name === service)?.taskErrors ?? [];
  const logs = await $({
    quiet: true,
    env: { ...process.env, ...lab.env },
  })`docker service logs --tail 20 --no-trunc --raw ${stackService(service)}`
    .nothrow()
    .timeout('20s');
  return [
    `Tasks' errors of ${service}: ${errors.length > 0 ? errors.join(' | ') : 'none reported'}`,
    `Last log lines of ${service}:`,
    indent(tail(logs.stdall, 20)),
  ].join('\n');
}

export interface JobSpec {
  name: string;
  image: string;
  command: string[];
  /** Replaces the image's entrypoint (the command is then its arguments). */
  entrypoint?: string;
  networks: string[];
  /** Mounted as /run/secrets/<target>, readable by `uid` only. */
  secrets: { source: string; target: string; uid: number }[];
  env: Record<string, string>;
  /** docker service create --mount values (e.g. type=volume,source=swarmlab_postgres1-data,target=/data). */
  mounts?: string[];
  /** Placement constraints (e.g. node.labels.db == 1). */
  constraints?: string[];
  /** Extra /etc/hosts lines, name:address (as the stack's extra_hosts). */
  hosts?: string[];
}

/**
 * Runs a one-shot Swarm job (replicated-job) to its end; returns its output; throws with its logs when it fails. The
 * image's health check is off: it checks the service the image runs, not the job (Swarm would kill a long one).
 */
export async function runJob(lab: Lab, job: JobSpec, timeoutMs: number): Promise<string> {
  const cli = $({ quiet: true, env: { ...process.env, ...lab.env } });
  const name = `${STACK}_${job.name}`;
  await cli`docker service rm ${name}`.nothrow();
  await cli`docker service create --detach --with-registry-auth --name ${name} --mode replicated-job --restart-condition none --no-healthcheck ${job.entrypoint ? [`--entrypoint=${job.entrypoint}`] : []} ${job.networks.map((n) => `--network=${n}`)} ${job.secrets.map((s) => `--secret=source=${s.source},target=${s.target},uid=${s.uid},gid=${s.uid},mode=0400`)} ${Object.entries(job.env).map(([k, v]) => `--env=${k}=${v}`)} ${(job.mounts ?? []).map((m) => `--mount=${m}`)} ${(job.constraints ?? []).map((c) => `--constraint=${c}`)} ${(job.hosts ?? []).map((h) => `--host=${h}`)} ${job.image} ${job.command}`;
  const deadline = Date.now() + timeoutMs;
  let state = 'new';
  let err = '';
  while (Date.now() < deadline) {
    const tasks = await lab.docker.listTasks({ filters: { service: [name] } });
    const task = tasks[0];
    state = task?.Status?.State ?? 'new';
    err = task?.Status?.Err ?? '';
    if (['complete', 'failed', 'rejected', 'shutdown'].includes(state)) break;
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  const logs = (await cli`docker service logs --raw --no-trunc ${name}`.nothrow().timeout('30s')).stdall;
  await cli`docker service rm ${name}`.nothrow();
  if (state !== 'complete') {
    throw new StopError(
      `The job ${job.name} ended ${state === 'new' || Date.now() >= deadline ? `unfinished after ${timeoutMs / 1000} s` : state}` +
        `${err ? ` (${err})` : ''}; its output:\n${indent(tail(logs, 20))}`,
    );
  }
  return logs.trim();
}
