// The docker node driver: three Docker-in-Docker containers (node1 manager, node2 and node3 workers) on a network
// of their own, each with a volume for /var/lib/docker, provisioned by lab/provision/provision.sh like the VMs.
// node1 publishes, on 127.0.0.1 only: 8443 → 443 and 8080 → 80 (Traefik), 2376 (Docker API, mutual TLS) and
// 5000 (the lab registry). node1 also mounts this repository's git directory read-only, for Jenkins.
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { $ } from 'zx';
import { StopError } from './cli.js';
import { lastLine, run } from './docker.js';
import { HTTP_PORT, HTTPS_PORT } from './lab-context.js';
import { nodeTlsPaths } from './lab-node-tls.js';
import type { LabPaths } from './lab-secrets.js';
import { REPO_ROOT } from './paths.js';
import { ensurePrivateDir } from './private-files.js';

const q = $({ quiet: true });

export const NETWORK = 'swarmlab-nodes';
export const SUBNET = '10.213.56.0/24';
export const NODE_IMAGE_NAME = 'node';
const SHARED_IN_NODE = '/lab/shared';
const PROVISION = '/opt/swarmlab/provision/provision.sh';

export interface LabNode {
  name: string;
  container: string;
  ip: string;
  volumes: Record<string, string>;
  ports: string[];
}

export const NODES: LabNode[] = [1, 2, 3].map((n) => ({
  name: `node${n}`,
  container: `swarmlab-node${n}`,
  ip: `10.213.56.${10 + n}`,
  volumes: {
    [`swarmlab-node${n}-docker`]: '/var/lib/docker',
    ...(n === 1 && { 'swarmlab-node1-registry': '/var/lib/docker-registry' }),
  },
  ports:
    n === 1
      ? [`${HTTPS_PORT}:443`, `${HTTP_PORT}:80`, '2376:2376', '5000:5000'].map((port) => `127.0.0.1:${port}`)
      : [],
}));

/**
 * Docker-in-Docker needs a privileged container. Where the kernel refuses that (a capability outside the bounding
 * set makes runc fail), this explicit set does the same job (docs/decisions.md).
 */
const PRIVILEGED = ['--privileged'];
const EXPLICIT_CAPABILITIES = [
  '--cap-add=ALL',
  '--cap-drop=SYS_RESOURCE',
  '--security-opt=seccomp=unconfined',
  '--security-opt=apparmor=unconfined',
  '--security-opt=systempaths=unconfined',
];

export type ContainerState = 'running' | 'stopped' | 'absent';

export async function containerState(container: string): Promise<ContainerState> {
  const result = await q`docker container inspect --format ${'{{.State.Running}}'} ${container}`.nothrow();
  if (result.exitCode !== 0) return 'absent';
  return result.stdout.trim() === 'true' ? 'running' : 'stopped';
}

export async function ensureNetwork(): Promise<'created' | 'kept'> {
  if ((await q`docker network inspect ${NETWORK}`.nothrow()).exitCode === 0) return 'kept';
  await run(q`docker network create --driver bridge --subnet ${SUBNET} --label swarmlab.lab=nodes ${NETWORK}`);
  return 'created';
}

/** Where backups are copied off the cluster, on the host: <LAB_DIR>/backups (mode 700). */
export async function offsiteDir(paths: LabPaths): Promise<string> {
  const dir = path.join(paths.root, 'backups');
  await ensurePrivateDir(dir);
  return dir;
}
const OFFSITE_IN_NODE = '/srv/swarmlab-offsite';

/** Where node1 holds the lab's git repository, which the stack's Jenkins mounts and builds (SWARMLAB_GIT_URL). */
export const GIT_REPOSITORY_IN_NODE = '/srv/git/swarmlab.git';

/**
 * The git directory of the repository at `root`, as node1 mounts it for Jenkins: <root>/.git, or for a linked
 * worktree (.git is a file) the main repository's, whose branches it shares. Only the git directory, not the working
 * tree: that holds .lab/ (the lab's secrets). Undefined when `root` is not a git checkout: node1 then makes an empty
 * repository there itself (provision.sh).
 */
export async function repositoryGitDir(root: string = REPO_ROOT): Promise<string | undefined> {
  const dotGit = path.join(root, '.git');
  const info = await stat(dotGit).catch(() => undefined);
  if (!info) return undefined;
  if (info.isDirectory()) return dotGit;
  const gitdir = /^gitdir:\s*(.+?)\s*$/m.exec(await readFile(dotGit, 'utf8'))?.[1];
  if (!gitdir) return undefined;
  const own = path.resolve(root, gitdir);
  const common = (await readFile(path.join(own, 'commondir'), 'utf8').catch(() => undefined))?.trim();
  return common ? path.resolve(own, common) : own;
}

