// The rules every service of docker-compose.yml follows, checked on the stack as `docker stack config` renders
// it (scripts/test/stack.test.ts), and the variables deploy sets to render it (stackVariables). checkStack()
// returns one sentence per problem, naming the service or network; an empty list means the stack is fine.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { alertmanagerDeployment } from './alertmanager-config.js';
import { CATALOGUE, labDir, labPaths, SECRET_NAMES, STACK, type Versions } from './lab-secrets.js';
import { DOCKER_CLIENT_HASH_VARIABLE, DOCKER_CLIENT_SECRETS, dockerClientTlsHash } from './lab-node-tls.js';
import { LAB_STATE_HASH_VARIABLE, labStateHash } from './lab-state.js';
import { REPO_ROOT } from './paths.js';

// --- the stack as `docker stack config` renders it (long syntax, maps, durations as Go strings) ---------------

export interface UpdateConfig {
  parallelism?: number;
  delay?: string;
  order?: string;
  failure_action?: string;
  monitor?: string;
  max_failure_ratio?: number;
}
export interface Resources {
  cpus?: string;
  memory?: string;
  pids?: number;
}
export interface ServiceSpec {
  image?: string;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  hostname?: string;
  environment?: Record<string, string | null>;
  labels?: Record<string, string>;
  healthcheck?: { test?: string[] | string; disable?: boolean; interval?: string; timeout?: string };
  ports?: { target?: number; published?: number | string; protocol?: string; mode?: string }[];
  networks?: Record<string, { aliases?: string[] } | null>;
  volumes?: { type?: string; source?: string; target?: string; read_only?: boolean }[];
  secrets?: { source: string; target?: string; uid?: string; gid?: string; mode?: number }[];
  configs?: { source: string; target?: string }[];
  stop_grace_period?: string;
  logging?: { driver?: string; options?: Record<string, string> };
  deploy?: {
    mode?: string;
    replicas?: number;
    endpoint_mode?: string;
    labels?: Record<string, string>;
    placement?: { constraints?: string[]; preferences?: { spread: string }[]; max_replicas_per_node?: number };
    resources?: { limits?: Resources; reservations?: Resources };
    restart_policy?: { condition?: string; delay?: string; max_attempts?: number; window?: string };
    update_config?: UpdateConfig;
    rollback_config?: UpdateConfig;
  };
}
export interface NetworkSpec {
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  driver_opts?: Record<string, string>;
  ipam?: { config?: { subnet?: string }[] };
}
export interface StackSpec {
  services: Record<string, ServiceSpec>;
  networks?: Record<string, NetworkSpec | null>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { name?: string; external?: boolean; file?: string }>;
  configs?: Record<string, { name?: string; external?: boolean; file?: string }>;
}

// --- what the lab decided ---------------------------------------------------------------------------------------

/** The only service that publishes ports (in host mode). */
export const INGRESS_SERVICE = 'traefik';
/** The only network that is not internal: Traefik and what it routes to. */
export const EDGE_NETWORK = 'edge';
/**
 * The public API is the lab's most exposed code: whoever takes one of its tasks reaches only these services, each for
 * one flow (docs/stack.md, "Who reaches whom"), over internal networks only.
 */
export const API_SERVICE = 'api';
export const API_NEIGHBOURS: Readonly<Record<string, string>> = {
  traefik: 'routes the public requests to it (api-edge)',
  'edge-fallback': "the HAProxy edge of --edge haproxy, in Traefik's place (api-edge)",
  'db-router': 'its database connections, db-rw and db-ro (api-db)',
  prometheus: 'scrapes its metrics port (api-metrics)',
};
/** Services that keep state on their node: a named volume, a node-label constraint, one task, stop-first. */
export const STATEFUL_SERVICE = /^(etcd|postgres)\d+$/;
/**
 * What a container may keep (the CIS Docker Benchmark's container checks: 5.3 capabilities, 5.12 read-only root
 * filesystem, 5.28 PIDs limit; no-new-privileges, 5.25, is the nodes' daemon setting, lab/provision/provision.sh).
 * Every service drops all capabilities, has a read-only root filesystem (a tmpfs for what it writes) and a PIDs
 * limit, except as named here, with the reason. Names are the catalogue's (postgres for postgres1 and 2).
 */
export const CONTAINER_EXCEPTIONS: Readonly<{
  capabilities: Readonly<Record<string, readonly string[]>>;
  defaultCapabilities: Readonly<Record<string, string>>;
  writableRoot: Readonly<Record<string, string>>;
}> = {
  /** Capabilities added back after dropping all of them. */
  capabilities: {
    // entrypoint.sh starts as root to read the socket's group; HAProxy then switches to user haproxy in it.
    'docker-socket-proxy': ['SETUID', 'SETGID'],
    'remediator-socket-proxy': ['SETUID', 'SETGID'],
    // It binds 80 and 443 (Traefik's own advice for its container).
    traefik: ['NET_BIND_SERVICE'],
  },
  defaultCapabilities: {
    alloy: "reads every container's log files on its node as root (official image, not runnable here to trim)",
    cadvisor: "reads the node's cgroups and Docker state as root (official image, not runnable here to trim)",
  },
  writableRoot: {
    traefik: 'official image that cannot be pulled here: a read-only root could not be proven',
    grafana: 'official image that cannot be pulled here: a read-only root could not be proven',
    loki: 'official image that cannot be pulled here: a read-only root could not be proven',
    alloy: 'official image that cannot be pulled here: a read-only root could not be proven',
    cadvisor: 'official image that cannot be pulled here: a read-only root could not be proven',
    jenkins: 'builds and npm installs in its home and workspace (the image FROM jenkins/jenkins, not buildable here)',
  },
};

