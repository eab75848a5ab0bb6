// `npm run deploy`: the stack onto the lab's swarm, whichever driver made the nodes. Secrets → images (built, and
// pushed to the lab registry when their content is new) → migrations (a one-shot job) → `docker stack deploy` →
// wait until every service has converged → smoke test through the edge → summary. On failure: roll back what this
// deploy changed, print the failing service's errors and logs, exit non-zero.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import { $ } from 'zx';
import { acmeSettings, acmeStaticConfig, withAcme } from './lib/acme.js';
import {
  CANDIDATE,
  LIVE,
  liveImage,
  refuseWhileCandidate,
  releaseBlueGreen,
  withoutApi,
  RolledBackDuringGrace,
  type BlueGreenOutcome,
} from './lib/bluegreen.js';
import { commitTimeOf, recordDeployment, type Strategy } from './lib/dora.js';
import { runCommand, StopError } from './lib/cli.js';
import { DEPLOY_FLAGS_HELP, readDeployFlags } from './lib/deploy-flags.js';
import { contentTag, planImages, stackFingerprint, servicesToRollBack, type ImageInspect } from './lib/deploy-plan.js';
import { formatMs, printTable, requireDocker, run, runWithProgress } from './lib/docker.js';
import { seedBaseImages } from './lib/base-images.js';
import { baseDigests, imageInputHash, inputTag } from './lib/image-inputs.js';
import {
  buildArgValues,
  buildImages,
  buildInfo,
  dockerfileBases,
  IMAGES,
  imageRef,
  notBuiltNote,
  officialBaseMissing,
} from './lib/images.js';
import {
  ensureDockerContext,
  findLab,
  labUrl,
  MANAGER_API,
  REGISTRY_PULL,
  REGISTRY_PUSH,
  requireManager,
  type Lab,
} from './lib/lab-context.js';
import { deployDir, lastDeployFile, readLastDeploy } from './lib/last-deploy.js';
import { ensureNodeTls } from './lib/lab-node-tls.js';
import { pushThroughLab } from './lib/lab-pushgateway.js';
import {
  dockerSecretName,
  ensureLabSecrets,
  labDir,
  labPaths,
  readVersions,
  STACK,
  type LabPaths,
} from './lib/lab-secrets.js';
import { packLabState, pipelineSettings, requireDeployableState, stateEnvironment } from './lib/lab-state.js';
import {
  ensureAlertmanagerObjects,
  ensureDockerSecrets,
  ensureLabStateSecret,
  failureDetails,
  previousSpecSecrets,
  pruneOldSecrets,
  runJob,
  ServiceFailure,
  serviceStates,
  stackService,
  waitForConvergence,
} from './lib/lab-swarm.js';
import { parseLabDomain } from './lib/lab-tls.js';
import { step, summary } from './lib/log.js';
import { REPO_ROOT } from './lib/paths.js';
import { registryContentTag, registryHas } from './lib/registry.js';
import { ensureRegistryDockerConfig } from './lib/registry-auth.js';
import {
  memberRollOrder,
  membersFirstReasons,
  onlyServices,
  rotatedRolePasswords,
  waitForRolePasswords,
} from './lib/role-rotation.js';
import { smokeTest } from './lib/smoke.js';
import { stackImages, stackVariables } from './lib/stack-policy.js';

const HELP = `
Usage: npm run deploy [-- --strategy rolling|bluegreen] [--edge traefik|haproxy] [--grace <seconds>]
                      [--timeout <seconds>]

Deploys the stack (docker-compose.yml) onto the lab found in .lab/ (npm run lab:up or vagrant up) or at DOCKER_HOST:
  secrets (npm run secrets) and their Docker secrets → images built, and pushed to the lab registry when their
  content is new (tag c-<content hash>: unchanged images keep their digest and their services do not roll) →
  migrations (a one-shot Swarm job, before the API rolls) → docker stack deploy → wait until every service has
  converged → smoke test through the edge → summary. Nothing changed since the last deploy: it says so and stops.
  On failure: rolls back the services this deploy updated, prints the failing service's errors and last logs,
  exits 1.

${DEPLOY_FLAGS_HELP}

In the pipeline (SWARMLAB_PIPELINE=1, set by the Jenkinsfile): the secrets, the CA certificate and the settings
(node driver, edge, LAB_DOMAIN, ACME_EMAIL, SWARMLAB_GIT_URL/BRANCH) are the ones npm run lab:state unpacked from
the state this command gives the stack's Jenkins (the Docker secret swarmlab_lab_state_<hash>). It makes, issues
and rotates nothing; LAB_NODE1=node1 makes it reach node1's own ports (443, 80, 5000) instead of the host's.
`;

