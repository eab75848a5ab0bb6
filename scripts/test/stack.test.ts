// docker-compose.yml as deploy renders it: `docker stack config` (the real CLI as a child process; it needs no
// engine), then the stack policy of scripts/lib/stack-policy.ts on the result, and the wiring between services
// that the policy does not know about. Each rule has a negative case: a copy of the stack with one mistake is
// refused by the same policy function.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acmeSettings, acmeStaticConfig, withAcme } from '../lib/acme.js';
import { GIT_REPOSITORY_IN_NODE } from '../lib/lab-docker.js';
import { DOCKER_CLIENT_SECRETS } from '../lib/lab-node-tls.js';
import { LAB_STATE_MOUNT, labStateHash } from '../lib/lab-state.js';
import { CATALOGUE, dockerSecretName, SECRET_NAMES, STACK, type Versions } from '../lib/lab-secrets.js';
import { REPO_ROOT } from '../lib/paths.js';
import { render } from './helpers/stack-config.js';
import {
  checkStack,
  EDGE_NETWORK,
  fileHash,
  labelsToDynamic,
  loadPolicyContext,
  OPS_AUTH,
  OWN_LOGIN_UIS,
  type PolicyContext,
  seconds,
  type ServiceSpec,
  stackVariables,
  type StackSpec,
} from '../lib/stack-policy.js';

const TAG = '0123456789abcdef0123456789abcdef01234567';
// Different versions per secret, so each rendered name shows its own secret's version.
const VERSIONS: Versions = Object.fromEntries(SECRET_NAMES.map((name, index) => [name, (index % 3) + 1]));
// node1's address as deploy reads it (docker info: Swarm.NodeAddr), here the docker driver's.
const MANAGER_ADDRESS = '10.213.56.11';
/** A stand-in for the packed lab state: only its hash reaches the stack. */
const LAB_STATE = 'a lab state\n';
async function renderStack(files: string[], variables: Record<string, string>): Promise<StackSpec> {
  const result = await render(files, variables);
  if (!result.ok) throw new Error(`docker stack config ${files.join(' ')} failed:\n${result.stderr}`);
  return parse(result.stdout) as StackSpec;
}

const environment = (service: ServiceSpec) => service.environment ?? {};
const labels = (service: ServiceSpec) => service.deploy?.labels ?? {};

let variables: Record<string, string>;
let stack: StackSpec;
let context: PolicyContext;
let services: Record<string, ServiceSpec>;
/** A lab folder of its own (LAB_DIR): Slack off, and a stand-in for the Docker client certificate. */
let labRoot: string;

beforeAll(async () => {
  labRoot = await mkdtemp(path.join(tmpdir(), 'swarmlab-stack-'));
  await mkdir(path.join(labRoot, 'docker'));
  await writeFile(path.join(labRoot, 'docker', DOCKER_CLIENT_SECRETS.docker_client_cert), 'a client certificate\n');
  variables = await stackVariables({
    tag: TAG,
    versions: VERSIONS,
    labRoot,
    labState: LAB_STATE,
    managerAddress: MANAGER_ADDRESS,
  });
  [stack, context] = await Promise.all([renderStack(['docker-compose.yml'], variables), loadPolicyContext()]);
  services = stack.services;
});

afterAll(async () => {
  await rm(labRoot, { recursive: true, force: true });
});

/** The services that share a network with the API, and which networks. */
function apiNeighbours(rendered: StackSpec): Record<string, string[]> {
  const own = Object.keys(rendered.services.api!.networks ?? {});
  return Object.fromEntries(
    Object.entries(rendered.services)
      .filter(([name]) => name !== 'api')
      .map(([name, service]) => [
        name,
        Object.keys(service.networks ?? {})
          .filter((n) => own.includes(n))
          .sort(),
      ])
      .filter(([, shared]) => shared!.length > 0)
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
  );
}