/** The only image that may mount the Docker socket, read-only; each service of it serves one PROXY_POLICY. */
export const SOCKET_PROXY_IMAGE = 'swarmlab/docker-socket-proxy';
const DOCKER_SOCKET = '/var/run/docker.sock';
/** Services rolled with zero downtime: start-first, one at a time, automatic rollback. */
export const ROLLING_SERVICES: readonly string[] = ['api'];
/** The operations UIs: their routers need the ops basic auth. */
const OPS_HOST = /Host\(`traefik\./;
const OPS_INTERNAL_SERVICES = new Set(['api@internal', 'dashboard@internal']);
export const OPS_AUTH = 'ops-auth@file';
/**
 * The UIs with a login of their own (<name>.lab.localhost → whose users): routed WITHOUT the ops basic auth, which
 * would put a second password in front of theirs. Listed explicitly: a router for one of these hosts that uses
 * ops-auth is refused, as is an operations UI without it.
 * - grafana: Grafana's users (admin + the grafana_admin_password secret);
 * - jenkins: Jenkins' users (admin + the jenkins_admin_password secret, jenkins/casc.yaml; anonymous users may not
 *   even read). Also, the operator's git hook (npm run lab:hooks) calls its /git/notifyCommit without the ops
 *   password, and Jenkins lets that only schedule polling (jenkins/Dockerfile).
 */
export const OWN_LOGIN_UIS: Readonly<Record<string, string>> = {
  grafana: "Grafana's own users (grafana_admin_password)",
  prometheus: 'its basic auth, user prometheus (prometheus_password), which its API needs from inside the lab too',
  alertmanager:
    'its basic auth, user alertmanager (alertmanager_password), which its API needs from inside the lab too',
  jenkins: "Jenkins' own users (jenkins_admin_password); the git hook's /git/notifyCommit needs no ops password",
  mail: "the mail sink's basic auth, user mailsink (mailsink_password), which its API needs from inside the lab too",
};
const OWN_LOGIN_HOST = new RegExp(`Host\\(\`(${Object.keys(OWN_LOGIN_UIS).join('|')})\\.`);
const INTERNAL_SERVICES = new Set(['api@internal', 'dashboard@internal', 'ping@internal', 'prometheus@internal']);
/** The one entry point routers use (web only redirects to it). */
export const ROUTER_ENTRY_POINT = 'websecure';

/** The images this project builds, by name, and the Dockerfile that builds each (relative to the repository). */
export const IMAGE_DOCKERFILES: Readonly<Record<string, string>> = {
  'swarmlab/api': 'api/Dockerfile',
  'swarmlab/postgres': 'postgres/Dockerfile',
  'swarmlab/etcd': 'postgres/etcd/Dockerfile',
  'swarmlab/db-router': 'postgres/db-router/Dockerfile',
  'swarmlab/docker-socket-proxy': 'traefik/socket-proxy/Dockerfile',
  'swarmlab/prometheus': 'monitoring/prometheus/Dockerfile',
  'swarmlab/pushgateway': 'monitoring/pushgateway/Dockerfile',
  'swarmlab/node-exporter': 'monitoring/node-exporter/Dockerfile',
  'swarmlab/postgres-exporter': 'monitoring/postgres-exporter/Dockerfile',
  'swarmlab/backup': 'backup/Dockerfile',
  'swarmlab/alertmanager': 'monitoring/alertmanager/Dockerfile',
  'swarmlab/remediator': 'monitoring/remediator/Dockerfile',
  'swarmlab/mailsink': 'monitoring/mailsink/Dockerfile',
  'swarmlab/reporter': 'monitoring/report/Dockerfile',
  'swarmlab/jenkins': 'jenkins/Dockerfile',
};

// --- variables deploy sets --------------------------------------------------------------------------------------

/** The first 12 hex digits of a file's sha256: the suffix of the Docker config made from it. */
export function fileHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
}

/** The variable that holds a config's content hash (traefik_static → TRAEFIK_STATIC_HASH). */
export const configHashVariable = (config: string) => `${config.toUpperCase()}_HASH`;
/** The variable that holds a secret's version (jwt_secret → JWT_SECRET_VERSION). */
export const secretVersionVariable = (secret: string) => `${secret.toUpperCase()}_VERSION`;

/** The variable that holds an image's tag (db-router → DB_ROUTER_TAG). */
export const imageTagVariable = (image: string) => `${image.toUpperCase().replace(/-/g, '_')}_TAG`;

export interface StackVariableOptions {
  /** The tag of every swarmlab/* image, or a tag per image name (api, postgres, ...). */
  tag: string | Readonly<Record<string, string>>;
  /** Where nodes pull images; the stack file's default when unset. */
  registry?: string;
  /** The secrets' versions (readVersions() of lab-secrets.ts). */
  versions: Versions;
  /** The repository (docker-compose.yml and the config files). */
  root?: string;
  /** The stack files, relative to root (default: docker-compose.yml alone). */
  files?: readonly string[];
  /**
   * The lab folder (LAB_DIR): whether Slack is on decides Alertmanager's configuration; the Docker client
   * certificate (docker/cert.pem) names Jenkins' docker_client_* secrets.
   */
  labRoot?: string;
  /** node1's address on the nodes' network (its `docker info` Swarm.NodeAddr): `node1` in Jenkins' /etc/hosts. */
  managerAddress?: string;
  /** The packed lab state (lab-state.ts packLabState): names Jenkins' lab_state secret. */
  labState?: string;
}