/** Creates and starts a node's container: privileged first, the explicit capability set when that is refused. */
export async function createNode(node: LabNode, image: string, paths: LabPaths): Promise<'privileged' | 'explicit'> {
  const shared = nodeTlsPaths(paths).shared;
  const gitDir = await repositoryGitDir();
  const common = [
    '--detach',
    `--name=${node.container}`,
    `--hostname=${node.name}`,
    `--network=${NETWORK}`,
    `--ip=${node.ip}`,
    `--network-alias=${node.name}`,
    '--restart=unless-stopped',
    '--label=swarmlab.lab=node',
    `--env=NODE=${node.name}`,
    `--env=SHARED=${SHARED_IN_NODE}`,
    '--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '--tmpfs=/run',
    `--volume=${shared}:${SHARED_IN_NODE}`,
    // The manager copies every backup off the cluster here (lab/provision/swarmlab-job).
    ...(node.name === 'node1' ? [`--volume=${await offsiteDir(paths)}:${OFFSITE_IN_NODE}`] : []),
    // What Jenkins builds: this repository's commits, live and read-only (the stack's jenkins service mounts it).
    ...(node.name === 'node1' && gitDir ? [`--volume=${gitDir}:${GIT_REPOSITORY_IN_NODE}:ro`] : []),
    ...Object.entries(node.volumes).map(([volume, target]) => `--volume=${volume}:${target}`),
    ...node.ports.map((port) => `--publish=${port}`),
  ];
  const first = await q`docker run ${PRIVILEGED} ${common} ${image}`.nothrow();
  if (first.exitCode === 0) return 'privileged';
  await q`docker rm --force ${node.container}`.nothrow();
  const second = await q`docker run ${EXPLICIT_CAPABILITIES} ${common} ${image}`.nothrow();
  if (second.exitCode === 0) return 'explicit';
  await q`docker rm --force ${node.container}`.nothrow();
  throw new StopError(
    `${node.container} did not start, privileged (${lastLine(first.stderr)}) nor with the explicit capabilities ` +
      `(${lastLine(second.stderr)}). A port of node1 may be taken (127.0.0.1:${HTTPS_PORT}, ${HTTP_PORT}, 2376, 5000): ` +
      'free it, or see docs/lab.md and README.md "Troubleshooting".',
  );
}

/** Waits until the node's engine answers (its entrypoint provisions it first). */
export async function waitForEngine(node: LabNode, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const state = await containerState(node.container);
    if (state !== 'running') {
      const logs = await q`docker logs --tail 20 ${node.container}`.nothrow();
      throw new StopError(`${node.container} stopped while starting; its last log lines:\n${logs.stdall.trimEnd()}`);
    }
    const info = await q`docker exec ${node.container} docker info --format ${'{{.ServerVersion}}'}`.nothrow();
    if (info.exitCode === 0) return;
    last = lastLine(info.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const logs = await q`docker logs --tail 20 ${node.container}`.nothrow();
  throw new StopError(
    `The engine in ${node.container} did not answer within ${timeoutMs / 1000} s (${last}); its last log lines:\n` +
      logs.stdall.trimEnd(),
  );
}

/** Runs a provision.sh step inside a node. */
export async function provision(node: LabNode, ...args: string[]): Promise<string> {
  return (await run(q`docker exec ${node.container} ${PROVISION} ${args}`)).stdout;
}

export const joinSwarm = (node: LabNode) => provision(node, 'swarm', node.name, SHARED_IN_NODE, node.ip);

export async function recordDriver(paths: LabPaths): Promise<void> {
  await writeFile(path.join(paths.root, 'lab.json'), `${JSON.stringify({ driver: 'docker' }, null, 2)}\n`, {
    mode: 0o600,
  });
}

/** Removes the nodes' containers; with `purge`, their volumes and network too. Returns what it removed. */
export async function removeNodes(purge: boolean): Promise<string[]> {
  const removed: string[] = [];
  for (const node of NODES) {
    if ((await containerState(node.container)) !== 'absent') {
      await run(q`docker rm --force --volumes ${node.container}`);
      removed.push(`container ${node.container}`);
    }
    if (!purge) continue;
    for (const volume of Object.keys(node.volumes)) {
      if ((await q`docker volume inspect ${volume}`.nothrow()).exitCode === 0) {
        await run(q`docker volume rm ${volume}`);
        removed.push(`volume ${volume}`);
      }
    }
  }
  if (purge && (await q`docker network inspect ${NETWORK}`.nothrow()).exitCode === 0) {
    await run(q`docker network rm ${NETWORK}`);
    removed.push(`network ${NETWORK}`);
  }
  return removed;
}
