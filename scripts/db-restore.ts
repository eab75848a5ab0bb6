// `npm run db:restore`: restores the lab's database from the pgBackRest repository to a point in time, the end of
// the archived WAL, or one backup. Into a scratch instance (default: in the backup service, to inspect, the live
// cluster untouched) or, with --into cluster --yes, into the cluster itself. See docs/backup-and-restore.md.
import { performance } from 'node:perf_hooks';
import { $ } from 'zx';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { formatMs, lastLine, requireDocker } from './lib/docker.js';
import {
  backupContainer,
  checkRestorable,
  pgbackrestOptions,
  restoreTarget,
  runBackupJob,
  type BackupList,
  type Target,
} from './lib/lab-backup.js';
import { findLab, requireManager, type Lab } from './lib/lab-context.js';
import { clusterOf } from './lib/lab-patroni.js';
import { runJob, stackService, waitForConvergence, type JobSpec } from './lib/lab-swarm.js';
import { step, summary } from './lib/log.js';
import { PatroniClient } from './lib/patroni.js';
import { smokeTest } from './lib/smoke.js';

const HELP = `
Usage: npm run db:restore -- (--time <ISO 8601> | --latest | --backup <label>) [--into scratch|cluster] [--yes]
       npm run db:restore -- --stop-scratch

Restores the database from the lab's pgBackRest repository:
  --time <t>     to that moment (ISO 8601 with a zone, e.g. 2026-11-22T03:04:05Z): every transaction committed
                 before it, none after
  --latest       to the end of the archived WAL (at most archive_timeout, 60 s, behind the last commit)
  --backup <l>   to the end of that backup (labels: npm run backup:list)

  --into scratch (default) a throwaway instance inside the backup service, left running to inspect; the cluster
                 is not touched. Stop it with --stop-scratch.
  --into cluster the cluster itself, with --yes: checks the target against the restorable window, stops the API
                 and both PostgreSQL members, restores the first member into a directory of its own and swaps it in
                 only once PostgreSQL has reached the target (the old one is kept as pgdata.before-restore),
                 empties the second (it clones the new leader), starts them, starts the API and runs the smoke
                 test. Everything written after the target is lost. A restore that fails restarts the cluster as
                 it was.
  --timeout <s>  how long each phase may take (default 900)
`;

/** Stops with the reason when the repository cannot restore `target`; nothing is stopped before this. */
async function checkTarget(lab: Lab, target: Target) {
  await step('check the target against the restorable window', async () => {
    const list = (await runBackupJob(lab, ['info'])) as unknown as BackupList;
    checkRestorable(list, target);
  });
}

async function scratch(lab: Lab, target: Target) {
  await checkTarget(lab, target);
  const result = await step(`restore ${target.describe} into a scratch instance`, () =>
    runBackupJob(lab, ['scratch', ...target.args]),
  );
  const env = Object.entries(lab.env)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  const container = (await backupContainer(lab)).id.slice(0, 12);
  summary(`Restored ${target.describe} in ${String(result.duration_s)} s (scratch; the cluster is untouched)`, {
    inspect: `${env} docker exec -it ${container} ${String(result.psql)}`,
    stop: 'npm run db:restore -- --stop-scratch',
    'restore into the cluster': `npm run db:restore -- ${target.flags.join(' ')} --into cluster --yes`,
  });
}