/** The swarmlab/* image names the stack files use. */
export async function stackImages(root: string = REPO_ROOT, files: readonly string[] = ['docker-compose.yml']) {
  const names = new Set<string>();
  for (const file of files) {
    const text = await readFile(path.join(root, file), 'utf8');
    for (const match of text.matchAll(/\/swarmlab\/([a-z0-9-]+):/g)) names.add(match[1]!);
  }
  return [...names].sort();
}

/**
 * Every variable the stack files need: a tag per image, REGISTRY, a hash per config file, a version per secret, the
 * hashes of what deploy makes itself, and LAB_MANAGER_ADDR. A variable whose source is missing (the client
 * certificate before npm run secrets, no managerAddress) is left out: the render then names it.
 */
export async function stackVariables(options: StackVariableOptions): Promise<Record<string, string>> {
  const root = options.root ?? REPO_ROOT;
  const files = options.files ?? ['docker-compose.yml'];
  const variables: Record<string, string> = {};
  for (const image of await stackImages(root, files)) {
    const tag = typeof options.tag === 'string' ? options.tag : options.tag[image];
    if (tag === undefined) throw new Error(`no tag for the image ${image}`);
    variables[imageTagVariable(image)] = tag;
  }
  if (options.registry) variables.REGISTRY = options.registry;
  for (const file of files) {
    const compose = parse(await readFile(path.join(root, file), 'utf8'), { merge: true }) as {
      configs?: Record<string, { file?: string }>;
    };
    for (const [key, config] of Object.entries(compose.configs ?? {})) {
      // Relative to the first file's folder, the repository root, as docker stack resolves them.
      if (config.file) variables[configHashVariable(key)] = fileHash(path.resolve(root, config.file));
    }
  }
  for (const name of SECRET_NAMES) {
    const version = options.versions[name];
    if (version !== undefined) variables[secretVersionVariable(name)] = String(version);
  }
  // Made by deploy itself, not from a file of the repository as is (lab-swarm.ts ensureAlertmanagerObjects).
  const alertmanager = alertmanagerDeployment(options.labRoot ?? labDir());
  variables.ALERTMANAGER_CONFIG_HASH = alertmanager.configHash;
  variables.SLACK_WEBHOOK_URL_HASH = alertmanager.slackHash;
  // Made by deploy from the files ensureNodeTls keeps (lab-swarm.ts ensureDockerSecrets).
  const clientHash = dockerClientTlsHash(labPaths(options.labRoot ?? labDir()));
  if (clientHash !== undefined) variables[DOCKER_CLIENT_HASH_VARIABLE] = clientHash;
  if (options.managerAddress) variables.LAB_MANAGER_ADDR = options.managerAddress;
  if (options.labState !== undefined) variables[LAB_STATE_HASH_VARIABLE] = labStateHash(options.labState);
  return variables;
}

// --- what the checks know about the repository ------------------------------------------------------------------

/** Traefik's dynamic configuration (file provider tree). */
export type DynamicConfig = Record<string, Record<string, Record<string, Record<string, unknown>>>>;

export interface PolicyContext {
  /** Images built here (swarmlab/<name>) whose Dockerfile declares a HEALTHCHECK. */
  imagesWithHealthcheck: ReadonlySet<string>;
  /** Middlewares defined in traefik/dynamic, referred to as <name>@file. */
  fileMiddlewares: ReadonlySet<string>;
  /** The secret catalogue: each secret and the services allowed to mount it. */
  secretUsers: Readonly<Record<string, readonly string[]>>;
  /** Traefik's option names by lowercase spelling (labels are case-insensitive), and those that are lists. */
  traefikKeys: { canonical: ReadonlyMap<string, string>; lists: ReadonlySet<string> };
  /** Validates a dynamic configuration against Traefik's schema: the errors, or none. */
  validateDynamic: (config: DynamicConfig) => string[];
  /** The content hash a config made from `file` must carry in its name. */
  hashFile: (file: string) => string;
}

type JsonSchema = { [key: string]: unknown };

/** Every property name of a JSON schema, and the names whose values are lists of strings. */
function schemaKeys(schema: JsonSchema) {
  const canonical = new Map<string, string>();
  const ambiguous = new Set<string>();
  const lists = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== 'object' || node === null) return;
    const properties = (node as JsonSchema).properties;
    if (typeof properties === 'object' && properties !== null) {
      for (const [name, sub] of Object.entries(properties as Record<string, JsonSchema>)) {
        const lower = name.toLowerCase();
        if (canonical.has(lower) && canonical.get(lower) !== name) ambiguous.add(lower);
        canonical.set(lower, name);
        const items = sub.items as JsonSchema | undefined;
        if (sub.type === 'array' && items?.type === 'string') lists.add(name);
      }
    }
    Object.values(node).forEach(visit);
  };
  visit(schema);
  for (const lower of ambiguous) canonical.delete(lower);
  return { canonical, lists };
}