const DEPLOY_DIR = deployDir;
const LAST = lastDeployFile;
const cliEnv = (lab: Lab) => ({ ...process.env, ...lab.env });

/** The tag a stack image gets when it cannot be built here: its service has no task (lab/edge-fallback/stack.yml). */
const NOT_BUILT = 'not-built';
/**
 * What a first deploy starts only with the API, after the data tier and the migrations: Prometheus, whose ApiDown
 * (no API target for a minute) would otherwise fire on every new lab while the data tier starts.
 */
const FIRST_DEPLOY_LATER: readonly string[] = ['prometheus'];

/**
 * The stack's images: each one's content tag (its name in the lab registry). An image the registry already holds
 * under its input tag (image-inputs.ts: built from the same files, by this engine or another) is used as it is;
 * the others are built. An image built FROM an official image that cannot be pulled here (Jenkins') is left out
 * with the HAProxy edge, which gives its service no task, and stops the deploy with Traefik's.
 */
async function buildStackImages(names: string[], edge: string, paths: LabPaths) {
  const specs = IMAGES.filter((spec) => names.includes(spec.name));
  const missing = names.filter((name) => !specs.some((spec) => spec.name === name));
  if (missing.length > 0) throw new Error(`no image spec for ${missing.join(', ')} (scripts/lib/images.ts)`);
  const notBuilt = await officialBaseMissing(names);
  if (notBuilt.length > 0 && edge === 'traefik') {
    throw new StopError(
      `${notBuilt.map((name) => `${name}: ${notBuiltNote(specs.find((spec) => spec.name === name)!)}`).join('\n')}\n` +
        'Where official images cannot be pulled, deploy with --edge haproxy (those services then get no task).',
    );
  }
  for (const name of notBuilt)
    console.error(`note: ${name}: ${notBuiltNote(specs.find((spec) => spec.name === name)!)}`);
  await seedBaseImages({ offline: false, force: false }); // kept when present, else pulled, else made here
  const info = await buildInfo();
  const images: StackImage[] = [];
  for (const spec of specs.filter((spec) => !notBuilt.includes(spec.name))) {
    const inputs = inputTag(
      await imageInputHash({
        dockerfile: spec.dockerfile,
        context: spec.context,
        buildArgs: buildArgValues(info),
        baseDigests: await baseDigests(await dockerfileBases(spec.dockerfile)),
      }),
    );
    const inRegistry = await registryContentTag(paths, spec.name, inputs);
    if (inRegistry && (await registryHas(paths, spec.name, inRegistry))) {
      console.error(`  ${spec.name}: in the lab registry already (${inputs} → ${inRegistry}): not built again`);
      images.push({ name: spec.name, tag: inRegistry, inputs, built: false });
      continue;
    }
    await buildImages([spec], info);
    const inspect = JSON.parse(
      (await run($({ quiet: true })`docker image inspect ${imageRef(spec.name, info.tag)}`)).stdout,
    ) as ImageInspect[];
    images.push({ name: spec.name, tag: contentTag(inspect[0]!), inputs, built: true });
  }
  const tags = Object.fromEntries(images.map((image) => [image.name, image.tag]));
  return { info, images, tags, notBuilt };
}

interface StackImage {
  name: string;
  /** Its content tag. */
  tag: string;
  /** Its input tag (image-inputs.ts). */
  inputs: string;
  /** Built by this deploy (else found in the registry). */
  built: boolean;
}