describe('docker-compose.yml, rendered by docker stack config with the variables deploy sets', () => {
  it('follows every rule of the stack policy', () => {
    expect(checkStack(stack, context)).toEqual([]);
  });

  it('holds the edge, the API, the data tier and metrics; swarmlab images at TAG from the lab registry, Traefik pinned', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'alertmanager',
        'alloy',
        'cadvisor',
        'api',
        'backup',
        'db-router',
        'loki',
        'mailsink',
        'remediator',
        'remediator-socket-proxy',
        'reporter',
        'docker-socket-proxy',
        'etcd1',
        'etcd2',
        'etcd3',
        'postgres1',
        'postgres2',
        'traefik',
        'grafana',
        'prometheus',
        'pushgateway',
        'node-exporter',
        'postgres-exporter1',
        'postgres-exporter2',
        'jenkins',
      ].sort(),
    );
    for (const [name, service] of Object.entries(services)) {
      if (name === 'traefik') expect(service.image).toMatch(/^traefik:v3\.\d+\.\d+$/);
      else if (name === 'grafana') expect(service.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
      else if (name === 'loki') expect(service.image).toMatch(/^grafana\/loki:\d+\.\d+\.\d+$/);
      else if (name === 'alloy') expect(service.image).toMatch(/^grafana\/alloy:v\d+\.\d+\.\d+$/);
      else if (name === 'cadvisor') expect(service.image).toMatch(/^gcr\.io\/cadvisor\/cadvisor:v\d+\.\d+\.\d+$/);
      else expect(service.image, name).toMatch(new RegExp(`^127\\.0\\.0\\.1:5000/swarmlab/[a-z-]+:${TAG}$`));
    }
  });

  it('when a variable that deploy sets is missing, then it refuses to render and names it', async () => {
    const { API_TAG: _tag, ...withoutTag } = variables;
    const noTag = await render(['docker-compose.yml'], withoutTag);
    expect(noTag.ok).toBe(false);
    expect(noTag.stderr).toContain('API_TAG');
    const { JWT_SECRET_VERSION: _version, ...withoutVersion } = variables;
    const noVersion = await render(['docker-compose.yml'], withoutVersion);
    expect(noVersion.ok).toBe(false);
    expect(noVersion.stderr).toContain('JWT_SECRET_VERSION');
  });

  it('names secrets swarmlab_<name>_v<version> and configs by content, so a change rolls their services', async () => {
    for (const [key, secret] of Object.entries(stack.secrets ?? {})) {
      if (key === 'slack_webhook_url') expect(secret.name).toBe(`${STACK}_${key}_${variables.SLACK_WEBHOOK_URL_HASH}`);
      else if (key === 'lab_state') expect(secret.name).toBe(`${STACK}_${key}_${labStateHash(LAB_STATE)}`);
      else if (Object.hasOwn(DOCKER_CLIENT_SECRETS, key)) {
        // Named by the client certificate's content (here the stand-in's).
        expect(variables.DOCKER_CLIENT_TLS_HASH).toBe(fileHash(path.join(labRoot, 'docker/cert.pem')));
        expect(secret.name).toBe(`${STACK}_${key}_${variables.DOCKER_CLIENT_TLS_HASH}`);
      } else expect(secret.name).toBe(dockerSecretName(key as keyof typeof CATALOGUE, VERSIONS));
    }
    for (const [key, config] of Object.entries(stack.configs ?? {})) {
      if (key === 'alertmanager_config') {
        expect(config.name).toBe(`${STACK}_${key}_${variables.ALERTMANAGER_CONFIG_HASH}`);
      } else expect(config.name).toBe(`${STACK}_${key}_${fileHash(config.file!)}`);
    }
    const registry = await renderStack(['docker-compose.yml'], { ...variables, REGISTRY: 'node1:5000' });
    expect(registry.services.api!.image).toBe(`node1:5000/swarmlab/api:${TAG}`);
  });

  it('traefik: on the manager, 80/443 in host mode, its config files and the secrets they name mounted', async () => {
    const traefik = services.traefik!;
    expect(traefik.deploy?.placement?.constraints).toContain('node.role == manager');
    expect(traefik.ports?.map(({ target, published, mode }) => ({ target, published, mode }))).toEqual([
      { target: 80, published: 80, mode: 'host' },
      { target: 443, published: 443, mode: 'host' },
    ]);
    // Host ports cannot be bound twice on one node.
    expect(traefik.deploy?.update_config?.order).toBe('stop-first');

    const staticConfig = parse(await readFile(path.join(REPO_ROOT, 'traefik/traefik.yml'), 'utf8'));
    const targets = Object.fromEntries((traefik.configs ?? []).map(({ source, target }) => [source, target]));
    expect(targets.traefik_static).toBe('/etc/traefik/traefik.yml');
    for (const file of ['middlewares.yml', 'tls.yml']) {
      expect(Object.values(targets)).toContain(path.posix.join(staticConfig.providers.file.directory, file));
    }
    const configFiles = Object.fromEntries(Object.entries(stack.configs ?? {}).map(([key, c]) => [key, c.file]));
    expect(configFiles.traefik_static).toBe(path.join(REPO_ROOT, 'traefik/traefik.yml'));

    // Every /run/secrets/<name> the dynamic configuration names is a secret Traefik mounts.
    const dynamic = await Promise.all(
      ['middlewares.yml', 'tls.yml'].map((file) => readFile(path.join(REPO_ROOT, 'traefik/dynamic', file), 'utf8')),
    );
    const named = [...dynamic.join('\n').matchAll(/\/run\/secrets\/([a-z_]+)/g)].map((match) => match[1]);
    expect(new Set(named)).toEqual(new Set(['tls_cert', 'tls_key', 'ops_basic_auth']));
    expect(traefik.secrets?.map(({ source }) => source).sort()).toEqual(['ops_basic_auth', 'tls_cert', 'tls_key']);

    // The Swarm provider reaches the socket proxy by its service name and routes over the edge network.
    const endpoint = new URL(staticConfig.providers.swarm.endpoint);
    expect(services[endpoint.hostname]).toBeDefined();
    expect(staticConfig.providers.swarm.network).toBe(`${STACK}_${EDGE_NETWORK}`);
    expect(labels(traefik)['traefik.http.routers.dashboard.rule']).toBe('Host(`traefik.lab.localhost`)');
    expect(labels(traefik)['traefik.http.routers.dashboard.service']).toBe('api@internal');
  });

  it('docker-socket-proxy: on the manager, the socket read-only, reachable from traefik and prometheus only', () => {
    const proxy = services['docker-socket-proxy']!;
    expect(proxy.deploy?.placement?.constraints).toContain('node.role == manager');
    expect(proxy.volumes).toEqual([
      { type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock', read_only: true },
    ]);
    const networks = Object.keys(proxy.networks ?? {});
    expect(networks).toHaveLength(1);
    const sharing = Object.entries(services).filter(([, s]) => Object.hasOwn(s.networks ?? {}, networks[0]!));
    expect(sharing.map(([name]) => name).sort()).toEqual(['docker-socket-proxy', 'prometheus', 'traefik']);
    expect(stack.networks?.[networks[0]!]?.internal).toBe(true);
  });

  it('remediator: no Docker socket, runs as node, reaches Docker through its own proxy on its node, policy remediator', async () => {
    const remediator = services.remediator!;
    const proxy = services['remediator-socket-proxy']!;
    expect(remediator.volumes?.filter((v) => v.type !== 'tmpfs').map((volume) => volume.source)).toEqual([
      'remediator-data',
    ]);
    const env = environment(remediator);
    expect(env.DOCKER_HOST).toBe('tcp://remediator-socket-proxy:2375');
    expect(environment(proxy).PROXY_POLICY).toBe('remediator');
    expect(proxy.image).toBe(services['docker-socket-proxy']!.image);
    expect(proxy.volumes).toEqual([
      { type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock', read_only: true },
    ]);
    // The exec reaches the engine the proxy runs on: the backup task's node (zone 1, the manager).
    for (const service of [remediator, proxy, services.backup!]) {
      expect(service.deploy?.placement?.constraints).toContain('node.labels.zone == 1');
    }
    expect(Object.keys(proxy.networks ?? {})).toEqual(['remediator-socket']);
    const sharing = Object.entries(services).filter(([, s]) => Object.hasOwn(s.networks ?? {}, 'remediator-socket'));
    expect(sharing.map(([name]) => name).sort()).toEqual(['remediator', 'remediator-socket-proxy']);
    expect(stack.networks?.['remediator-socket']?.internal).toBe(true);
    // The policy names the service the remediator scales: <STACK_NAME>_<API_SERVICE>.
    const policy = await readFile('traefik/socket-proxy/remediator.cfg', 'utf8');
    expect(policy).toContain(`/services/${env.STACK_NAME}_${env.API_SERVICE}/update$`);
    // The image runs as node: the secret must be readable by it.
    expect(remediator.secrets).toContainEqual(
      expect.objectContaining({ source: 'remediator_webhook_token', uid: '1000' }),
    );
    expect(await readFile('monitoring/remediator/Dockerfile', 'utf8')).toMatch(/^USER node$/m);
  });

  it('api: 3 replicas spread over nodes, secrets as files, drains before stopping, /readyz checked by Traefik, /metrics not routed', () => {
    const api = services.api!;
    expect(api.deploy?.replicas).toBe(3);
    expect(api.deploy?.placement?.preferences).toEqual([{ spread: 'node.labels.zone' }]);
    expect(api.deploy?.update_config).toMatchObject({ order: 'start-first', parallelism: 1, monitor: '20s' });
    expect(api.deploy?.rollback_config).toBeDefined();
    expect(environment(api)).toMatchObject({
      DATABASE_URL_FILE: '/run/secrets/database_url',
      DATABASE_REPLICA_URL_FILE: '/run/secrets/database_replica_url',
      JWT_SECRET_FILE: '/run/secrets/jwt_secret',
      ADMIN_PASSWORD_FILE: '/run/secrets/admin_password',
    });
    const router = labelsToDynamic(labels(api), context.traefikKeys).config.http!;
    expect(router.routers!.api).toMatchObject({
      rule: 'Host(`api.lab.localhost`) && !Path(`/metrics`)',
      entryPoints: ['websecure'],
      middlewares: ['rate-limit@file', 'compress@file', 'retry@file'],
      tls: {},
    });
    const loadBalancer = router.services!.api!.loadBalancer as { healthCheck: Record<string, string> };
    expect(loadBalancer).toMatchObject({ servers: [{ url: 'http://task:3000' }] });
    expect(loadBalancer.healthCheck).toMatchObject({ path: '/readyz', interval: '2s' });
    // Not ready for longer than Traefik needs to notice; killed only after the API's own forced exit.
    const noticeMs = 1000 * (seconds(loadBalancer.healthCheck.interval) + seconds(loadBalancer.healthCheck.timeout));
    expect(Number(environment(api).SHUTDOWN_DELAY_MS)).toBeGreaterThan(noticeMs);
    expect(1000 * seconds(api.stop_grace_period)).toBeGreaterThan(Number(environment(api).SHUTDOWN_TIMEOUT_MS));
  });

  it('api: its tasks share a network with traefik, db-router and Prometheus only, and every one of them is internal', () => {
    expect(apiNeighbours(stack)).toEqual({
      'db-router': ['api-db'],
      prometheus: ['api-metrics'],
      traefik: ['api-edge'],
    });
    for (const network of Object.keys(services.api!.networks ?? {})) {
      expect(stack.networks?.[network]?.internal, network).toBe(true);
    }
    expect(labels(services.api!)['traefik.swarm.network']).toBe(`${STACK}_api-edge`);
  });

  it("api: its networks' subnets are the range that db-router's and the HAProxy edge's statistics refuse", async () => {
    const refused = '10.212.0.0/22';
    for (const network of Object.keys(services.api!.networks ?? {})) {
      const subnet = stack.networks?.[network]?.ipam?.config?.[0]?.subnet ?? '';
      expect(subnet, network).toMatch(/^10\.212\.[0-3]\.\d+\/2[2-9]$/);
    }
    for (const file of ['postgres/db-router/haproxy.cfg', 'lab/edge-fallback/haproxy.cfg']) {
      const config = await readFile(path.join(REPO_ROOT, file), 'utf8');
      const stats = config.slice(config.indexOf('frontend stats'));
      expect(stats.split(/\n(?=\S)/)[0], file).toContain(`tcp-request connection reject if { src ${refused} }`);
    }
  });

  it('data tier: etcd and postgres one member per labelled node, wired to each other and to db-router', () => {
    const etcd = ['etcd1', 'etcd2', 'etcd3'];
    const members = etcd.map((name) => `${name}=http://${name}:2380`).join(',');
    etcd.forEach((name, index) => {
      const service = services[name]!;
      expect(service.deploy?.placement?.constraints).toEqual([`node.labels.etcd == ${index + 1}`]);
      expect(environment(service)).toMatchObject({ ETCD_NAME: name, ETCD_INITIAL_CLUSTER: members });
    });

    const subnet = stack.networks?.data?.ipam?.config?.[0]?.subnet;
    expect(subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    ['postgres1', 'postgres2'].forEach((name, index) => {
      const service = services[name]!;
      expect(service.deploy?.placement?.constraints).toEqual([`node.labels.db == ${index + 1}`]);
      expect(environment(service)).toMatchObject({
        PATRONI_NAME: name,
        PATRONI_CONNECT_HOST: name,
        PATRONI_ETCD3_HOSTS: etcd.map((member) => `${member}:2379`).join(','),
        LAB_NETWORK: subnet,
      });
      // Every secret the postgres image reads (docs/data-tier.md) is given as a file: passwords by <NAME>_FILE,
      // pgBackRest's TLS files at the fixed paths entrypoint.sh reads (PGBACKREST_* variables would be taken by
      // pgBackRest as options, hence REPO_CIPHER_PASS_FILE).
      const secrets = (service.secrets ?? []).map(({ source }) => source);
      const fixedPaths = ['pgbackrest_tls_cert', 'pgbackrest_tls_key', 'lab_ca_cert'];
      for (const secret of secrets.filter((name) => !fixedPaths.includes(name))) {
        const variable = secret === 'pgbackrest_cipher_pass' ? 'REPO_CIPHER_PASS' : secret.toUpperCase();
        expect(environment(service)[`${variable}_FILE`], secret).toBe(`/run/secrets/${secret}`);
      }
      expect(secrets).toEqual(expect.arrayContaining(fixedPaths));
      expect(secrets).toHaveLength(13);
      expect(environment(service)).toMatchObject({ REPO_HOST: 'backup', PG_ARCHIVE_TIMEOUT: '60' });
    });

    const router = services['db-router']!;
    expect(router.deploy?.replicas).toBe(2);
    expect(environment(router)).toMatchObject({ PG_MEMBER1_HOST: 'postgres1', PG_MEMBER2_HOST: 'postgres2' });
    // The API's URLs name db-rw and db-ro: aliases of db-router on api-db, the API's network to it; the migration
    // job's and the backup service's, on data.
    for (const network of ['api-db', 'data']) {
      expect(router.networks?.[network]?.aliases ?? [], network).toEqual(
        expect.arrayContaining([CATALOGUE.database_url.host, CATALOGUE.database_replica_url.host]),
      );
    }
    expect(Object.keys(services.api!.networks ?? {})).toContain('api-db');
  });

  it('each PostgreSQL member has its own exporter, and Prometheus labels that exporter with the member and its node', async () => {
    const prometheus = parse(await readFile(path.join(REPO_ROOT, 'monitoring/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs?: { targets: string[]; labels?: Record<string, string> }[] }[];
    };
    const job = prometheus.scrape_configs.find((config) => config.job_name === 'postgres-exporter')!;
    const members = Object.keys(services).filter((name) => /^postgres\d+$/.test(name));
    expect(members).toEqual(['postgres1', 'postgres2']);
    for (const member of members) {
      const exporter = `postgres-exporter${member.slice('postgres'.length)}`;
      // Debian's exporter (0.11) takes one host here; a list is read as one URI and collects nothing.
      expect(environment(services[exporter]!).DATA_SOURCE_URI).toMatch(new RegExp(`^${member}:5432/[^,]*$`));
      expect(Object.keys(services[exporter]!.networks ?? {})).toEqual(expect.arrayContaining(['data', 'monitoring']));
      // Node labels: db=1 on node2, db=2 on node3 (docker-compose.yml).
      const node = `node${Number(/db == (\d)/.exec(String(services[member]!.deploy?.placement?.constraints))![1]) + 1}`;
      expect(job.static_configs).toContainEqual({
        targets: [`${exporter}:9187`],
        labels: { member, instance: member, node },
      });
    }
    expect(job.static_configs).toHaveLength(members.length);
  });
});

describe('jenkins, as the stack runs it (its image cannot be built here: configuration only)', () => {
  const read = (file: string) => readFile(path.join(REPO_ROOT, file), 'utf8');
  const jenkins = () => services.jenkins!;

  it('runs once on the manager, its JENKINS_HOME on a volume there, stop-first, on edge only (no service of the lab behind it)', () => {
    const deploy = jenkins().deploy!;
    expect(deploy.replicas).toBe(1);
    expect(deploy.placement?.constraints).toEqual(['node.role == manager', 'node.labels.zone == 1']);
    expect(deploy.update_config?.order).toBe('stop-first');
    expect(deploy.rollback_config?.order).toBe('stop-first');
    expect(jenkins().volumes).toContainEqual({ type: 'volume', source: 'jenkins-home', target: '/var/jenkins_home' });
    expect(Object.keys(stack.volumes ?? {})).toContain('jenkins-home');
    expect(Object.keys(jenkins().networks ?? {}).sort()).toEqual(['edge']);
    expect(jenkins().image).toBe(`127.0.0.1:5000/swarmlab/jenkins:${TAG}`);
  });

  it('mounts every secret casc.yaml reads and the lab state, readable by the jenkins user (uid 1000) only, and no other', async () => {
    const casc = await read('jenkins/casc.yaml');
    const named = [...casc.matchAll(/\$\{readFile(?:Base64)?:\/run\/secrets\/([a-z_]+)\}/g)].map((match) => match[1]!);
    const mounted = jenkins().secrets ?? [];

    expect(new Set(named)).toEqual(
      new Set(['jenkins_admin_password', 'lab_ca_cert', 'docker_client_cert', 'docker_client_key']),
    );
    // npm run lab:state reads the lab state where it is mounted (scripts/lib/lab-state.ts LAB_STATE_MOUNT).
    expect(LAB_STATE_MOUNT).toBe('/run/secrets/lab_state');
    expect(mounted.map(({ source }) => source).sort()).toEqual([...new Set(named), 'lab_state'].sort());
    expect(stack.secrets!.lab_state).toEqual({
      external: true,
      name: `${STACK}_lab_state_${labStateHash(LAB_STATE)}`,
    });
    for (const secret of mounted) {
      expect(secret, secret.source).toMatchObject({ uid: '1000', gid: '1000', mode: 0o400 });
      expect(secret.target ?? secret.source).toBe(secret.source);
    }
  });

  it("resolves node1, the Jenkinsfile's DOCKER_HOST and the lab registry, to the manager's address", async () => {
    const jenkinsfile = await read('Jenkinsfile');
    const dockerHost = /DOCKER_HOST = '([^']+)'/.exec(jenkinsfile)?.[1];
    const host = new URL(dockerHost!).hostname;
    const extraHosts = (jenkins() as ServiceSpec & { extra_hosts?: string[] }).extra_hosts ?? [];

    expect(host).toBe('node1');
    expect(extraHosts).toEqual([`${host}:${MANAGER_ADDRESS}`]);
    const { LAB_MANAGER_ADDR: _address, ...withoutAddress } = variables;
    const missing = await render(['docker-compose.yml'], withoutAddress);
    expect(missing.ok).toBe(false);
    expect(missing.stderr).toContain('LAB_MANAGER_ADDR');
  });

  it('builds the repository that node1 holds at the path the job, the mount and provisioning all name', async () => {
    const jobs = await read('jenkins/jobs.groovy');
    const jobDefault = /System\.getenv\('SWARMLAB_GIT_URL'\) \?: '([^']+)'/.exec(jobs)?.[1];
    const provisioned = /^readonly GIT_REPOSITORY=(\S+)$/m.exec(await read('lab/provision/provision.sh'))?.[1];

    expect(jenkins().volumes).toContainEqual({
      type: 'bind',
      source: GIT_REPOSITORY_IN_NODE,
      target: GIT_REPOSITORY_IN_NODE,
      read_only: true,
    });
    expect(environment(jenkins()).SWARMLAB_GIT_URL).toBe(GIT_REPOSITORY_IN_NODE);
    expect(jobDefault).toBe(GIT_REPOSITORY_IN_NODE);
    expect(provisioned).toBe(GIT_REPOSITORY_IN_NODE);
    const other = await renderStack(['docker-compose.yml'], {
      ...variables,
      SWARMLAB_GIT_URL: 'https://git.example.test/swarmlab.git',
    });
    expect(environment(other.services.jenkins!).SWARMLAB_GIT_URL).toBe('https://git.example.test/swarmlab.git');
  });

  it("keeps the image's JAVA_OPTS (its -D flags) and sets a heap well inside the memory limit", async () => {
    const env = environment(jenkins());
    const heap = /-Xmx(\d+)([mg])/.exec(env.JENKINS_JAVA_OPTS ?? '');
    const limit = Number(jenkins().deploy?.resources?.limits?.memory);

    expect(env).not.toHaveProperty('JAVA_OPTS');
    expect(await read('jenkins/Dockerfile')).toMatch(/^ENV JAVA_OPTS="-Djenkins\.install\.runSetupWizard=false /m);
    expect(heap).not.toBeNull();
    const heapBytes = Number(heap![1]) * 1024 ** (heap![2] === 'g' ? 3 : 2);
    expect(heapBytes).toBeLessThanOrEqual(limit / 2);
  });

  it('is routed at jenkins.lab.localhost with TLS and without the ops basic auth: a UI with its own login', () => {
    const { config } = labelsToDynamic(labels(jenkins()), context.traefikKeys);
    const router = config.http!.routers!.jenkins!;

    expect(router).toMatchObject({ rule: 'Host(`jenkins.lab.localhost`)', entryPoints: ['websecure'], tls: {} });
    expect(router.middlewares).not.toContain(OPS_AUTH);
    expect(Object.keys(OWN_LOGIN_UIS)).toContain('jenkins');
    expect(config.http!.services!.jenkins).toMatchObject({ loadBalancer: { servers: [{ url: 'http://task:8080' }] } });
  });

  it('when the Docker client certificate is missing (before npm run secrets), then the render names its variable', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'swarmlab-stack-empty-'));
    try {
      const without = await stackVariables({
        tag: TAG,
        versions: VERSIONS,
        labRoot: empty,
        labState: LAB_STATE,
        managerAddress: MANAGER_ADDRESS,
      });
      expect(without).not.toHaveProperty('DOCKER_CLIENT_TLS_HASH');
      const result = await render(['docker-compose.yml'], without);
      expect(result.ok).toBe(false);
      expect(result.stderr).toContain('DOCKER_CLIENT_TLS_HASH');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('lab/edge-fallback/stack.yml (deploy --edge haproxy), merged over the stack file', () => {
  it('leaves the services of official images, Jenkins too, without a task', async () => {
    const files = ['docker-compose.yml', 'lab/edge-fallback/stack.yml'];
    const merged = await renderStack(
      files,
      await stackVariables({
        tag: TAG,
        versions: VERSIONS,
        labRoot,
        files,
        labState: LAB_STATE,
        managerAddress: MANAGER_ADDRESS,
      }),
    );

    for (const name of ['traefik', 'grafana', 'loki', 'jenkins']) {
      expect(merged.services[name]!.deploy?.replicas, name).toBe(0);
    }
    expect(merged.services['edge-fallback']!.deploy?.replicas).toBe(1);
    // HAProxy takes Traefik's place beside the API, on the same internal network.
    expect(apiNeighbours(merged)).toEqual({
      'db-router': ['api-db'],
      'edge-fallback': ['api-edge'],
      prometheus: ['api-metrics'],
      traefik: ['api-edge'],
    });
    // Only the task count changes: the service stays defined (deploy gives JENKINS_TAG a placeholder there).
    expect(merged.services.jenkins!.image).toBe(services.jenkins!.image);
    expect(merged.services.jenkins!.deploy?.placement).toEqual(services.jenkins!.deploy?.placement);
  });
});

describe('docker-compose.vagrant.yml, merged over the stack file', () => {
  it("encrypts every network that crosses nodes (all but the socket proxies' networks) and changes nothing else", async () => {
    const merged = await renderStack(['docker-compose.yml', 'docker-compose.vagrant.yml'], variables);
    expect(merged.services).toEqual(stack.services);
    for (const [name, network] of Object.entries(stack.networks ?? {})) {
      expect(network?.driver_opts, `base ${name}`).toBeUndefined();
      // Both ends of the socket proxies' networks are on the manager: nothing crosses nodes.
      const encrypted = !['socket-proxy', 'remediator-socket'].includes(name);
      const expected = encrypted ? { ...network, driver_opts: { encrypted: '' } } : network;
      expect(merged.networks?.[name], name).toEqual(expected);
    }
    expect(checkStack(merged, context)).toEqual([]);
  });
});

describe('Traefik labels, unflattened', () => {
  it('when option names are written in any case, then they get the schema spelling and validate', () => {
    const { config, problems } = labelsToDynamic(
      {
        'traefik.enable': 'true',
        'traefik.http.routers.web.rule': 'Host(`a.lab.localhost`)',
        'traefik.http.routers.web.entrypoints': 'websecure',
        'traefik.http.routers.web.tls': 'true',
        'traefik.http.services.web.loadbalancer.server.port': '8080',
        'traefik.http.services.web.loadbalancer.healthcheck.interval': '5s',
      },
      context.traefikKeys,
    );
    expect(problems).toEqual([]);
    expect(config).toEqual({
      http: {
        routers: { web: { rule: 'Host(`a.lab.localhost`)', entryPoints: ['websecure'], tls: {} } },
        services: {
          web: { loadBalancer: { healthCheck: { interval: '5s' }, servers: [{ url: 'http://task:8080' }] } },
        },
      },
    });
  });

  it('when a label is not a Traefik option, then the schema refuses it', () => {
    const { config } = labelsToDynamic({ 'traefik.http.routers.web.rulez': 'Host(`a`)' }, context.traefikKeys);
    expect(context.validateDynamic(config).join('\n')).toContain('rulez');
    const { problems } = labelsToDynamic({ 'traefik.htp.routers.web.rule': 'Host(`a`)' }, context.traefikKeys);
    expect(problems.join('\n')).toContain('not a Traefik label');
  });
});

type Mutation = (stack: StackSpec) => void;
const service = (s: StackSpec, name: string) => s.services[name]!;

const MISTAKES: [string, Mutation, RegExp][] = [
  // Every service: healthcheck, resources, restart, pinned image, dnsrr, logs.
  [
    'a service has no healthcheck (here, nor in an image built here)',
    (s) => delete service(s, 'traefik').healthcheck,
    /traefik: no healthcheck/,
  ],
  [
    'a healthcheck is disabled',
    (s) => (service(s, 'api').healthcheck = { test: ['NONE'] }),
    /api: healthcheck disabled/,
  ],
  [
    'a service reserves nothing',
    (s) => delete service(s, 'api').deploy!.resources!.reservations,
    /api: deploy.resources.reservations/,
  ],
  [
    'a service has no restart policy',
    (s) => delete service(s, 'etcd1').deploy!.restart_policy,
    /etcd1: deploy.restart_policy/,
  ],
  [
    'an image is tagged latest',
    (s) => (service(s, 'api').image = '127.0.0.1:5000/swarmlab/api:latest'),
    /api: image .* latest tag/,
  ],
  ['an image has no tag', (s) => (service(s, 'traefik').image = 'traefik'), /traefik: image traefik has no tag/],
  [
    'an upstream image follows a minor version',
    (s) => (service(s, 'traefik').image = 'traefik:v3.5'),
    /traefik: .*exact version/,
  ],
  [
    'a service uses a virtual IP',
    (s) => (service(s, 'db-router').deploy!.endpoint_mode = 'vip'),
    /db-router: deploy.endpoint_mode must be dnsrr/,
  ],
  [
    'logs are not rotated',
    (s) => delete service(s, 'etcd2').logging!.options!['max-size'],
    /etcd2: logging must be json-file/,
  ],
  // Secrets only as files.
  [
    'a password is in the environment',
    (s) => (environment(service(s, 'api')).ADMIN_PASSWORD = 'hunter2'),
    /api: environment ADMIN_PASSWORD is password-like/,
  ],
  [
    'a database URL with its password is in the environment',
    (s) => (environment(service(s, 'db-router')).UPSTREAM = 'postgresql://app:s3cret@db-rw:5432/swarmlab'),
    /db-router: environment UPSTREAM holds what looks like a URL with a password/,
  ],
  [
    'basic-auth users are in a label',
    (s) => (labels(service(s, 'traefik'))['traefik.http.middlewares.auth.basicAuth.users'] = 'admin:$apr1$x$y'),
    /traefik: label .*basicAuth.users holds credentials/,
  ],
  [
    'a *_FILE variable names a secret the service does not mount',
    (s) => (service(s, 'api').secrets = service(s, 'api').secrets!.filter(({ source }) => source !== 'jwt_secret')),
    /api: environment JWT_SECRET_FILE points to \/run\/secrets\/jwt_secret, which the service does not mount/,
  ],
  // Ports and networks.
  [
    'another service publishes a port',
    (s) => (service(s, 'api').ports = [{ target: 3000, published: 3000, mode: 'host' }]),
    /api: publishes port 3000; only traefik does/,
  ],
  [
    'traefik publishes on the routing mesh',
    (s) => (service(s, 'traefik').ports![1]!.mode = 'ingress'),
    /traefik: port 443 must be published in mode host/,
  ],
  ['an internal network is made public', (s) => (s.networks!.data!.internal = false), /network data: must be internal/],
  // What a container keeps (CONTAINER_EXCEPTIONS).
  ['a service keeps its capabilities', (s) => delete service(s, 'api').cap_drop, /api: cap_drop: \[ALL\]/],
  [
    'a service adds a capability it was not given',
    (s) => (service(s, 'api').cap_add = ['NET_ADMIN']),
    /api: adds NET_ADMIN; allowed: none/,
  ],
  [
    'a socket proxy adds more than it needs',
    (s) => (service(s, 'docker-socket-proxy').cap_add = ['SETUID', 'SETGID', 'SYS_ADMIN']),
    /docker-socket-proxy: adds SYS_ADMIN; allowed: SETUID, SETGID/,
  ],
  [
    'a root filesystem is writable without a reason',
    (s) => delete service(s, 'etcd2').read_only,
    /etcd2: read_only: true/,
  ],
  [
    'a service has no PIDs limit',
    (s) => delete service(s, 'postgres1').deploy!.resources!.limits!.pids,
    /postgres1: needs deploy.resources.limits.pids/,
  ],
  // The Docker socket.
  [
    'the remediator mounts the Docker socket again',
    (s) =>
      service(s, 'remediator').volumes!.push({
        type: 'bind',
        source: '/var/run/docker.sock',
        target: '/var/run/docker.sock',
      }),
    /remediator: mounts the Docker socket; only swarmlab\/docker-socket-proxy may/,
  ],
  [
    'a socket proxy mounts the socket writable',
    (s) => (service(s, 'remediator-socket-proxy').volumes![0]!.read_only = false),
    /remediator-socket-proxy: mounts the Docker socket writable/,
  ],
  // State and rollouts.
  [
    'a stateful service loses its volume',
    (s) => (service(s, 'postgres1').volumes = []),
    /postgres1: stateful: needs a named volume/,
  ],
  [
    'a stateful service may move between nodes',
    (s) => (service(s, 'etcd2').deploy!.placement = {}),
    /etcd2: stateful: needs a placement constraint/,
  ],
  [
    'a stateful service is rolled start-first',
    (s) => (service(s, 'etcd3').deploy!.update_config!.order = 'start-first'),
    /etcd3: stateful: update_config.order must be stop-first/,
  ],
  [
    'the API is rolled stop-first',
    (s) => (service(s, 'api').deploy!.update_config!.order = 'stop-first'),
    /api: update_config.order must be start-first/,
  ],
  [
    'the API is not rolled back on failure',
    (s) => (service(s, 'api').deploy!.update_config!.failure_action = 'pause'),
    /api: update_config.failure_action must be rollback/,
  ],
  // Secrets and configs.
  [
    'a secret is not in the catalogue',
    (s) => {
      s.secrets!.extra = { external: true, name: 'swarmlab_extra_v1' };
      service(s, 'api').secrets!.push({ source: 'extra' });
    },
    /secret extra: not in the catalogue/,
  ],
  [
    'a service mounts a secret the catalogue does not give it',
    (s) => service(s, 'api').secrets!.push({ source: 'pg_superuser_password' }),
    /api: mounts pg_superuser_password, which the catalogue gives only to postgres/,
  ],
  [
    'a secret is made from a file by the stack',
    (s) => (s.secrets!.jwt_secret = { file: '/tmp/jwt', name: 'jwt' }),
    /secret jwt_secret: must be external/,
  ],
  [
    'a config is not named by its content',
    (s) => (s.configs!.traefik_static!.name = 'swarmlab_traefik_static_v1'),
    /config traefik_static: .*content hash/,
  ],
  // Traefik labels.
  [
    'a Traefik label is not a Traefik option',
    (s) => (labels(service(s, 'api'))['traefik.http.services.api.loadBalancer.healthChek.path'] = '/readyz'),
    /api: Traefik labels: .*healthChek/,
  ],
  [
    'a router listens on plain HTTP',
    (s) => (labels(service(s, 'api'))['traefik.http.routers.api.entryPoints'] = 'web'),
    /api: router api: entryPoints must be websecure only/,
  ],
  [
    'a router has no TLS',
    (s) => delete labels(service(s, 'api'))['traefik.http.routers.api.tls'],
    /api: router api: needs tls/,
  ],
  [
    'a router uses a middleware nobody defines',
    (s) => (labels(service(s, 'api'))['traefik.http.routers.api.middlewares'] = 'rate-limit@file,gzip@file'),
    /api: router api: middleware gzip@file is not defined/,
  ],
  [
    'an operations UI has no auth',
    (s) => delete labels(service(s, 'traefik'))['traefik.http.routers.dashboard.middlewares'],
    /traefik: router dashboard: an operations UI needs ops-auth@file/,
  ],
  [
    'a UI with its own login is put behind the ops basic auth',
    (s) => (labels(service(s, 'jenkins'))['traefik.http.routers.jenkins.middlewares'] = 'ops-auth@file,compress@file'),
    /jenkins: router jenkins: jenkins has its own login .*: no ops-auth@file/,
  ],
  [
    'the Docker client key is given to another service',
    (s) => service(s, 'api').secrets!.push({ source: 'docker_client_key' }),
    /api: mounts docker_client_key, which the catalogue gives only to jenkins/,
  ],
  [
    'the lab state (every secret of the lab) is given to another service',
    (s) => service(s, 'remediator').secrets!.push({ source: 'lab_state' }),
    /remediator: mounts lab_state, which the catalogue gives only to jenkins/,
  ],
  [
    'the Docker client certificate is named by a version, not by its content',
    (s) => (s.secrets!.docker_client_cert!.name = 'swarmlab_docker_client_cert_v1'),
    /secret docker_client_cert: must be external, named swarmlab_docker_client_cert_<hash>/,
  ],
  [
    'jenkins keeps its volume but may move off node1',
    (s) => (service(s, 'jenkins').deploy!.placement = { constraints: ['node.role == manager'] }),
    /jenkins: has a named volume \(node-local\) but no node.labels constraint/,
  ],
  [
    'a router points to a service nobody defines',
    (s) => (labels(service(s, 'api'))['traefik.http.routers.api.service'] = 'apii'),
    /api: router api: service apii is not defined/,
  ],
  [
    'two services define the same router',
    (s) => Object.assign(labels(service(s, 'traefik')), { 'traefik.http.routers.api.rule': 'Host(`x.lab.localhost`)' }),
    /Traefik routers api is already defined by/,
  ],
  [
    'Traefik labels are container labels',
    (s) => (service(s, 'db-router').labels = { 'traefik.enable': 'true' }),
    /db-router: Traefik labels under labels: are container labels/,
  ],
  [
    'a routed service is not on the network Traefik reaches it on',
    (s) => delete service(s, 'grafana').networks!.edge,
    /grafana: routed by Traefik on the edge network but not on it/,
  ],
  [
    "the API's label names a network Traefik is not on",
    (s) => delete service(s, 'traefik').networks!['api-edge'],
    /api: routed by Traefik on the api-edge network, which traefik is not on/,
  ],
  // What the API's tasks reach.
  [
    'the API joins a network that is not internal',
    (s) => (service(s, 'api').networks!.edge = null),
    /api: network edge must be internal/,
  ],
  [
    'another service joins one of the API networks',
    (s) => (service(s, 'alertmanager').networks!['api-metrics'] = null),
    /alertmanager: shares api-metrics with the api; only traefik, edge-fallback, db-router, prometheus may/,
  ],
  [
    'the API joins the data network',
    (s) => (service(s, 'api').networks!.data = null),
    /etcd1: shares data with the api/,
  ],
  [
    'Traefik labels without traefik.enable',
    (s) => delete labels(service(s, 'api'))['traefik.enable'],
    /api: Traefik labels without traefik.enable=true are ignored/,
  ],
];

describe('the stack policy refuses a stack with one mistake', () => {
  it.each(MISTAKES)('when %s, then it is refused', (_what, mutate, expected) => {
    const bad = structuredClone(stack);
    mutate(bad);
    const problems = checkStack(bad, context);
    expect(
      problems.some((problem) => expected.test(problem)),
      problems.join('\n'),
    ).toBe(true);
  });
});

describe('ACME (LAB_DOMAIN + ACME_EMAIL): what deploy changes in the rendered stack', () => {
  const settings = { domain: 'example.com', email: 'ops@example.com' };

  it('when both are set, then they are used; one without the other, or a bad e-mail, stops with a message', () => {
    expect(acmeSettings({ LAB_DOMAIN: 'Example.com', ACME_EMAIL: 'ops@example.com' })).toEqual(settings);
    expect(acmeSettings({ LAB_DOMAIN: 'example.com' })).toBeUndefined();
    expect(() => acmeSettings({ ACME_EMAIL: 'ops@example.com' })).toThrow(/LAB_DOMAIN is not/);
    expect(() => acmeSettings({ LAB_DOMAIN: 'example.com', ACME_EMAIL: 'ops' })).toThrow(/not an e-mail/);
  });

  it('adds a resolver to the static configuration that the Traefik v3 schema accepts', async () => {
    const staticYaml = acmeStaticConfig(await readFile(path.join(REPO_ROOT, 'traefik/traefik.yml'), 'utf8'), settings);
    const schema = JSON.parse(await readFile(path.join(REPO_ROOT, 'traefik/schemas/traefik-v3.json'), 'utf8'));
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const config = parse(staticYaml) as Record<string, unknown>;
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(config.certificatesResolvers).toEqual({
      acme: { acme: { email: 'ops@example.com', storage: '/acme/acme.json', tlsChallenge: {} } },
    });
    expect(config.entryPoints).toEqual(
      parse(await readFile(path.join(REPO_ROOT, 'traefik/traefik.yml'), 'utf8')).entryPoints,
    );
  });

  it('routes <name>.example.com beside <name>.lab.localhost with a certificate from the resolver; the policy still holds', async () => {
    const staticYaml = acmeStaticConfig(await readFile(path.join(REPO_ROOT, 'traefik/traefik.yml'), 'utf8'), settings);
    const staticFile = path.join(await mkdtemp(path.join(tmpdir(), 'swarmlab-acme-')), 'traefik.yml');
    await writeFile(staticFile, staticYaml);
    const changed = parse(withAcme(stringify(stack), settings, staticFile, staticYaml)) as StackSpec;
    const api = labels(changed.services.api!);
    expect(api['traefik.http.routers.api.rule']).toBe(
      '(Host(`api.lab.localhost`) || Host(`api.example.com`)) && !Path(`/metrics`)',
    );
    expect(api['traefik.http.routers.api.tls.certresolver']).toBe('acme');
    expect(api['traefik.http.routers.api.tls.domains[0].main']).toBe('api.example.com');
    expect(labels(changed.services.traefik!)['traefik.http.routers.dashboard.tls.certresolver']).toBe('acme');
    expect(changed.services.traefik!.volumes).toContainEqual({
      type: 'volume',
      source: 'traefik-acme',
      target: '/acme',
    });
    expect(changed.configs?.traefik_static).toEqual({
      file: staticFile,
      name: expect.stringMatching(/^swarmlab_traefik_static_[0-9a-f]{12}$/),
    });
    expect(changed.services.traefik!.deploy?.placement?.constraints).toContain('node.labels.zone == 1');
    expect(checkStack(changed, context)).toEqual([]);
    await rm(path.dirname(staticFile), { recursive: true, force: true });
  });
});