/** Reads what the checks compare the stack with: Dockerfiles, traefik/dynamic, the schema, the catalogue. */
export async function loadPolicyContext(root: string = REPO_ROOT): Promise<PolicyContext> {
  const imagesWithHealthcheck = new Set<string>();
  for (const [image, dockerfile] of Object.entries(IMAGE_DOCKERFILES)) {
    const text = await readFile(path.join(root, dockerfile), 'utf8');
    if (/^HEALTHCHECK\s+(?!NONE\b)/im.test(text)) imagesWithHealthcheck.add(image);
  }

  const dynamicDir = path.join(root, 'traefik/dynamic');
  const fileMiddlewares = new Set<string>();
  for (const file of (await readdir(dynamicDir)).filter((name) => /\.ya?ml$/.test(name))) {
    const config = parse(await readFile(path.join(dynamicDir, file), 'utf8')) as {
      http?: { middlewares?: Record<string, unknown> };
    };
    for (const name of Object.keys(config?.http?.middlewares ?? {})) fileMiddlewares.add(name);
  }

  const schema = JSON.parse(
    await readFile(path.join(root, 'traefik/schemas/traefik-v3-file-provider.json'), 'utf8'),
  ) as JsonSchema;
  // Label values are strings: coerce them where the schema wants numbers or booleans, as Traefik does.
  const validate = new Ajv({ allErrors: true, strict: false, coerceTypes: true }).compile(schema);
  const validateDynamic = (config: DynamicConfig) =>
    validate(config)
      ? []
      : (validate.errors ?? []).map((error) => {
          const extra = (error.params as { additionalProperty?: string }).additionalProperty;
          return `${error.instancePath || '/'} ${error.message}${extra ? ` (${extra})` : ''}`;
        });

  const secretUsers = Object.fromEntries(
    Object.entries(CATALOGUE).map(([name, spec]) => [name, spec.services as readonly string[]]),
  );
  return {
    imagesWithHealthcheck,
    fileMiddlewares,
    secretUsers,
    traefikKeys: schemaKeys(schema),
    validateDynamic,
    hashFile: fileHash,
  };
}

// --- Traefik labels ---------------------------------------------------------------------------------------------

export interface LabelConversion {
  /** traefik.enable, when given. */
  enabled: boolean | undefined;
  /** The traefik.http/tcp/udp labels as the file provider's tree. */
  config: DynamicConfig;
  problems: string[];
}

const LABEL_KINDS = new Set(['routers', 'services', 'middlewares']);
const SWARM_LABELS = new Set(['network', 'lbswarm']);

/**
 * Unflattens a service's Traefik labels into the file provider's tree, as Traefik reads them:
 * `traefik.http.routers.x.rule=…` → `{ http: { routers: { x: { rule: … } } } }`. Option names get the schema's
 * spelling (Traefik ignores case), list options are split at commas, `tls=true` becomes `tls: {}` and the
 * Swarm-only `loadBalancer.server.port` becomes a `servers` entry.
 */
export function labelsToDynamic(labels: Record<string, string>, keys: PolicyContext['traefikKeys']): LabelConversion {
  const config: DynamicConfig = {};
  const problems: string[] = [];
  const servers = new Map<string, Record<string, string>>(); // "<protocol>/<service>" → server.* values
  let enabled: boolean | undefined;
  const canonical = (segment: string) => keys.canonical.get(segment.toLowerCase()) ?? segment;

  for (const [key, value] of Object.entries(labels)) {
    const parts = key.split('.');
    if (parts[0] !== 'traefik') continue;
    const [, section = '', kindLabel = '', name = '', ...rest] = parts;
    if (section === 'enable' && parts.length === 2) {
      if (value !== 'true' && value !== 'false') problems.push(`${key}=${value}: must be true or false`);
      enabled = value === 'true';
      continue;
    }
    if (section === 'swarm') {
      if (!SWARM_LABELS.has((kindLabel + rest.join('')).toLowerCase()) || name) {
        problems.push(`${key}: not a Swarm provider label (traefik.swarm.network, traefik.swarm.lbswarm)`);
      }
      continue;
    }
    const protocol = section.toLowerCase();
    const kind = kindLabel.toLowerCase();
    if (!['http', 'tcp', 'udp'].includes(protocol) || !LABEL_KINDS.has(kind) || !name || rest.length === 0) {
      problems.push(`${key}: not a Traefik label (traefik.<http|tcp|udp>.<routers|services|middlewares>.<name>.…)`);
      continue;
    }
    const option = rest.map(canonical);
    if (kind === 'services' && option[0] === 'loadBalancer' && option[1]?.toLowerCase() === 'server') {
      const id = `${protocol}/${name}`;
      servers.set(id, { ...servers.get(id), [option.slice(2).join('.').toLowerCase()]: value });
      setIn(config, [protocol, kind, name, 'loadBalancer'], {});
      continue;
    }
    const leaf = option[option.length - 1]!;
    const parsed: unknown = keys.lists.has(leaf) ? value.split(',').map((item) => item.trim()) : value;
    if (!setIn(config, [protocol, kind, name, ...option], parsed)) problems.push(`${key}: set twice`);
  }

  for (const [id, server] of servers) {
    const [protocol, name] = id.split('/') as [string, string];
    const loadBalancer = config[protocol]!.services![name]!.loadBalancer as Record<string, unknown>;
    const address = server.port ? `task:${server.port}` : undefined;
    if (!address && !server.url) problems.push(`traefik.${protocol}.services.${name}: no loadBalancer.server.port`);
    const url = server.url ?? (protocol === 'http' ? `${server.scheme ?? 'http'}://${address}` : address);
    loadBalancer.servers = [protocol === 'http' ? { url } : { address }];
  }
  for (const router of Object.values(config.http?.routers ?? {})) {
    if (router.tls === 'true') router.tls = {};
    else if (router.tls === 'false') delete router.tls;
  }
  return { enabled, config, problems };
}