/** Pushes the images this deploy built: the content tag when the registry lacks it, and the input tag. */
async function pushImages(local: (name: string) => string, images: StackImage[], paths: LabPaths) {
  const built = images.filter((image) => image.built);
  const present = new Set<string>();
  for (const { name, tag } of built) if (await registryHas(paths, name, tag)) present.add(`${name}:${tag}`);
  const plan = planImages(built, present);
  // This engine pushes as the registry's user; the same engine as every other docker command here (registry-auth.ts).
  const env = { ...process.env, DOCKER_CONFIG: await ensureRegistryDockerConfig(paths) };
  for (const image of built) {
    const content = plan.find((entry) => entry.name === image.name)!;
    const targets = [
      ...(content.push ? [`${REGISTRY_PUSH}/swarmlab/${image.name}:${image.tag}`] : []),
      `${REGISTRY_PUSH}/swarmlab/${image.name}:${image.inputs}`,
    ];
    await step(`push ${targets.join(', ')}`, async () => {
      for (const target of targets) {
        await run($({ quiet: true })`docker tag ${local(image.name)} ${target}`);
        await runWithProgress(`push ${image.name}`, $({ quiet: true, env })`docker push ${target}`);
      }
    });
  }
  return plan;
}

/** docker stack config: the stack files with every variable filled in, as one document. */
async function renderStack(lab: Lab, files: string[], variables: Record<string, string>): Promise<string> {
  const args = files.flatMap((file) => ['-c', file]);
  return (
    await run($({ quiet: true, cwd: REPO_ROOT, env: { ...cliEnv(lab), ...variables } })`docker stack config ${args}`)
  ).stdout;
}

async function stackDeploy(lab: Lab, rendered: string, name: string) {
  const file = path.join(DEPLOY_DIR(), name);
  // Every variable is resolved already; `docker stack deploy` interpolates again, so each literal $ is escaped.
  await writeFile(file, rendered.replaceAll('$', '$$$$'), { mode: 0o600 });
  await run(
    $({
      quiet: true,
      env: cliEnv(lab),
    })`docker stack deploy --detach=true --with-registry-auth --resolve-image always -c ${file} ${STACK}`,
  );
}

async function migrate(lab: Lab, apiTag: string, versions: Awaited<ReturnType<typeof readVersions>>) {
  const output = await runJob(
    lab,
    {
      name: 'migrate',
      image: `${REGISTRY_PULL}/swarmlab/api:${apiTag}`,
      command: ['node', 'dist/migrate.js'],
      networks: [`${STACK}_data`],
      // The api image runs as node (uid 1000).
      secrets: [
        { source: dockerSecretName('migration_database_url', versions), target: 'migration_database_url', uid: 1000 },
      ],
      env: { MIGRATION_DATABASE_URL_FILE: '/run/secrets/migration_database_url', MIGRATION_WAIT_SECONDS: '180' },
    },
    240_000,
  );
  return output.split('\n').pop() ?? '';
}

/**
 * Rolls back the stack's services after a failed `docker stack deploy`. Stack deploy updates every service, so each
 * one's previous spec is the one from before this deploy (the same spec, for those it did not change).
 */
async function rollBack(lab: Lab, updated: string[]) {
  const names = servicesToRollBack(updated, await serviceStates(lab).catch(() => []));
  for (const name of names) {
    const result = await $({
      quiet: true,
      env: cliEnv(lab),
    })`docker service rollback --detach ${stackService(name)}`.nothrow();
    console.error(`  rollback ${name}: ${result.exitCode === 0 ? 'started' : result.stderr.trim()}`);
  }
}

