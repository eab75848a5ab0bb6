// `npm run lab:up | lab:down | lab:status`: the docker node driver (three Docker-in-Docker nodes forming a swarm),
// and the state of whichever lab the scripts find (docker driver or Vagrant VMs).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { readDeployFlags } from './lib/deploy-flags.js';
import { $ } from 'zx';
import { formatMs, requireDocker, run } from './lib/docker.js';
import { DEBIAN_BASE, NODE_BASE, seedBaseImages } from './lib/base-images.js';
import { buildImage, buildInfo, imageRef } from './lib/images.js';
import {
  DOCKER_CONTEXT,
  ensureDockerContext,
  findLab,
  HTTP_PORT,
  HTTPS_PORT,
  labUrl,
  requireManager,
} from './lib/lab-context.js';
import {
  containerState,
  createNode,
  ensureNetwork,
  joinSwarm,
  NETWORK,
  NODE_IMAGE_NAME,
  NODES,
  provision,
  recordDriver,
  removeNodes,
  waitForEngine,
} from './lib/lab-docker.js';
import { ensureNodeTls, nodeTlsPaths } from './lib/lab-node-tls.js';
import { ensureLabSecrets, labDir, labPaths } from './lib/lab-secrets.js';
import { parseLabDomain } from './lib/lab-tls.js';
import { labStatus } from './lib/lab-status.js';
import { step, summary } from './lib/log.js';
import { REPO_ROOT } from './lib/paths.js';

const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');

const HELP = `
Usage: npm run lab [-- --edge traefik|haproxy] [--strategy rolling|bluegreen] [--grace <s>] [--timeout <s>]
       npm run lab:up
       npm run lab:down [-- --purge]
       npm run lab:status

lab         the whole lab in one command: lab:up, then npm run deploy with the options given (npm run deploy -- --help
            says what each does). Where Docker Hub cannot be reached: npm run lab -- --edge haproxy.

lab:up      three Docker-in-Docker nodes (node1 manager, node2, node3) on the network ${NETWORK}, provisioned by
            lab/provision/provision.sh: a swarm with node labels, the lab registry on node1:5000, node1's Docker
            API over mutual TLS, and the Docker CLI context ${DOCKER_CONTEXT} that reaches it (docker --context
            ${DOCKER_CONTEXT} service ls). node1 publishes 127.0.0.1:${HTTPS_PORT} (HTTPS), :${HTTP_PORT} (HTTP), :2376 and :5000.
            Makes the lab's secrets and certificates first (npm run secrets). Running it again keeps what is there.
lab:down    removes the nodes' containers; their volumes (swarm state, images, data) stay for the next lab:up.
  --purge   also removes the volumes and the network: nothing of the lab is left on this engine.
lab:status  nodes, services (replicas, image, health), database roles and lag, URLs: of any lab (docker driver,
            Vagrant VMs, or DOCKER_HOST).
`;

async function up(next = `npm run deploy, then ${labUrl('api')}`) {
  const started = performance.now();
  await requireDocker();
  const paths = labPaths();
  await step('lab secrets and certificates', async () => {
    await ensureLabSecrets({ labDir: labDir(), labDomain: parseLabDomain(process.env.LAB_DOMAIN) });
    await ensureNodeTls(paths);
  });
  const info = await buildInfo();
  const spec = { name: NODE_IMAGE_NAME, dockerfile: 'lab/node/Dockerfile', context: 'lab' };
  await seedBaseImages({ offline: false, force: false }); // kept when present, else pulled, else made here
  const image = imageRef(NODE_IMAGE_NAME, info.tag);
  await step(`node image ${image}`, () => buildImage(spec, info));
  await step(`network ${NETWORK}`, ensureNetwork);
  const modes: string[] = [];
  for (const node of NODES) {
    await step(`node ${node.name} (${node.container})`, async () => {
      const state = await containerState(node.container);
      if (state === 'absent') modes.push(`${node.name}: ${await createNode(node, image, paths)}`);
      else if (state === 'stopped') await run($({ quiet: true })`docker start ${node.container}`);
      await waitForEngine(node);
    });
  }
  await step("base images in node1's engine (the pipeline builds there)", () => seedNode1BaseImages(NODES[0]!));
  // node1 first: it makes the swarm and leaves the join token in the shared folder.
  for (const node of NODES) await step(`swarm: ${node.name}`, () => joinSwarm(node));
  await step('node labels', () => provision(NODES[0]!, 'labels'));
  await recordDriver(paths);
  const lab = await findLab(paths);
  await step("node1's Docker API over mutual TLS", () => requireManager(lab));
  await step(`Docker context ${DOCKER_CONTEXT}`, () => ensureDockerContext(paths));
  summary(`Lab up in ${formatMs(performance.now() - started)}: 3 nodes (docker driver)`, {
    nodes: NODES.map((node) => `${node.name} ${node.ip}`).join(', '),
    'Docker API': `${lab.env.DOCKER_HOST} (certificates: ${path.relative(process.cwd(), nodeTlsPaths(paths).dockerCertPath)})`,
    'Docker CLI': `docker --context ${DOCKER_CONTEXT} service ls`,
    registry: '127.0.0.1:5000 from this host, node1:5000 from the nodes (user swarmlab, secrets/registry_password)',
    ...(modes.length > 0 && { containers: modes.join(', ') }),
    next,
  });
}

/**
 * Jenkins builds the images with node1's engine, which cannot pull the bases where this host could not either: it
 * gets this host's copies (made or pulled above), so the first pipeline build does not make them again (~80 s).
 */
async function seedNode1BaseImages(node1: (typeof NODES)[number]) {
  const missing: string[] = [];
  for (const image of [DEBIAN_BASE, NODE_BASE]) {
    const inspect = await $({
      quiet: true,
      nothrow: true,
    })`docker exec ${node1.container} docker image inspect ${image}`;
    if (inspect.exitCode !== 0) missing.push(image);
  }
  if (missing.length === 0) return;
  await run($({ quiet: true })`docker save ${missing} | docker exec -i ${node1.container} docker load`);
}

async function down(purge: boolean) {
  await requireDocker();
  const removed = await step(purge ? 'remove the nodes, their volumes and network' : 'remove the nodes', () =>
    removeNodes(purge),
  );
  if (purge) await rm(path.join(nodeTlsPaths().shared, 'swarm'), { recursive: true, force: true });
  summary(purge ? 'Lab purged' : 'Lab down', {
    removed: removed.length > 0 ? removed.join(', ') : 'nothing (no lab here)',
    next: purge ? 'npm run lab (a new lab)' : 'npm run lab:up brings the same swarm back (volumes kept)',
  });
}

/** `npm run lab`: deploy's flags are checked before anything is built, then lab:up, then deploy with them. */
async function upAndDeploy(deployArgs: string[]) {
  readDeployFlags(deployArgs, HELP);
  await up('deploying now');
  const deploy = await $({
    stdio: 'inherit',
    nothrow: true,
  })`${TSX} ${path.join(REPO_ROOT, 'scripts/deploy.ts')} ${deployArgs}`;
  if (deploy.exitCode !== 0) process.exitCode = deploy.exitCode ?? 1;
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'up-and-deploy') return upAndDeploy(rest);
  const flags = parseFlags(rest, { purge: { type: 'boolean', default: false } }, HELP);
  if (command === 'up') return up();
  if (command === 'down') return down(flags.purge);
  if (command === 'status') return labStatus(await findLab());
  throw new StopError(`Unknown lab command "${command ?? ''}": use up, down or status (npm run lab:up).`);
}

await runCommand(main);