/** Sets a nested value, creating the objects on the way; false (and no change) when one is already there. */
function setIn(target: Record<string, unknown>, keys: string[], value: unknown): boolean {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (Object.hasOwn(node, last)) return false;
  node[last] = value;
  return true;
}

// --- the checks -------------------------------------------------------------------------------------------------

/** Every problem of the stack, one sentence each; empty when it follows every rule. */
export function checkStack(stack: StackSpec, context: PolicyContext): string[] {
  return [
    ...checkServices(stack, context),
    ...checkNoSecretValues(stack),
    ...checkPorts(stack),
    ...checkNetworks(stack),
    ...checkApiReach(stack),
    ...checkStateful(stack),
    ...checkDockerSocket(stack),
    ...checkContainers(stack),
    ...checkRolling(stack),
    ...checkSecrets(stack, context),
    ...checkConfigs(stack, context),
    ...checkTraefikLabels(stack, context),
  ];
}

/** swarmlab/api from 127.0.0.1:5000/swarmlab/api:abc@sha256:…, with its tag and digest. */
export function parseImage(reference: string): { name: string; tag?: string; digest?: string } {
  const [withoutDigest = '', digest] = reference.split('@', 2);
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const tag = colon > slash ? withoutDigest.slice(colon + 1) : undefined;
  let name = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
  const first = name.split('/')[0]!;
  if (name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    name = name.slice(first.length + 1);
  }
  return { name, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

const BYTES: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
function bytes(value: string | undefined): number {
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(value ?? '');
  return match ? Number(match[1]) * BYTES[match[2]!.toLowerCase()]! : NaN;
}

/** Seconds in a Go duration as Docker renders it (1m30s, 500ms, 20s). */
export function seconds(duration: string | undefined): number {
  if (!duration) return 0;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6, ns: 1e-9 };
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)) {
    total += Number(amount) * units[unit!]!;
  }
  return total;
}

function checkServices(stack: StackSpec, context: PolicyContext): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    const problem = (text: string) => problems.push(`service ${name}: ${text}`);
    const deploy = service.deploy ?? {};

    // Pinned image: a tag that is not latest (an exact version for images not built here), or a digest.
    const image = parseImage(service.image ?? '');
    if (!service.image) problem('no image');
    else if (!image.digest && !image.tag) problem(`image ${service.image} has no tag: pin it`);
    else if (!image.digest && /^latest/i.test(image.tag!)) problem(`image ${service.image} uses a latest tag: pin it`);
    else if (!image.digest && !image.name.startsWith('swarmlab/') && !/\d+\.\d+\.\d+/.test(image.tag!)) {
      problem(`image ${service.image}: pin an upstream image to an exact version (x.y.z)`);
    }

    // A healthcheck here, or in the Dockerfile of an image built here; never disabled.
    const test = service.healthcheck?.test;
    const disabled = service.healthcheck?.disable === true || (Array.isArray(test) ? test[0] : test) === 'NONE';
    if (disabled) problem('healthcheck disabled');
    else if (!test && !context.imagesWithHealthcheck.has(image.name)) {
      problem(`no healthcheck: define one here, or a HEALTHCHECK in the Dockerfile of ${image.name}`);
    }

    const { limits, reservations } = deploy.resources ?? {};
    for (const [label, resources] of [
      ['limits', limits],
      ['reservations', reservations],
    ] as const) {
      if (!resources?.cpus || !resources.memory) problem(`deploy.resources.${label} needs cpus and memory`);
    }
    if (limits && reservations) {
      if (Number(reservations.cpus) > Number(limits.cpus)) problem('reserves more CPU than its limit');
      if (bytes(reservations.memory) > bytes(limits.memory)) problem('reserves more memory than its limit');
    }

    const condition = deploy.restart_policy?.condition;
    if (condition !== 'any' && condition !== 'on-failure') {
      problem('deploy.restart_policy.condition must be any or on-failure');
    }
    if (deploy.endpoint_mode !== 'dnsrr') {
      problem('deploy.endpoint_mode must be dnsrr (no IPVS on the lab kernels: VIPs do not work)');
    }
    const logging = service.logging;
    if (logging?.driver !== 'json-file' || !logging.options?.['max-size'] || !logging.options['max-file']) {
      problem('logging must be json-file with max-size and max-file');
    }
  }
  return problems;
}

const SECRET_WORDS = new Set([
  'PASSWORD',
  'PASSWD',
  'PASS',
  'PWD',
  'SECRET',
  'SECRETS',
  'TOKEN',
  'KEY',
  'APIKEY',
  'CREDENTIAL',
  'CREDENTIALS',
  'DSN',
  'CIPHER',
  'PRIVATE',
]);

/** An environment name or label key that says it holds a secret (APP_PASSWORD, JWT_SECRET, DATABASE_URL). */
export function secretLikeName(key: string): boolean {
  const words = key.toUpperCase().split(/[^A-Z0-9]+/);
  const databaseUrl = words.at(-1) === 'URL' && words.some((word) => ['DATABASE', 'DB'].includes(word));
  return databaseUrl || words.some((word) => SECRET_WORDS.has(word));
}