async function main() {
  const paths = labPaths();
  // In the pipeline (Jenkins), the lab's state and the operator's settings come from npm run lab:state.
  const pipeline = process.env.SWARMLAB_PIPELINE === '1';
  const settings = pipeline ? await pipelineSettings(paths) : undefined;
  const flags = readDeployFlags(process.argv.slice(2), HELP, settings?.edge);
  const { graceMs, timeoutMs } = flags;
  const started = performance.now();

  await requireDocker();
  const lab = await step('find the lab', async () => {
    const found = await findLab(paths);
    await requireManager(found);
    await refuseWhileCandidate(found);
    return found;
  });
  const files = [
    'docker-compose.yml',
    // IPsec between real VMs; it carries no traffic between Docker-in-Docker nodes (docs/decisions.md).
    ...(lab.driver === 'vagrant' ? ['docker-compose.vagrant.yml'] : []),
    ...(flags.edge === 'haproxy' ? ['lab/edge-fallback/stack.yml'] : []),
  ];
  const labDomain = parseLabDomain(process.env.LAB_DOMAIN);
  await step(pipeline ? "check the lab state (the operator's)" : 'secrets', async () => {
    // The pipeline deploys what the operator made: it has no CA key, and never makes or rotates a secret.
    if (pipeline) return requireDeployableState(paths, labDomain);
    await ensureLabSecrets({ labDir: labDir(), labDomain });
    await ensureNodeTls(paths);
    // On Vagrant VMs this is the first command run from the host: the runbooks' docker --context swarmlab.
    if (lab.env.DOCKER_HOST === MANAGER_API) await ensureDockerContext(paths);
  });
  const versions = await readVersions(paths);
  // What the stack's Jenkins deploys with. The pipeline packs back the same bytes (the operator's settings, not its
  // own environment), so the secret keeps its name and Jenkins is not restarted by its own deploy.
  const labState = await packLabState(
    { driver: lab.driver, edge: flags.edge, env: settings?.env ?? stateEnvironment() },
    paths,
  );
  const newSecrets = await step('Docker secrets', async () => [
    ...(await ensureDockerSecrets(lab, paths, versions)),
    ...(await ensureAlertmanagerObjects(lab, paths.root)),
    ...(await ensureLabStateSecret(lab, labState)),
  ]);

  const names = await stackImages(REPO_ROOT, files);
  const { info, images, tags, notBuilt } = await buildStackImages(names, flags.edge, paths);
  const plan = await step('push to the lab registry', () =>
    pushImages((name) => imageRef(name, info.tag), images, paths),
  );

  // node1's address in the swarm: the Jenkins service reaches node1's Docker API and registry by that name.
  const managerAddress = (await lab.docker.info()).Swarm?.NodeAddr as string | undefined;
  if (!managerAddress) throw new StopError(`${lab.describe} is no swarm node: run npm run lab:up (or vagrant up).`);
  const variables = await stackVariables({
    tag: { ...tags, ...Object.fromEntries(notBuilt.map((name) => [name, NOT_BUILT])) },
    registry: REGISTRY_PULL,
    versions,
    files,
    labRoot: paths.root,
    labState,
    managerAddress,
  });
  const acme = acmeSettings();
  if (acme && flags.edge === 'haproxy')
    throw new StopError('ACME certificates need Traefik: deploy with --edge traefik.');
  await mkdir(DEPLOY_DIR(), { recursive: true, mode: 0o700 });
  const rendered = await step('render the stack', async () => {
    const stack = await renderStack(lab, files, variables);
    if (!acme) return stack;
    const staticYaml = acmeStaticConfig(await readFile(path.join(REPO_ROOT, 'traefik/traefik.yml'), 'utf8'), acme);
    const staticFile = path.join(DEPLOY_DIR(), 'traefik.yml');
    await writeFile(staticFile, staticYaml, { mode: 0o600 });
    return withAcme(stack, acme, staticFile, staticYaml);
  });
  const fingerprint = stackFingerprint(rendered);
  const last = await readLastDeploy();
  const before = await serviceStates(lab);
  const declared = Object.keys((parse(rendered) as { services: Record<string, unknown> }).services);
  const allThere = declared.every((name) => before.some((state) => state.name === name));
  const healthy = before.every((state) => state.running === state.desired);
  if (last?.fingerprint === fingerprint && allThere && healthy) {
    summary('Nothing changed: the lab already runs this stack', {
      deployed: `${last.at} (commit ${last.commit.slice(0, 12)})`,
      services: `${before.length}, all converged`,
      next: `npm run lab:status; ${labUrl('api')}`,
    });
    return;
  }

  const startedAt = new Date();
  // No API yet (a new lab, or a first deploy that stopped early): the database may have no schema.
  const firstDeploy = !before.some((state) => state.name === LIVE);
  const apiChanges = !firstDeploy && !(await liveImage(lab)).endsWith(`/swarmlab/api:${tags.api}`);
  const strategy: Strategy = flags.strategy === 'bluegreen' && apiChanges ? 'bluegreen' : 'rolling';
  if (flags.strategy === 'bluegreen' && strategy === 'rolling') {
    console.error(
      `note: ${firstDeploy ? 'no API runs yet' : "the API's image is unchanged"}: nothing to switch, so this deploy is rolling`,
    );
  }
  // A blue/green release leaves the live API to itself: Swarm rolls it back if its promotion fails.
  const updated = declared.filter(
    (name) => before.some((state) => state.name === name) && (strategy === 'rolling' || name !== LIVE),
  );
  let blueGreen: BlueGreenOutcome | undefined;
  try {
    if (firstDeploy) {
      // The data tier first, then the schema, then the API on it.
      await step('deploy the data tier and the edge', () =>
        stackDeploy(lab, withoutApi(rendered, FIRST_DEPLOY_LATER), 'stack-first.yml'),
      );
      await step('wait for the data tier', () =>
        waitForConvergence(lab, timeoutMs, (name) => name !== 'api' && !FIRST_DEPLOY_LATER.includes(name)),
      );
    }
    const rotated = firstDeploy ? [] : await rotatedRolePasswords(lab, versions);
    const membersFirst = firstDeploy ? [] : await membersFirstReasons(lab, rendered, rotated);
    if (membersFirst.length > 0) {
      // A database that is back, with every rotated password set, before anything connects (the migrations too).
      await step(`roll the PostgreSQL members first (${membersFirst.join(', ')})`, async () => {
        const order = await memberRollOrder(lab);
        const rolled: string[] = [];
        for (const [index, members] of order.entries()) {
          rolled.push(...members);
          console.error(`  ${members.join(' and ')}`);
          await stackDeploy(lab, onlyServices(rendered, rolled), 'stack-members.yml');
          // The leader's restart is not waited for: its replica, on the new spec, leads within seconds (the
          // password check and the migrations wait for that), and the rest of the stack rolls meanwhile.
          if (order.length === 1 || index < order.length - 1)
            await waitForConvergence(lab, timeoutMs, (name) => members.includes(name));
        }
      });
    }
    if (rotated.length > 0) {
      await step('wait until the leader has set the new password(s)', () =>
        waitForRolePasswords(lab, rotated, versions, `${REGISTRY_PULL}/swarmlab/api:${tags.api!}`),
      );
    }
    const migrated = await step('migrations (one-shot job)', () => migrate(lab, tags.api!, versions));
    let smoke: string;
    if (strategy === 'bluegreen') {
      blueGreen = await releaseBlueGreen({
        lab,
        edge: flags.edge,
        rendered,
        sha: info.sha,
        timeoutMs,
        graceMs,
        deployStack: (document, file) => stackDeploy(lab, document, file),
      });
      smoke = await step('smoke test through the edge', () => smokeTest());
    } else {
      await step(`docker stack deploy ${STACK}`, () => stackDeploy(lab, rendered, 'stack.yml'));
      await step('wait until every service has converged', () => waitForConvergence(lab, timeoutMs));
      smoke = await step('smoke test through the edge', () => smokeTest());
    }
    const removed = await pruneOldSecrets(lab, versions, [
      ...stackSecretNames(rendered),
      ...(await previousSpecSecrets(lab)),
    ]);
    await writeFile(
      LAST(),
      `${JSON.stringify({ fingerprint, commit: info.sha, at: new Date().toISOString(), images: tags }, null, 2)}\n`,
      { mode: 0o600 },
    );
    await recordKpis(lab, info.sha, startedAt, strategy, 'success', false);
    const states = await serviceStates(lab);
    printTable(
      'Services',
      ['service', 'replicas', 'image'],
      states
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((state) => [state.name, `${state.running}/${state.desired}`, tags[imageOf(rendered, state.name)] ?? '']),
    );
    summary(
      `Deployed in ${formatMs(performance.now() - started)} (commit ${info.sha.slice(0, 12)}, edge ${flags.edge})`,
      {
        strategy: blueGreen
          ? `bluegreen: the edge switched to the new version in ${formatMs(blueGreen.switchMs)}, kept the previous one ${formatMs(graceMs)}`
          : 'rolling',
        images: `${plan.filter((image) => image.push).length} pushed, ${plan.filter((image) => !image.push).length} rebuilt unchanged, ${images.filter((image) => !image.built).length} already in the registry`,
        secrets: `${newSecrets.length} new Docker secret(s)${removed.length > 0 ? `, ${removed.length} old removed` : ''}`,
        migrations: migrated,
        smoke,
        api: `${labUrl('api')} (docs: /docs)`,
        ...(flags.edge === 'traefik' && {
          'ops UIs': ['grafana', 'jenkins', 'prometheus', 'alertmanager', 'traefik'].map(labUrl).join(' '),
        }),
        credentials: `${path.relative(process.cwd(), paths.secrets)}/admin_password (admin@lab.localhost), ops_basic_auth.password (admin), prometheus_password (prometheus), alertmanager_password (alertmanager), pushgateway_password (pushgateway), mailsink_password (mailsink), jenkins_admin_password (admin)`,
        ...(notBuilt.length > 0 && { 'not built here': `${notBuilt.join(', ')} (no task: official base image)` }),
        'trust the CA': 'npm run trust-ca',
        next: 'npm run lab:status',
      },
    );
  } catch (error) {
    const rolledBack = error instanceof ServiceFailure || error instanceof RolledBackDuringGrace;
    await recordKpis(lab, info.sha, startedAt, strategy, 'failure', rolledBack);
    if (error instanceof ServiceFailure) {
      console.error(`✗ ${error.message}`);
      await rollBack(lab, updated);
      // A failed candidate is gone by now; its errors and logs were printed when it failed.
      if (error.service !== CANDIDATE) console.error(await failureDetails(lab, error.service));
      if (error.service === 'traefik' || error.service === 'grafana') {
        console.error(
          "If the official images (Traefik's, Grafana's) cannot be pulled here, deploy with --edge haproxy.",
        );
      }
      throw new StopError(`Deploy failed: ${error.message}\nFix it, then run npm run deploy again.`);
    }
    throw error;
  }
}

