// The logs of a stack service's containers, read from each node's engine (`docker logs`) and merged by time. Not
// `docker service logs`: through the manager it can hang for good on a service with many past tasks (moby/moby#38640,
// #41733, docker/cli#4678, open), which is when an operator needs it most.
import { $ } from 'zx';
import { StopError } from './cli.js';
import { labDriver } from './lab-context.js';
import { NODES, type LabNode } from './lab-docker.js';
import { labPaths, STACK, type LabPaths } from './lab-secrets.js';

export interface LogQuery {
  /** The service without the stack prefix: api, postgres1, backup, ... */
  service: string;
  /** Docker's --since: a duration (15m, 2h) or a timestamp. */
  since?: string;
  /** The last lines of each container. */
  tail?: number;
}

export interface LogLine {
  /** RFC 3339 with nanoseconds, from `docker logs --timestamps`. */
  time: string;
  node: string;
  /** The container's name: the task (swarmlab_api.1.<task id>). */
  task: string;
  text: string;
}

const READ_TIMEOUT = '60s';

/** `docker …` on a node's own engine. */
const onNode = (node: LabNode, args: string[]) =>
  $({ quiet: true, timeout: READ_TIMEOUT })`docker exec ${node.container} docker ${args}`;

/** Every container of the service on one node, running or not (a crashed task's last words are what is wanted). */
async function nodeLines(node: LabNode, query: LogQuery): Promise<LogLine[]> {
  const listed = await onNode(node, [
    'ps',
    '--all',
    '--filter',
    `label=com.docker.swarm.service.name=${STACK}_${query.service}`,
    '--format',
    '{{.ID}} {{.Names}}',
  ]);
  const lines: LogLine[] = [];
  for (const [id, name] of listed.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '))) {
    const logs = await onNode(node, [
      'logs',
      '--timestamps',
      ...(query.since ? ['--since', query.since] : []),
      ...(query.tail !== undefined ? ['--tail', String(query.tail)] : []),
      id!,
    ]);
    for (const line of logs.stdall.split('\n').filter(Boolean)) {
      const space = line.indexOf(' ');
      lines.push({ time: line.slice(0, space), node: node.name, task: name!, text: line.slice(space + 1) });
    }
  }
  return lines;
}

/** The service's lines from every node, oldest first. Stops with what to do when the nodes cannot be read. */
export async function readServiceLogs(query: LogQuery, paths: LabPaths = labPaths()): Promise<LogLine[]> {
  const driver = await labDriver(paths);
  if (driver === undefined)
    throw new StopError(
      `No lab of containers or VMs recorded in ${paths.root}/lab.json. Start one with npm run lab, or set LAB_DIR.`,
    );
  if (driver !== 'docker') {
    throw new StopError(
      `lab:logs reads the nodes' engines of a lab of containers (this lab's driver: ${driver}). On VMs read a node's ` +
        `containers with vagrant ssh node1 -c 'docker ps --filter label=com.docker.swarm.service.name=${STACK}_` +
        `${query.service}' and docker logs <container>, or try docker --context swarmlab service logs.`,
    );
  }
  const perNode = await Promise.all(
    NODES.map((node) =>
      nodeLines(node, query).catch((error: unknown) => {
        throw new StopError(
          `Could not read the logs on ${node.name} (${node.container}): ` +
            `${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}. Check npm run lab:status.`,
        );
      }),
    ),
  );
  return perNode.flat().sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}