const SECRET_VALUES: [RegExp, string][] = [
  [/[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i, 'a URL with a password'],
  [/\$(apr1|2[abxy]?|5|6|argon2(id|i|d)?)\$|\{SHA\}/, 'a password hash'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9+/_=-]{32,}$/, 'a random key'],
];

/** No secret in environment or labels: secret-like names only as NAME_FILE=/run/secrets/<mounted secret>. */
function checkNoSecretValues(stack: StackSpec): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    const mounted = new Set((service.secrets ?? []).map((secret) => secret.target ?? secret.source));
    const places = [
      ['environment', service.environment ?? {}],
      ['label', service.labels ?? {}],
      ['label', service.deploy?.labels ?? {}],
    ] as const;
    for (const [place, entries] of places) {
      for (const [key, raw] of Object.entries(entries)) {
        const value = raw ?? '';
        const where = `service ${name}: ${place} ${key}`;
        if (key.endsWith('_FILE')) {
          const secret = /^\/run\/secrets\/([^/]+)$/.exec(value)?.[1];
          if (secretLikeName(key.slice(0, -'_FILE'.length)) && secret === undefined) {
            problems.push(`${where} must point into /run/secrets/`);
          } else if (secret !== undefined && !mounted.has(secret)) {
            problems.push(`${where} points to /run/secrets/${secret}, which the service does not mount`);
          }
        } else if (secretLikeName(key)) {
          problems.push(`${where} is password-like: mount a secret and give ${key}_FILE instead`);
        } else if (/\.(basicauth|digestauth)\.users$/i.test(key)) {
          problems.push(`${where} holds credentials: use usersFile with a secret`);
        }
        for (const [pattern, what] of SECRET_VALUES) {
          if (pattern.test(value)) problems.push(`${where} holds what looks like ${what}: use a secret`);
        }
      }
    }
  }
  return problems;
}

function checkPorts(stack: StackSpec): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    for (const port of service.ports ?? []) {
      if (name !== INGRESS_SERVICE) {
        problems.push(`service ${name}: publishes port ${port.published ?? port.target}; only ${INGRESS_SERVICE} does`);
      } else if (port.mode !== 'host') {
        problems.push(`service ${name}: port ${port.published} must be published in mode host (no routing mesh)`);
      }
    }
  }
  return problems;
}

function checkNetworks(stack: StackSpec): string[] {
  const problems: string[] = [];
  for (const [name, network] of Object.entries(stack.networks ?? {})) {
    if (network?.driver !== 'overlay') problems.push(`network ${name}: driver must be overlay`);
    if (name !== EDGE_NETWORK && network?.internal !== true) {
      problems.push(`network ${name}: must be internal (only ${EDGE_NETWORK} is not)`);
    }
  }
  return problems;
}

function checkApiReach(stack: StackSpec): string[] {
  const api = stack.services[API_SERVICE];
  if (!api) return [];
  const problems: string[] = [];
  const networks = Object.keys(api.networks ?? {});
  for (const network of networks) {
    if (stack.networks?.[network]?.internal !== true) {
      problems.push(`service ${API_SERVICE}: network ${network} must be internal (the API has no way out of the lab)`);
    }
  }
  for (const [name, service] of Object.entries(stack.services)) {
    // The API itself, and a blue/green release's candidate (api-next), another release of it.
    if (catalogueService(name) === API_SERVICE || Object.hasOwn(API_NEIGHBOURS, name)) continue;
    const shared = Object.keys(service.networks ?? {}).filter((network) => networks.includes(network));
    if (shared.length > 0) {
      problems.push(
        `service ${name}: shares ${shared.join(', ')} with the ${API_SERVICE}; only ${Object.keys(API_NEIGHBOURS).join(', ')} may`,
      );
    }
  }
  return problems;
}

function checkStateful(stack: StackSpec): string[] {
  const problems: string[] = [];
  const declared = new Set(Object.keys(stack.volumes ?? {}));
  for (const [name, service] of Object.entries(stack.services)) {
    const problem = (text: string) => problems.push(`service ${name}: ${text}`);
    const named = (service.volumes ?? []).filter((volume) => volume.type === 'volume' && volume.source);
    const pinned = (service.deploy?.placement?.constraints ?? []).some((c) => /^node\.labels\.\S+\s*==/.test(c));
    for (const volume of named) {
      if (!declared.has(volume.source!)) problem(`volume ${volume.source} is not declared in volumes:`);
    }
    // A global service has one volume per node by design.
    if (named.length > 0 && !pinned && service.deploy?.mode !== 'global') {
      problem('has a named volume (node-local) but no node.labels constraint to keep it on its node');
    }
    if (!STATEFUL_SERVICE.test(name)) continue;
    if (named.length === 0) problem('stateful: needs a named volume for its data');
    if (!pinned) problem('stateful: needs a placement constraint on a node label');
    if ((service.deploy?.replicas ?? 1) !== 1) problem('stateful: exactly one replica');
    for (const key of ['update_config', 'rollback_config'] as const) {
      if (service.deploy?.[key]?.order === 'start-first') {
        problem(`stateful: ${key}.order must be stop-first (never two tasks on one data directory)`);
      }
    }
  }
  return problems;
}