/** Waits until no task of `service` is still running or starting (a stopping PostgreSQL may take its grace period). */
async function waitStopped(lab: Lab, service: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tasks = await lab.docker.listTasks({ filters: { service: [service] } });
    const live = tasks.filter((task) =>
      ['new', 'pending', 'assigned', 'accepted', 'preparing', 'starting', 'running'].includes(task.Status?.State ?? ''),
    );
    if (live.length === 0) return;
    if (Date.now() > deadline)
      throw new StopError(`${service} still has ${live.length} task(s) running after scaling to 0.`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function scale(lab: Lab, service: string, replicas: number) {
  const result = await $({
    quiet: true,
    env: { ...process.env, ...lab.env },
  })`docker service scale --detach ${`${service}=${replicas}`}`.nothrow();
  if (result.exitCode !== 0)
    throw new StopError(`docker service scale ${service}=${replicas}: ${lastLine(result.stderr)}`);
}

/** A one-shot job of a member's own image, environment, secrets, placement and volume, running entrypoint.sh MODE. */
async function memberJob(lab: Lab, member: string, command: string[]): Promise<JobSpec> {
  const spec = (await lab.docker.getService(stackService(member)).inspect()).Spec as {
    TaskTemplate: {
      ContainerSpec: { Image: string; Env?: string[]; Secrets?: { SecretName: string; File: { Name: string } }[] };
      Placement?: { Constraints?: string[] };
    };
  };
  const container = spec.TaskTemplate.ContainerSpec;
  return {
    name: `${member}-restore`,
    image: container.Image,
    command,
    networks: [`${stackService('data')}`],
    secrets: (container.Secrets ?? []).map((secret) => ({
      source: secret.SecretName,
      target: secret.File.Name,
      uid: 999,
    })),
    env: Object.fromEntries(
      (container.Env ?? []).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    ),
    mounts: [`type=volume,source=${stackService(`${member}-data`)},target=/var/lib/postgresql/data`],
    constraints: spec.TaskTemplate.Placement?.Constraints ?? [],
  };
}

async function intoCluster(lab: Lab, target: Target, timeoutMs: number) {
  const started = performance.now();
  await checkTarget(lab, target);
  const api = stackService('api');
  const apiSpec = (await lab.docker.getService(api).inspect()) as {
    Spec?: { Mode?: { Replicated?: { Replicas?: number } } };
  };
  const apiReplicas = apiSpec.Spec?.Mode?.Replicated?.Replicas ?? 3;
  const only =
    (...names: string[]) =>
    (name: string) =>
      names.includes(name);
  // The member that leads now (if any: the cluster may be down, the reason for the restore): after a failed restore
  // it starts first and leads again, as before.
  const view = await clusterOf(lab)
    .then((location) => new PatroniClient(location).cluster())
    .catch(() => undefined);
  const leader = view?.leader?.name === 'postgres2' ? 'postgres2' : 'postgres1';
  const startMembers = async (first: string) => {
    for (const [member, role] of [
      [first, 'the leader'],
      [first === 'postgres1' ? 'postgres2' : 'postgres1', 'a replica of the leader'],
    ] as const) {
      await step(`start ${member} (${role})`, async () => {
        await scale(lab, stackService(member), 1);
        await waitForConvergence(lab, timeoutMs, only(member));
      });
    }
  };
  const startApi = () =>
    step(`start the API (${apiReplicas} replicas)`, async () => {
      await scale(lab, api, apiReplicas);
      await waitForConvergence(lab, timeoutMs, only('api', 'db-router'));
    });
  const recover =
    'The cluster is partly stopped. Fix the cause above, then run the restore again, or npm run deploy to start ' +
    'every service as the stack file says (the data directories are as the failed step left them).';
  try {
    await step('stop the API', async () => {
      await scale(lab, api, 0);
      await waitStopped(lab, api, timeoutMs);
    });
    await step('stop both PostgreSQL members', async () => {
      await Promise.all(['postgres1', 'postgres2'].map((m) => scale(lab, stackService(m), 0)));
      await Promise.all(['postgres1', 'postgres2'].map((m) => waitStopped(lab, stackService(m), timeoutMs)));
    });
  } catch (error) {
    if (error instanceof Error) error.message = `${error.message}\n${recover}`;
    throw error;
  }
  try {
    await step(`restore postgres1 to ${target.describe}, in a directory of its own`, async () => {
      const output = await runJob(
        lab,
        await memberJob(lab, 'postgres1', ['restore', ...pgbackrestOptions(target)]),
        timeoutMs,
      );
      const restored = output.split('\n').find((line) => line.includes('entrypoint: restored,'));
      if (restored) console.error(`  ${restored.trim()}`);
    });
  } catch (error) {
    // The data directories and etcd are untouched: start the cluster as it was.
    const why = error instanceof Error ? error.message : String(error);
    console.error(`The restore failed; postgres1's data directory was not touched. Starting the cluster as it was.`);
    try {
      await startMembers(leader);
      await startApi();
    } catch (restartError) {
      throw new StopError(
        `${why}\nThen starting the cluster again failed: ${restartError instanceof Error ? restartError.message : String(restartError)}\n${recover}`,
      );
    }
    throw new StopError(
      `${why}\nThe cluster runs as it was before the restore (nothing was lost). Check the target with a scratch ` +
        `restore first: npm run db:restore -- ${target.flags.join(' ')}`,
    );
  }
  try {
    await step('empty postgres2 (it clones the new leader)', async () =>
      runJob(lab, await memberJob(lab, 'postgres2', ['wipe']), timeoutMs),
    );
    await startMembers('postgres1');
    await startApi();
  } catch (error) {
    if (error instanceof Error) error.message = `${error.message}\n${recover}`;
    throw error;
  }
  await step('smoke test through the edge', () => smokeTest());
  summary(`Restored the cluster to ${target.describe} in ${formatMs(performance.now() - started)}`, {
    leader: 'postgres1 (postgres2 cloned from it)',
    'WAL archiving': 'on a new timeline, to the same repository',
    'before the restore':
      "postgres1's old data directory, kept as pgdata.before-restore in its volume until the next restore",
    next: 'npm run backup -- --type full (a fresh base for the new timeline); npm run lab:status',
  });
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      time: { type: 'string' },
      latest: { type: 'boolean' },
      backup: { type: 'string' },
      into: { type: 'string', default: 'scratch' },
      yes: { type: 'boolean', default: false },
      'stop-scratch': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '900' },
    },
    HELP,
  );
  const timeoutMs = Number(flags.timeout) * 1000;
  if (!Number.isInteger(Number(flags.timeout)) || timeoutMs < 30_000)
    throw new StopError('--timeout must be whole seconds, at least 30.');
  if (flags.into !== 'scratch' && flags.into !== 'cluster') {
    throw new StopError(`--into must be scratch or cluster, not "${flags.into}".`);
  }
  const target = flags['stop-scratch'] ? undefined : restoreTarget(flags);
  if (flags.into === 'cluster' && !flags.yes) {
    throw new StopError(
      'Restoring into the cluster replaces the live database: every write after the target is lost, and the API is ' +
        'stopped meanwhile. Try it into a scratch instance first (leave out --into), then add --yes to go ahead.',
    );
  }
  await requireDocker();
  const lab = await findLab();
  await requireManager(lab);
  if (!target) {
    await step('stop the scratch instance', () => runBackupJob(lab, ['scratch-stop']));
    return;
  }
  if (flags.into === 'scratch') await scratch(lab, target);
  else await intoCluster(lab, target, timeoutMs);
}

await runCommand(main);