/**
 * A deploy for the DORA KPIs (history in .lab/deploy/history.jsonl, and the lab's Pushgateway: at PUSHGATEWAY_URL
 * when set, else through its container). The pipeline records its deploys itself (SWARMLAB_PIPELINE=1), with the
 * build's start time. Never fails the deploy.
 */
async function recordKpis(
  lab: Lab,
  sha: string,
  startedAt: Date,
  strategy: Strategy,
  result: 'success' | 'failure',
  rolledBack: boolean,
) {
  if (process.env.SWARMLAB_PIPELINE === '1') return;
  try {
    const commitTime = await commitTimeOf(sha, REPO_ROOT).catch(() => startedAt.toISOString());
    const event = { sha, commitTime, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString() };
    // From the host the Pushgateway (internal network) is reached through its container; in the lab, by its URL.
    const push = process.env.PUSHGATEWAY_URL
      ? {}
      : { push: (group: string, body: string) => pushThroughLab(lab, group, body) };
    await recordDeployment({ ...event, strategy, result, rolledBack }, push);
  } catch (error) {
    console.error(`note: this deploy was not recorded for the KPIs (${(error as Error).message})`);
  }
}

/** The Docker names of the secrets a rendered stack uses. */
function stackSecretNames(rendered: string): string[] {
  const secrets = (parse(rendered) as { secrets?: Record<string, { name?: string }> }).secrets ?? {};
  return Object.values(secrets).flatMap((secret) => (secret.name ? [secret.name] : []));
}

/** The swarmlab/* image name a rendered service runs. */
function imageOf(rendered: string, service: string): string {
  const image = (parse(rendered) as { services: Record<string, { image?: string }> }).services[service]?.image ?? '';
  return /\/swarmlab\/([a-z0-9-]+):/.exec(image)?.[1] ?? '';
}

await runCommand(main);