/** The socket is root on the node: only the socket proxies mount it, read-only, and serve their policy from it. */
function checkDockerSocket(stack: StackSpec): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    const socket = (service.volumes ?? []).filter((v) => v.source === DOCKER_SOCKET || v.target === DOCKER_SOCKET);
    if (socket.length === 0) continue;
    if (parseImage(service.image ?? '').name !== SOCKET_PROXY_IMAGE) {
      problems.push(
        `service ${name}: mounts the Docker socket; only ${SOCKET_PROXY_IMAGE} may (reach Docker through it)`,
      );
    } else if (socket.some((volume) => !volume.read_only)) {
      problems.push(`service ${name}: mounts the Docker socket writable; read_only: true (the policy decides)`);
    }
  }
  return problems;
}

/** CONTAINER_EXCEPTIONS' rules: capabilities dropped, a read-only root, a PIDs limit. */
function checkContainers(stack: StackSpec): string[] {
  const problems: string[] = [];
  const { capabilities, defaultCapabilities, writableRoot } = CONTAINER_EXCEPTIONS;
  for (const [name, service] of Object.entries(stack.services)) {
    const problem = (text: string) => problems.push(`service ${name}: ${text}`);
    const kind = catalogueService(name);
    if (!defaultCapabilities[kind]) {
      if (!(service.cap_drop ?? []).includes('ALL')) problem('cap_drop: [ALL] (add back only what it needs)');
      const allowed = capabilities[kind] ?? [];
      const extra = (service.cap_add ?? []).filter((cap) => !allowed.includes(cap));
      if (extra.length > 0) {
        problem(`adds ${extra.join(', ')}; allowed: ${allowed.join(', ') || 'none'} (CONTAINER_EXCEPTIONS)`);
      }
    }
    if (!writableRoot[kind] && service.read_only !== true) {
      problem('read_only: true (a tmpfs for what it writes), or a reason in CONTAINER_EXCEPTIONS.writableRoot');
    }
    if (!((service.deploy?.resources?.limits?.pids ?? 0) > 0)) problem('needs deploy.resources.limits.pids');
  }
  return problems;
}

function checkRolling(stack: StackSpec): string[] {
  const problems: string[] = [];
  for (const name of ROLLING_SERVICES) {
    const deploy = stack.services[name]?.deploy;
    if (!deploy) continue;
    const update = deploy.update_config ?? {};
    const problem = (text: string) => problems.push(`service ${name}: ${text}`);
    if (update.order !== 'start-first') problem('update_config.order must be start-first (zero downtime)');
    if (update.failure_action !== 'rollback') problem('update_config.failure_action must be rollback');
    if (update.parallelism !== 1) problem('update_config.parallelism must be 1');
    if (seconds(update.monitor) <= 0) problem('update_config.monitor must be set');
    if (!deploy.rollback_config) problem('needs a rollback_config');
  }
  return problems;
}

/** The service's role in the secret catalogue: postgres1 → postgres. */
// postgres1 → postgres; api-next (a blue/green release's candidate, scripts/lib/bluegreen.ts) → api.
const catalogueService = (service: string) => service.replace(/\d+$/, '').replace(/-next$/, '');

/** Objects deploy makes itself from a derived content (lab-swarm.ts), named by that content's hash; their users. */
export const DEPLOY_MADE_SECRETS: Readonly<Record<string, readonly string[]>> = {
  slack_webhook_url: ['alertmanager'],
  // The host's client certificate for node1's Docker API (lab-node-tls.ts): the lab-docker-tls credential.
  ...Object.fromEntries(Object.keys(DOCKER_CLIENT_SECRETS).map((name) => [name, ['jenkins']])),
  // What the pipeline deploys with (lab-state.ts): every secret of the lab, so Jenkins alone.
  lab_state: ['jenkins'],
};
export const DEPLOY_MADE_CONFIGS: ReadonlySet<string> = new Set(['alertmanager_config']);

function checkSecrets(stack: StackSpec, context: PolicyContext): string[] {
  const problems: string[] = [];
  for (const [key, secret] of Object.entries(stack.secrets ?? {})) {
    if (Object.hasOwn(DEPLOY_MADE_SECRETS, key)) {
      if (secret.external !== true || !new RegExp(`^${STACK}_${key}_[0-9a-f]{12}$`).test(secret.name ?? '')) {
        problems.push(`secret ${key}: must be external, named ${STACK}_${key}_<hash> (made by deploy)`);
      }
      continue;
    }
    if (!Object.hasOwn(context.secretUsers, key)) {
      problems.push(`secret ${key}: not in the catalogue (scripts/lib/lab-secrets.ts)`);
    }
    if (secret.external !== true || !new RegExp(`^${STACK}_${key}_v\\d+$`).test(secret.name ?? '')) {
      problems.push(`secret ${key}: must be external, named ${STACK}_${key}_v<version> (made by npm run secrets)`);
    }
  }
  for (const [name, service] of Object.entries(stack.services)) {
    for (const { source } of service.secrets ?? []) {
      const users = context.secretUsers[source] ?? DEPLOY_MADE_SECRETS[source];
      if (!stack.secrets?.[source]) problems.push(`service ${name}: secret ${source} is not declared in secrets:`);
      if (users && !users.includes(catalogueService(name))) {
        problems.push(`service ${name}: mounts ${source}, which the catalogue gives only to ${users.join(', ')}`);
      }
    }
  }
  return problems;
}

