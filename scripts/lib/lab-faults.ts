// Faults in the deployed lab, and the client that measures what a user sees through them: used by the end-to-end
// test (lab/test/e2e.test.ts) and `npm run bench:lab`. Traffic goes only to the lab's own 127.0.0.1 ports and to
// containers of the lab's own nodes; every loop is bounded in time and requests.
import { $ } from 'zx';
import { execInContainer, managerContainer } from './lab-backup.js';
import type { Lab } from './lab-context.js';
import { NODES } from './lab-docker.js';
import type { LabResponse } from './lab-https.js';
import { labQuery } from './lab-prometheus.js';
import { stackService } from './lab-swarm.js';

export interface EdgeWrites {
  /** The title every write of this run starts with (to find them in the database). */
  prefix: string;
  /** The titles of the writes the API acknowledged (201), in order. */
  acked: string[];
  /** How many answers of each status (or network error code) the client got. */
  byStatus: Record<string, number>;
  /** The longest time between two acknowledged writes. */
  longestGapMs: number;
}

/**
 * Writes items through the public edge for `durationMs`, one after the other, with `post` (the lab client's POST
 * /v1/items with a token); after a failure it waits 50 ms, as a client would before retrying (the edge's own 503
 * takes a millisecond). At most 20,000 requests.
 */
export async function writeThroughEdge(
  post: (title: string) => Promise<LabResponse>,
  durationMs: number,
): Promise<EdgeWrites> {
  const prefix = `failover-${Date.now()}-`;
  const acked: string[] = [];
  const ackedAt: number[] = [];
  const byStatus: Record<string, number> = {};
  const end = Date.now() + durationMs;
  for (let n = 0; Date.now() < end && n < 20_000; n++) {
    const title = `${prefix}${n}`;
    let status: string;
    try {
      status = String((await post(title)).status);
    } catch (error) {
      status = (error as NodeJS.ErrnoException).code ?? 'network error';
    }
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    if (status === '201') {
      acked.push(title);
      ackedAt.push(Date.now());
    } else {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const longestGapMs = Math.max(0, ...ackedAt.slice(1).map((at, i) => at - ackedAt[i]!));
  return { prefix, acked, byStatus, longestGapMs };
}

/** SIGKILLs the running container of a stack service on whichever node runs it: a crash, not a stop. */
export async function killServiceContainer(lab: Lab, service: string): Promise<string> {
  const nodes = new Map((await lab.docker.listNodes()).map((node) => [node.ID, node.Description?.Hostname]));
  const [task] = await lab.docker.listTasks({
    filters: { service: [stackService(service)], 'desired-state': ['running'] },
  });
  const node = NODES.find((candidate) => candidate.name === nodes.get(task?.NodeID ?? ''));
  const container = task?.Status?.ContainerStatus?.ContainerID;
  if (!node || !container) throw new Error(`no running task of ${service} to kill`);
  await $({ quiet: true })`docker exec ${node.container} docker kill ${container}`;
  return node.name;
}

/** One label's values across an instant query's answer in the lab's Prometheus, sorted. */
export const labelValues = async (lab: Lab, expr: string, label: string) =>
  (await labQuery(lab, expr)).map((series) => series.metric[label] ?? '').sort();

/** The PostgreSQL member Patroni reports as primary, when exactly one does. */
export async function leaderByPatroni(lab: Lab): Promise<string | undefined> {
  const leaders = await labelValues(lab, 'max by (member) (patroni_primary) == 1', 'member');
  return leaders.length === 1 ? leaders[0] : undefined;
}

/** The member the exporters see out of recovery (pg_settings_in_hot_standby 0), when exactly one. */
export async function leaderByExporter(lab: Lab): Promise<string | undefined> {
  const leaders = await labelValues(
    lab,
    'max by (member) (pg_settings_in_hot_standby{job="postgres-exporter"}) == 0',
    'member',
  );
  return leaders.length === 1 ? leaders[0] : undefined;
}

/** The titles of the items stored under `prefix`, read from the leader (db-rw) in the backup task, as its role. */
export async function storedTitles(lab: Lab, prefix: string): Promise<string[]> {
  const sql = `SELECT title FROM app.items WHERE title LIKE '${prefix.replace(/[^\w-]/g, '')}%'`;
  const backup = await managerContainer(lab, 'backup');
  const run = await execInContainer(backup, [
    'psql',
    '-h',
    'db-rw',
    '-U',
    'backup',
    '-d',
    'swarmlab',
    '-XAt',
    '-c',
    sql,
  ]);
  if (run.exitCode !== 0) throw new Error(`psql in the backup task failed (exit ${run.exitCode})`);
  return run.stdout.split('\n').filter(Boolean);
}