function checkConfigs(stack: StackSpec, context: PolicyContext): string[] {
  const problems: string[] = [];
  for (const [key, config] of Object.entries(stack.configs ?? {})) {
    if (DEPLOY_MADE_CONFIGS.has(key)) {
      if (
        !(config as { external?: boolean }).external ||
        !new RegExp(`^${STACK}_${key}_[0-9a-f]{12}$`).test(config.name ?? '')
      ) {
        problems.push(`config ${key}: must be external, named ${STACK}_${key}_<hash> (made by deploy)`);
      }
      continue;
    }
    if (!config.file) {
      problems.push(`config ${key}: must be made from a file of the repository`);
      continue;
    }
    let expected: string;
    try {
      expected = `${STACK}_${key}_${context.hashFile(config.file)}`;
    } catch {
      problems.push(`config ${key}: cannot read ${config.file}`);
      continue;
    }
    if (config.name !== expected) {
      problems.push(`config ${key}: named ${config.name}, not ${expected} (its content hash, so a change rolls)`);
    }
  }
  return problems;
}

/** A middleware or service reference: name@provider. */
function reference(value: string): { name: string; provider: string | undefined } {
  const at = value.lastIndexOf('@');
  return at < 0 ? { name: value, provider: undefined } : { name: value.slice(0, at), provider: value.slice(at + 1) };
}

function checkTraefikLabels(stack: StackSpec, context: PolicyContext): string[] {
  const problems: string[] = [];
  const converted = new Map<string, LabelConversion>();
  for (const [name, service] of Object.entries(stack.services)) {
    if (Object.keys(service.labels ?? {}).some((key) => key.startsWith('traefik.'))) {
      problems.push(`service ${name}: Traefik labels under labels: are container labels; put them in deploy.labels`);
    }
    const conversion = labelsToDynamic(service.deploy?.labels ?? {}, context.traefikKeys);
    converted.set(name, conversion);
    problems.push(...conversion.problems.map((text) => `service ${name}: ${text}`));
  }

  // Names live in one namespace (@swarm) for the whole stack: defined once, usable from any service.
  const defined = { routers: new Map<string, string>(), services: new Map(), middlewares: new Map() };
  for (const [name, { config }] of converted) {
    for (const kind of ['routers', 'services', 'middlewares'] as const) {
      for (const item of Object.keys(config.http?.[kind] ?? {})) {
        const owner = defined[kind].get(item);
        if (owner) problems.push(`service ${name}: Traefik ${kind} ${item} is already defined by ${owner}`);
        else defined[kind].set(item, name);
      }
    }
  }

  for (const [name, { enabled, config }] of converted) {
    const problem = (text: string) => problems.push(`service ${name}: ${text}`);
    const service = stack.services[name]!;
    const hasConfig = Object.keys(config).length > 0;
    if (hasConfig && enabled !== true) problem('Traefik labels without traefik.enable=true are ignored');
    // Traefik reaches a service on the network its label names (the provider's default: edge).
    const routedOn = (service.deploy?.labels?.['traefik.swarm.network'] ?? `${STACK}_${EDGE_NETWORK}`).replace(
      `${STACK}_`,
      '',
    );
    if (enabled && !Object.hasOwn(service.networks ?? {}, routedOn)) {
      problem(`routed by Traefik on the ${routedOn} network but not on it`);
    }
    if (enabled && !Object.hasOwn(stack.services[INGRESS_SERVICE]?.networks ?? {}, routedOn)) {
      problem(`routed by Traefik on the ${routedOn} network, which ${INGRESS_SERVICE} is not on`);
    }
    if (!hasConfig) continue;
    for (const error of context.validateDynamic(config)) problem(`Traefik labels: ${error}`);

    const ownServices = Object.keys(config.http?.services ?? {});
    for (const [router, spec] of Object.entries(config.http?.routers ?? {})) {
      const where = `router ${router}`;
      const entryPoints = spec.entryPoints as string[] | undefined;
      if (entryPoints?.length !== 1 || entryPoints[0] !== ROUTER_ENTRY_POINT) {
        problem(`${where}: entryPoints must be ${ROUTER_ENTRY_POINT} only`);
      }
      if (typeof spec.tls !== 'object' || spec.tls === null) problem(`${where}: needs tls`);
      const middlewares = (spec.middlewares as string[] | undefined) ?? [];
      for (const middleware of middlewares) {
        const { name: item, provider } = reference(middleware);
        const exists =
          provider === 'file'
            ? context.fileMiddlewares.has(item)
            : (provider === undefined || provider === 'swarm') && defined.middlewares.has(item);
        if (!exists) problem(`${where}: middleware ${middleware} is not defined (traefik/dynamic or labels)`);
      }
      const target = spec.service as string | undefined;
      if (target === undefined) {
        if (ownServices.length !== 1) problem(`${where}: names no service`);
      } else {
        const { name: item, provider } = reference(target);
        const exists =
          provider === 'internal'
            ? INTERNAL_SERVICES.has(target)
            : (provider === undefined || provider === 'swarm') && defined.services.has(item);
        if (!exists) problem(`${where}: service ${target} is not defined`);
      }
      const ops = OPS_HOST.test(String(spec.rule ?? '')) || OPS_INTERNAL_SERVICES.has(target ?? '');
      if (ops && !middlewares.includes(OPS_AUTH)) problem(`${where}: an operations UI needs ${OPS_AUTH}`);
      const ownLogin = OWN_LOGIN_HOST.exec(String(spec.rule ?? ''))?.[1];
      if (ownLogin && middlewares.includes(OPS_AUTH)) {
        problem(`${where}: ${ownLogin} has its own login (${OWN_LOGIN_UIS[ownLogin]}): no ${OPS_AUTH}`);
      }
    }
  }
  return problems;
}
