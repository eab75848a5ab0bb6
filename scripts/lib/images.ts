// The lab's images: the catalogue (what is built, from which Dockerfile and context, how each is smoke-tested),
// building and tagging. The base images come from base-images.ts; an image FROM an official upstream image that
// cannot be pulled here is not built (officialBaseMissing). See docs/images.md.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { $ } from 'zx';
import { StopError } from './cli.js';
import { step } from './log.js';
import { imageId, imageSize, runWithProgress } from './docker.js';
import { REPO_ROOT as ROOT } from './paths.js';
import { htpasswdLine } from './registry-auth.js';

const q = $({ quiet: true, cwd: ROOT });

// ---------------------------------------------------------------------------------------------------------------
// Building: every project image, tagged swarmlab/<name>:<git-sha> and :latest-local, OCI labels from build args.

export const LOCAL_TAG = 'latest-local';
export const BUILD_LOG_DIR = path.join(ROOT, 'reports/images');

export interface BuildInfo {
  /** The commit (GIT_SHA, else git rev-parse HEAD, else "unknown"). */
  sha: string;
  /** The image tag: the first 12 characters of the commit, "-dirty" when tracked files have changes. */
  tag: string;
  buildDate: string;
  version: string;
  /** `git remote get-url origin`, without credentials; empty without a remote. */
  sourceUrl: string;
  /** PEM of the CAs this host adds to Debian's (a TLS-inspecting proxy's), for npm inside builds; often empty. */
  extraCaCerts: string;
}

/** EXTRA_CA_CERTS_FILE, else the certificates of /usr/local/share/ca-certificates (Debian's place for local CAs). */
async function extraCaCerts(): Promise<string> {
  const dir = '/usr/local/share/ca-certificates';
  const files = process.env.EXTRA_CA_CERTS_FILE
    ? [process.env.EXTRA_CA_CERTS_FILE]
    : (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]))
        .filter((name) => name.endsWith('.crt'))
        .sort()
        .map((name) => path.join(dir, name));
  const pems = await Promise.all(files.map((file) => fs.readFile(file, 'utf8')));
  const bundle = pems.map((pem) => pem.trim()).join('\n');
  // A build argument travels on the command line (at most 128 KiB): a whole CA bundle does not belong here.
  if (bundle.length > 100_000)
    throw new StopError(`${files.join(', ')}: over 100 kB of certificates; give only the extra CAs.`);
  return bundle;
}

/** What every build of this checkout is tagged and labelled with. */
export async function buildInfo(): Promise<BuildInfo> {
  const git = async (args: string[]) => {
    const result = await q`git ${args}`.nothrow();
    return result.exitCode === 0 ? result.stdout.trim() : undefined;
  };
  const sha = process.env.GIT_SHA || (await git(['rev-parse', 'HEAD'])) || 'unknown';
  const dirty = Boolean(await git(['status', '--porcelain', '--untracked-files=no']));
  const origin = (await git(['remote', 'get-url', 'origin'])) ?? '';
  const packageJson = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    sha,
    tag: sha === 'unknown' ? 'local' : `${sha.slice(0, 12)}${dirty && !process.env.GIT_SHA ? '-dirty' : ''}`,
    buildDate: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    version: packageJson.version,
    extraCaCerts: await extraCaCerts(),
    // git@host:org/repo.git → https://host/org/repo.git; https://user:token@host/... → https://host/...
    sourceUrl: origin.replace(/^[\w.-]+@([^:/]+):(?!\/)/, 'https://$1/').replace(/^(\w+:\/\/)[^/@]*@/, '$1'),
  };
}

export interface BuildResult {
  name: string;
  ref: string;
  sizeBytes: number;
  ms: number;
}

/** The build arguments every image may declare (the OCI labels', and the extra CAs for npm). */
export function buildArgValues(info: BuildInfo): Record<string, string> {
  return {
    GIT_SHA: info.sha,
    BUILD_DATE: info.buildDate,
    VERSION: info.version,
    SOURCE_URL: info.sourceUrl || 'unknown',
    EXTRA_CA_CERTS: info.extraCaCerts,
  };
}

/** Builds one image; passes the build args its Dockerfile declares; the full output goes to reports/images/. */
export async function buildImage(
  spec: Pick<ImageSpec, 'name' | 'dockerfile' | 'context'>,
  info: BuildInfo,
  options: { noCache?: boolean } = {},
) {
  const started = performance.now();
  const dockerfile = path.join(ROOT, spec.dockerfile);
  const values = buildArgValues(info);
  const declared = new Set([...(await fs.readFile(dockerfile, 'utf8')).matchAll(/^ARG\s+(\w+)/gm)].map((m) => m[1]));
  const buildArgs = Object.entries(values)
    .filter(([name]) => declared.has(name))
    .flatMap(([name, value]) => ['--build-arg', `${name}=${value}`]);
  const ref = imageRef(spec.name, info.tag);
  const tags = ['--tag', ref, '--tag', imageRef(spec.name, LOCAL_TAG)];
  const cache = options.noCache ? ['--no-cache'] : [];
  await fs.mkdir(BUILD_LOG_DIR, { recursive: true });
  await runWithProgress(
    `build ${spec.name}`,
    q`docker build --force-rm --file ${dockerfile} ${tags} ${buildArgs} ${cache} ${path.join(ROOT, spec.context)}`,
    path.join(BUILD_LOG_DIR, `${spec.name}.build.log`),
  );
  return { name: spec.name, ref, sizeBytes: await imageSize(ref), ms: performance.now() - started };
}

export const imageRef = (name: string, tag: string) => `swarmlab/${name}:${tag}`;

/** Builds the images one after the other (each a named step with progress); stops at the first failure. */
export async function buildImages(specs: ImageSpec[], info: BuildInfo, options: { noCache?: boolean } = {}) {
  const results: BuildResult[] = [];
  for (const spec of specs) {
    results.push(await step(`build ${imageRef(spec.name, info.tag)}`, () => buildImage(spec, info, options)));
  }
  return results;
}

/** The images a Dockerfile starts FROM (not its own earlier stages), in order. */
export async function dockerfileBases(dockerfile: string): Promise<string[]> {
  const text = await fs.readFile(path.join(ROOT, dockerfile), 'utf8');
  const bases: string[] = [];
  const stages = new Set<string>();
  for (const match of text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)) {
    if (!stages.has(match[1]!) && !bases.includes(match[1]!)) bases.push(match[1]!); // FROM <a stage> is no image
    if (match[2]) stages.add(match[2]);
  }
  return bases;
}

/**
 * The base images must exist: they come from images:seed (or a registry). An official base (ImageSpec.officialBase)
 * is not required here: officialBaseMissing decides whether its image is built at all.
 */
export async function requireBaseImages(specs: Pick<ImageSpec, 'dockerfile' | 'officialBase'>[]) {
  const needed = new Set<string>();
  for (const spec of specs) {
    for (const base of await dockerfileBases(spec.dockerfile)) if (base !== spec.officialBase) needed.add(base);
  }
  const missing: string[] = [];
  for (const ref of needed) if (!(await imageId(ref))) missing.push(ref);
  if (missing.length > 0) {
    throw new StopError(`Base image(s) missing: ${missing.join(', ')}. Make them with: npm run images:seed`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Official bases: an image built FROM an official upstream image (Jenkins) needs that image, which images:seed cannot
// make. Where it is neither on the engine nor pullable (no Docker Hub, as here), the image is not built: images:build
// and test:images say so (and do not count it as built or passed), and deploy skips it.

/** `docker pull` fails at once without a registry; a firewall that drops packets would make it hang: cut it. */
const PULL_TIMEOUT = '30s';

/** Whether `ref` is on this engine, or can be pulled from its registry (within 30 s). */
export async function imageObtainable(ref: string): Promise<boolean> {
  if (await imageId(ref)) return true;
  const pulled = await q`docker pull ${ref}`.nothrow().timeout(PULL_TIMEOUT);
  return pulled.exitCode === 0;
}

/**
 * The catalogue images among `names` whose official base cannot be obtained here (neither present nor pullable), in
 * catalogue order: the images not to build. Each base is probed once; names without an official base, or not in the
 * catalogue, are never in the result.
 */
export async function officialBaseMissing(
  names: readonly string[],
  obtainable: (ref: string) => Promise<boolean> = imageObtainable,
): Promise<string[]> {
  const probes = new Map<string, Promise<boolean>>();
  const missing: string[] = [];
  for (const spec of IMAGES) {
    if (!spec.officialBase || !names.includes(spec.name)) continue;
    if (!probes.has(spec.officialBase)) probes.set(spec.officialBase, obtainable(spec.officialBase));
    if (!(await probes.get(spec.officialBase))) missing.push(spec.name);
  }
  return missing;
}

/** What images:build and test:images print for an image they do not build. */
export function notBuiltNote(spec: Pick<ImageSpec, 'officialBase' | 'configTest'>): string {
  const checked = spec.configTest ? `checked as configuration only (${spec.configTest})` : 'not checked here';
  return `not built: its base ${spec.officialBase} cannot be pulled here (official image); ${checked}`;
}

/** The specs split into those to build and those whose official base cannot be obtained here. */
export async function splitBuildable(
  specs: ImageSpec[],
  obtainable?: (ref: string) => Promise<boolean>,
): Promise<{ build: ImageSpec[]; notBuilt: ImageSpec[] }> {
  const missing = new Set(
    await officialBaseMissing(
      specs.map((spec) => spec.name),
      obtainable,
    ),
  );
  return {
    build: specs.filter((spec) => !missing.has(spec.name)),
    notBuilt: specs.filter((spec) => missing.has(spec.name)),
  };
}

/** The specs with the images their smoke checks need, in catalogue order. */
export const withNeeds = (specs: ImageSpec[]) =>
  IMAGES.filter((spec) => specs.some((wanted) => wanted === spec || wanted.needs?.includes(spec.name)));

/** The catalogue entries named by --only (comma-separated), in catalogue order; all without it. */
export function selectImages(only: string | undefined): ImageSpec[] {
  if (!only) return IMAGES;
  const names = only
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !IMAGES.some((spec) => spec.name === name));
  if (unknown.length > 0 || names.length === 0) {
    throw new StopError(
      `--only: unknown image(s) ${unknown.join(', ') || '(none given)'}. Images: ${IMAGES.map((s) => s.name).join(', ')}`,
    );
  }
  return IMAGES.filter((spec) => names.includes(spec.name));
}

// ---------------------------------------------------------------------------------------------------------------
// Smoke checks: each image started in containers on a throwaway bridge network (scripts/test-images.ts).

export interface ContainerSpec {
  /** Short name: the container's host name and network alias. */
  name: string;
  /** A full image reference (ctx.ref(name) for an image under test). */
  image: string;
  env?: Record<string, string>;
  /** Files put in /run/secrets/<name> (mode 644) before the container starts, as Docker secrets would be. */
  secrets?: Record<string, string>;
  /** docker run -v values. */
  mounts?: string[];
  command?: string[];
}

export interface SmokeContext {
  /** The subnet of the test network (for pg_hba). */
  subnet: string;
  /** The reference of a catalogue image under test. */
  ref(name: string): string;
  /** Creates the container on the test network, copies its secrets in, starts it; returns its container name. */
  start(spec: ContainerSpec): Promise<string>;
  /** Runs a container to its end; throws with its last output lines when it exits non-zero. */
  runToEnd(spec: ContainerSpec, timeoutMs?: number): Promise<string>;
  /** Waits for the container's healthcheck to pass; throws when it turns unhealthy, exits or times out. */
  waitHealthy(container: string, timeoutMs?: number): Promise<void>;
  /** An HTTP request from a container on the test network. */
  http(
    method: string,
    url: string,
    body?: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: string }>;
  /** Runs `make` once per key; later calls share its result (fixtures several checks use). */
  once<T>(key: string, make: () => Promise<T>): Promise<T>;
}

export interface ImageSpec {
  name: string;
  /** Relative to the repository root, as is the context. */
  dockerfile: string;
  context: string;
  /** Other images the smoke check starts (built with this one by test:images --only). */
  needs?: string[];
  /**
   * The official upstream image the Dockerfile starts FROM, which images:seed cannot make (it comes from Docker Hub
   * only). Where it cannot be obtained, the image is not built (officialBaseMissing).
   */
  officialBase?: string;
  /** The test that checks the image's configuration where it cannot be built (with officialBase). */
  configTest?: string;
  /** The smoke check's time limit, when it needs more than test:images' default (3 minutes). */
  smokeTimeoutMs?: number;
  /** Starts the image and proves it works; returns what was checked, in a few words. */
  smoke: (ctx: SmokeContext) => Promise<string>;
}

/** Sends one mail to the mail sink as Alertmanager would: plain SMTP, no TLS (nodemailer ships in the image). */
const MAILSINK_SMOKE_SEND = `
import nodemailer from 'nodemailer';
const transport = nodemailer.createTransport({ host: 'mailsink', port: 1025, secure: false, ignoreTLS: true });
const info = await transport.sendMail({ from: 'alertmanager@lab.localhost', to: 'ops@lab.localhost', subject: 'swarmlab-smoke', text: 'smoke' });
console.log(info.response);
`;

/** The password of every smoke check's basic auth (monitoring/web-auth), as a secret's file would hold it. */
const SMOKE_WEB_PASSWORD = randomBytes(16).toString('hex');
/** Prometheus, Alertmanager or the Pushgateway as the stack runs them: user `image`, its password in `<image>_password`. */
const withWebAuth = (
  ctx: SmokeContext,
  image: 'prometheus' | 'alertmanager' | 'pushgateway',
  name: string = image,
): ContainerSpec => ({
  name,
  image: ctx.ref(image),
  env: { WEB_AUTH_USER: image, WEB_AUTH_PASSWORD_FILE: `/run/secrets/${image}_password` },
  secrets: { [`${image}_password`]: SMOKE_WEB_PASSWORD },
});
const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Without a password, or with a wrong one, `url` answers 401; with the image's user and password, `status`. */
async function expectBasicAuth(ctx: SmokeContext, user: string, url: string, status: number, body?: RegExp) {
  await expectHttp(ctx, 'GET', url, 401);
  await expectHttp(ctx, 'GET', url, 401, undefined, { authorization: basicAuth(user, 'not-the-password') });
  await expectHttp(ctx, 'GET', url, status, body, { authorization: basicAuth(user, SMOKE_WEB_PASSWORD) });
}

/** A throwaway self-signed certificate and key (PEM) for `commonName`, server and client. */
async function selfSignedCert(commonName: string, dns: string[]): Promise<{ cert: string; key: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlab-smoke-tls-'));
  try {
    const ext = `subjectAltName=${dns.map((name) => `DNS:${name}`).join(',')}`;
    await q`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj ${`/CN=${commonName}`} -addext ${ext} -addext extendedKeyUsage=serverAuth,clientAuth -keyout ${path.join(dir, 'key.pem')} -out ${path.join(dir, 'cert.pem')}`;
    const [cert, key] = await Promise.all(['cert.pem', 'key.pem'].map((f) => fs.readFile(path.join(dir, f), 'utf8')));
    return { cert: cert!, key: key! };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Fails with `message` unless `ok`. */
function expect(ok: boolean, message: string) {
  if (!ok) throw new Error(message);
}

async function expectHttp(
  ctx: SmokeContext,
  method: string,
  url: string,
  status: number,
  body?: RegExp,
  headers?: Record<string, string>,
) {
  const response = await ctx.http(method, url, '', headers);
  expect(
    response.status === status && (!body || body.test(response.body)),
    `${method} ${url}: expected ${status}${body ? ` and a body matching ${body}` : ''}, got ${response.status} ${response.body.slice(0, 200)}`,
  );
}

/** Retries `check` every second until it passes or `timeoutMs` is over (then throws its last error). */
async function eventually(check: () => Promise<void>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

const PG_SECRETS = [
  'PG_SUPERUSER_PASSWORD',
  'PG_REPLICATION_PASSWORD',
  'PG_REWIND_PASSWORD',
  'PATRONI_RESTAPI_PASSWORD',
  'MIGRATOR_PASSWORD',
  'APP_PASSWORD',
  'READONLY_PASSWORD',
  'BACKUP_PASSWORD',
  'MONITORING_PASSWORD',
] as const;
type PgPasswords = Record<(typeof PG_SECRETS)[number], string>;

/** One etcd member: etcd:2379. */
const etcdFixture = (ctx: SmokeContext) =>
  ctx.once('etcd', async () => {
    const etcd = await ctx.start({
      name: 'etcd',
      image: ctx.ref('etcd'),
      env: { ETCD_INITIAL_CLUSTER: 'etcd=http://etcd:2380' },
    });
    await ctx.waitHealthy(etcd);
    return 'etcd:2379';
  });

/** A one-member Patroni cluster on that etcd: leader pg1, the lab's roles made by post-bootstrap. */
const databaseFixture = (ctx: SmokeContext) =>
  ctx.once('database', async () => {
    const etcd = await etcdFixture(ctx);
    const passwords = Object.fromEntries(
      PG_SECRETS.map((name) => [name, randomBytes(18).toString('hex')]),
    ) as PgPasswords;
    const pg = await ctx.start({
      name: 'pg1',
      image: ctx.ref('postgres'),
      env: {
        PATRONI_ETCD3_HOSTS: etcd,
        LAB_NETWORK: ctx.subnet,
        ...Object.fromEntries(PG_SECRETS.map((name) => [`${name}_FILE`, `/run/secrets/${name.toLowerCase()}`])),
      },
      secrets: Object.fromEntries(PG_SECRETS.map((name) => [name.toLowerCase(), passwords[name]])),
    });
    await ctx.waitHealthy(pg, 120_000);
    return { host: 'pg1', passwords };
  });

/** The db-router in front of pg1 (member2 named but absent, as while a replica is down). */
const routerFixture = (ctx: SmokeContext) =>
  ctx.once('db-router', async () => {
    const database = await databaseFixture(ctx);
    const router = await ctx.start({
      name: 'db-router',
      image: ctx.ref('db-router'),
      env: { PG_MEMBER1_HOST: database.host, PG_MEMBER2_HOST: 'pg2' },
    });
    await ctx.waitHealthy(router);
    // The leader backend marks pg1 UP after two successful checks of Patroni's /primary.
    await eventually(async () => {
      const stats = await ctx.http('GET', 'http://db-router:8404/stats;csv');
      const member1 = stats.body.split('\n').find((line) => line.startsWith('leader,member1,'));
      expect(
        member1?.split(',')[17] === 'UP',
        `db-router: leader/member1 is not UP: ${member1 ?? stats.body.slice(0, 200)}`,
      );
    });
    return { ...database, host: 'db-router' };
  });

/** Every image the project builds, in build (and smoke-check) order: what others need comes first. */
export const IMAGES: ImageSpec[] = [
  {
    name: 'etcd',
    dockerfile: 'postgres/etcd/Dockerfile',
    context: 'postgres/etcd',
    smoke: async (ctx) => {
      await etcdFixture(ctx);
      // Healthy means serving; a leader is seen once the one-member cluster has elected itself.
      await eventually(() => expectHttp(ctx, 'GET', 'http://etcd:2379/health', 200, /"health":"true"/));
      return 'healthy, /health true';
    },
  },
  {
    name: 'postgres',
    dockerfile: 'postgres/Dockerfile',
    context: 'postgres',
    needs: ['etcd', 'backup'],
    smoke: async (ctx) => {
      const { passwords } = await databaseFixture(ctx);
      await expectHttp(ctx, 'GET', 'http://pg1:8008/primary', 200);
      // From another container of the network (psql of the backup image): a role with its password gets in; the
      // superuser, with the right password, is refused by pg_hba (it logs in only inside its member's container).
      const login = (user: string, password: string) =>
        ctx.runToEnd({
          name: `psql-${user}`,
          image: ctx.ref('backup'),
          env: { PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' },
          command: ['bash', '-c', `psql -XAt -h pg1 -U ${user} -d postgres -c 'SELECT 1' 2>&1; echo "exit $?"`],
        });
      const monitoring = await login('monitoring', passwords.MONITORING_PASSWORD);
      expect(/^1\nexit 0/.test(monitoring), `monitoring, with its password, from the network: ${monitoring}`);
      const superuser = await login('postgres', passwords.PG_SUPERUSER_PASSWORD);
      expect(
        /pg_hba\.conf rejects connection[^\n]*user "postgres"[\s\S]*exit 2/.test(superuser),
        `the superuser, with its password, from the network: ${superuser}`,
      );
      return 'healthy, Patroni leader; superuser refused from the network, other roles in with their password';
    },
  },
  {
    name: 'backup',
    dockerfile: 'backup/Dockerfile',
    context: 'backup',
    smoke: async (ctx) => {
      // A self-signed certificate stands for the lab CA's: the TLS server must start and answer.
      const tls = await selfSignedCert('pgbackrest', ['backup']);
      const backup = await ctx.start({
        name: 'backup',
        image: ctx.ref('backup'),
        secrets: {
          backup_password: randomBytes(16).toString('hex'),
          pgbackrest_cipher_pass: randomBytes(32).toString('hex'),
          pgbackrest_tls_cert: tls.cert,
          pgbackrest_tls_key: tls.key,
          lab_ca_cert: tls.cert,
        },
      });
      await ctx.waitHealthy(backup);
      const usage = await ctx
        .runToEnd({
          name: 'backup-job',
          image: ctx.ref('backup'),
          command: ['bash', '-c', 'backup-job 2>&1; echo "exit $?"'],
        })
        .catch((error: Error) => error.message);
      expect(/usage: backup-job[\s\S]*exit 2/.test(usage), `backup-job without arguments: ${usage}`);
      return 'healthy (TLS server), backup-job usage';
    },
  },
  {
    name: 'db-router',
    dockerfile: 'postgres/db-router/Dockerfile',
    context: 'postgres/db-router',
    needs: ['etcd', 'postgres'],
    smoke: async (ctx) => {
      await routerFixture(ctx);
      return 'healthy, leader backend UP';
    },
  },
  {
    name: 'api',
    dockerfile: 'api/Dockerfile',
    context: '.',
    needs: ['etcd', 'postgres', 'db-router'],
    smoke: async (ctx) => {
      const db = await routerFixture(ctx);
      const url = (role: string, password: string) => `postgresql://${role}:${password}@${db.host}:5432/swarmlab`;
      await ctx.runToEnd({
        name: 'api-migrate',
        image: ctx.ref('api'),
        env: { MIGRATION_DATABASE_URL_FILE: '/run/secrets/migration_database_url' },
        secrets: { migration_database_url: url('migrator', db.passwords.MIGRATOR_PASSWORD) },
        command: ['node', 'dist/migrate.js'],
      });
      const api = await ctx.start({
        name: 'api',
        image: ctx.ref('api'),
        env: { DATABASE_URL_FILE: '/run/secrets/database_url', JWT_SECRET_FILE: '/run/secrets/jwt_secret' },
        secrets: {
          database_url: url('app', db.passwords.APP_PASSWORD),
          jwt_secret: randomBytes(32).toString('hex'),
        },
      });
      await ctx.waitHealthy(api);
      await expectHttp(ctx, 'GET', 'http://api:3000/healthz', 200);
      await expectHttp(ctx, 'GET', 'http://api:3000/readyz', 200);
      return 'migrated through db-router; /healthz, /readyz 200';
    },
  },
  {
    name: 'prometheus',
    dockerfile: 'monitoring/prometheus/Dockerfile',
    context: 'monitoring',
    smoke: async (ctx) => {
      // As the stack runs it: every endpoint behind basic auth, the healthcheck included.
      await ctx.waitHealthy(await ctx.start(withWebAuth(ctx, 'prometheus')));
      await expectHttp(ctx, 'GET', 'http://prometheus:9090/-/ready', 401);
      await expectBasicAuth(ctx, 'prometheus', 'http://prometheus:9090/api/v1/query?query=up', 200, /"success"/);
      return 'healthy behind basic auth; 401 without the password or with a wrong one, 200 with it';
    },
  },
  {
    name: 'remediator',
    dockerfile: 'monitoring/remediator/Dockerfile',
    context: '.',
    smoke: async (ctx) => {
      // Dry-run: no Docker socket here; decisions, audit and metrics still run.
      const remediator = await ctx.start({
        name: 'remediator',
        image: ctx.ref('remediator'),
        env: { REMEDIATOR_DRY_RUN: 'true' },
        secrets: { remediator_webhook_token: randomBytes(32).toString('hex') },
      });
      await ctx.waitHealthy(remediator);
      await expectHttp(
        ctx,
        'GET',
        'http://remediator:8080/metrics',
        200,
        /^remediation_actions_total\{action="scale_out",result="dry_run"\} 0$/m,
      );
      await expectHttp(ctx, 'POST', 'http://remediator:8080/alerts', 401, /"code":"unauthenticated"/);
      return 'healthy in dry-run; counters exported; /alerts 401 without token';
    },
  },
  {
    name: 'mailsink',
    dockerfile: 'monitoring/mailsink/Dockerfile',
    context: '.',
    smoke: async (ctx) => {
      const mailsink = await ctx.start({
        name: 'mailsink',
        image: ctx.ref('mailsink'),
        env: { MAILSINK_PASSWORD_FILE: '/run/secrets/mailsink_password' },
        secrets: { mailsink_password: SMOKE_WEB_PASSWORD },
      });
      await ctx.waitHealthy(mailsink);
      await ctx.runToEnd({
        name: 'mailsink-client',
        image: ctx.ref('mailsink'),
        command: ['node', '--input-type=module', '-e', MAILSINK_SMOKE_SEND],
      });
      await expectBasicAuth(
        ctx,
        'mailsink',
        'http://mailsink:8025/api/messages?subject=swarmlab-smoke',
        200,
        /"total":1\b/,
      );
      await expectHttp(ctx, 'GET', 'http://mailsink:8025/metrics', 200, /^mailsink_messages_received_total 1$/m);
      return 'healthy, SMTP in on 1025, listed by /api/messages for its user only';
    },
  },
  {
    name: 'reporter',
    dockerfile: 'monitoring/report/Dockerfile',
    context: '.',
    needs: ['prometheus'],
    smoke: async (ctx) => {
      const prometheus = await ctx.start(withWebAuth(ctx, 'prometheus', 'report-prometheus'));
      await ctx.waitHealthy(prometheus);
      const env = {
        PROMETHEUS_URL: 'http://report-prometheus:9090',
        PROMETHEUS_PASSWORD_FILE: '/run/secrets/prometheus_password',
      };
      const secrets = { prometheus_password: SMOKE_WEB_PASSWORD };
      const reporter = await ctx.start({ name: 'reporter', image: ctx.ref('reporter'), env, secrets });
      await ctx.waitHealthy(reporter);
      // A Prometheus with no API data yet: the CLI still makes a ("no data") report, in a second container.
      const output = await ctx.runToEnd({
        name: 'reporter-generate',
        image: ctx.ref('reporter'),
        env,
        secrets,
        command: ['node', 'dist/cli.js', 'generate', '--days', '1', '--out', '/tmp/reports'],
      });
      expect(
        /\{"dir":"\/tmp\/reports\/\d{4}-\d{2}-\d{2}","mailed":false\}/.test(output),
        `generate: expected {"dir":...,"mailed":false}, got ${output.slice(-300)}`,
      );
      await expectHttp(ctx, 'GET', 'http://reporter:8080/', 200, /swarmlab weekly reports/);
      await expectHttp(ctx, 'POST', 'http://reporter:8080/run', 405);
      return 'healthy; generate on an empty Prometheus; listing 200, POST 405';
    },
  },
  {
    name: 'alertmanager',
    dockerfile: 'monitoring/alertmanager/Dockerfile',
    context: 'monitoring',
    smoke: async (ctx) => {
      // As the stack runs it: every endpoint behind basic auth, the healthcheck included.
      await ctx.waitHealthy(await ctx.start(withWebAuth(ctx, 'alertmanager')));
      await expectBasicAuth(ctx, 'alertmanager', 'http://alertmanager:9093/api/v2/status', 200, /"cluster"/);
      const forged = await ctx.http('POST', 'http://alertmanager:9093/api/v2/alerts', '[]', {
        'content-type': 'application/json',
      });
      expect(forged.status === 401, `POST /api/v2/alerts without a password: expected 401, got ${forged.status}`);
      return 'healthy behind basic auth; 401 without the password (alerts cannot be posted), 200 with it';
    },
  },
  {
    name: 'pushgateway',
    dockerfile: 'monitoring/pushgateway/Dockerfile',
    context: 'monitoring',
    smoke: async (ctx) => {
      // As the stack runs it: every endpoint behind basic auth, the push API and the healthcheck included.
      await ctx.waitHealthy(await ctx.start(withWebAuth(ctx, 'pushgateway')));
      const url = 'http://pushgateway:9091/metrics/job/smoke';
      const forged = await ctx.http('POST', url, 'swarmlab_smoke 0\n');
      expect(forged.status === 401, `push without a password: expected 401, got ${forged.status}`);
      const authorization = basicAuth('pushgateway', SMOKE_WEB_PASSWORD);
      const pushed = await ctx.http('POST', url, 'swarmlab_smoke 1\n', { authorization });
      expect(pushed.status === 200, `push: expected 200, got ${pushed.status} ${pushed.body.slice(0, 200)}`);
      await expectBasicAuth(
        ctx,
        'pushgateway',
        'http://pushgateway:9091/metrics',
        200,
        /swarmlab_smoke\{[^}]*job="smoke"[^}]*\} 1/,
      );
      return 'healthy behind basic auth; a push without the password 401, with it 200, then scraped with it';
    },
  },
  {
    name: 'node-exporter',
    dockerfile: 'monitoring/node-exporter/Dockerfile',
    context: 'monitoring/node-exporter',
    smoke: async (ctx) => {
      await ctx.waitHealthy(await ctx.start({ name: 'node-exporter', image: ctx.ref('node-exporter') }));
      await expectHttp(ctx, 'GET', 'http://node-exporter:9100/metrics', 200, /^node_cpu_seconds_total/m);
      return 'healthy, node metrics';
    },
  },
  {
    name: 'postgres-exporter',
    dockerfile: 'monitoring/postgres-exporter/Dockerfile',
    context: 'monitoring/postgres-exporter',
    needs: ['etcd', 'postgres'],
    smoke: async (ctx) => {
      const db = await databaseFixture(ctx);
      const exporter = await ctx.start({
        name: 'postgres-exporter',
        image: ctx.ref('postgres-exporter'),
        env: {
          DATA_SOURCE_URI: `${db.host}:5432/postgres?sslmode=disable`,
          DATA_SOURCE_USER: 'monitoring',
          DATA_SOURCE_PASS_FILE: '/run/secrets/monitoring_password',
        },
        secrets: { monitoring_password: db.passwords.MONITORING_PASSWORD },
      });
      await ctx.waitHealthy(exporter);
      await expectHttp(ctx, 'GET', 'http://postgres-exporter:9187/metrics', 200, /^pg_up 1$/m);
      return 'healthy, pg_up 1 as monitoring';
    },
  },
  {
    name: 'registry',
    dockerfile: 'lab/registry/Dockerfile',
    context: 'lab/registry',
    smoke: async (ctx) => {
      // Users as node1's registry has them (registry-auth.ts): the bcrypt line this repository writes must open it.
      const registry = await ctx.start({
        name: 'registry',
        image: ctx.ref('registry'),
        env: {
          REGISTRY_AUTH: 'htpasswd',
          REGISTRY_AUTH_HTPASSWD_REALM: 'swarmlab-registry',
          REGISTRY_AUTH_HTPASSWD_PATH: '/run/secrets/htpasswd',
        },
        secrets: { htpasswd: await htpasswdLine('registry', SMOKE_WEB_PASSWORD) },
      });
      await ctx.waitHealthy(registry);
      await expectBasicAuth(ctx, 'registry', 'http://registry:5000/v2/_catalog', 200, /"repositories"/);
      return 'healthy, catalog answers its user only (bcrypt htpasswd)';
    },
  },
  {
    name: 'jenkins',
    dockerfile: 'jenkins/Dockerfile',
    context: 'jenkins',
    // The FROM of jenkins/Dockerfile (scripts/test/images.test.ts checks they match).
    officialBase: 'jenkins/jenkins:2.516.3-lts-jdk21',
    configTest: 'scripts/test/jenkins.test.ts',
    // The plugins and configuration-as-code load before /login answers: minutes on a small machine.
    smokeTimeoutMs: 420_000,
    smoke: async (ctx) => {
      // Throwaway secrets where casc.yaml reads them; a self-signed certificate stands for the lab CA and for the
      // Docker client's. No repository at /srv/git/swarmlab.git: the job's first build fails, which is fine here.
      const password = randomBytes(18).toString('hex');
      const tls = await selfSignedCert('swarmlab-operator', ['jenkins']);
      const jenkins = await ctx.start({
        name: 'jenkins',
        image: ctx.ref('jenkins'),
        secrets: {
          jenkins_admin_password: password,
          lab_ca_cert: tls.cert,
          docker_client_cert: tls.cert,
          docker_client_key: tls.key,
        },
      });
      await ctx.waitHealthy(jenkins, 400_000);
      const base = 'http://jenkins:8080';
      // Anonymous users may not even read (casc.yaml): refused. /whoAmI is open to all, and says who is asking.
      const anonymous = await ctx.http('GET', `${base}/api/json`);
      expect(
        anonymous.status === 401 || anonymous.status === 403,
        `GET /api/json without a login: expected 401 or 403, got ${anonymous.status}`,
      );
      await expectHttp(ctx, 'GET', `${base}/whoAmI/api/json`, 200, /"anonymous":true/);
      const admin = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
      await expectHttp(ctx, 'GET', `${base}/whoAmI/api/json`, 200, /"name":"admin"/, admin);
      await expectHttp(ctx, 'GET', `${base}/job/swarmlab/api/json`, 200, /"name":"swarmlab"/, admin);
      return 'healthy; anonymous refused, admin logs in; job swarmlab seeded';
    },
  },
  {
    name: 'docker-socket-proxy',
    dockerfile: 'traefik/socket-proxy/Dockerfile',
    context: 'traefik/socket-proxy',
    smoke: async (ctx) => {
      const proxy = await ctx.start({
        name: 'docker-socket-proxy',
        image: ctx.ref('docker-socket-proxy'),
        mounts: ['/var/run/docker.sock:/var/run/docker.sock:ro'],
      });
      await ctx.waitHealthy(proxy);
      const base = 'http://docker-socket-proxy:2375';
      await expectHttp(ctx, 'GET', `${base}/version`, 200, /"ApiVersion"/);
      await expectHttp(ctx, 'GET', `${base}/v1.41/networks`, 200, /"Name"/);
      await expectHttp(ctx, 'POST', `${base}/containers/create`, 403);
      await expectHttp(ctx, 'POST', `${base}/v1.41/services/create`, 403);
      await expectHttp(ctx, 'DELETE', `${base}/v1.41/networks/bridge`, 403);
      await expectHttp(ctx, 'GET', `${base}/containers/json`, 403);
      // The remediator's policy (PROXY_POLICY=remediator): its actions' calls only.
      const remediatorProxy = await ctx.start({
        name: 'remediator-socket-proxy',
        image: ctx.ref('docker-socket-proxy'),
        env: { PROXY_POLICY: 'remediator' },
        mounts: ['/var/run/docker.sock:/var/run/docker.sock:ro'],
      });
      await ctx.waitHealthy(remediatorProxy);
      const remediatorBase = 'http://remediator-socket-proxy:2375';
      await expectHttp(ctx, 'GET', `${remediatorBase}/containers/json`, 200, /^\[/);
      await expectHttp(ctx, 'GET', `${remediatorBase}/version`, 403);
      await expectHttp(ctx, 'GET', `${remediatorBase}/services`, 403);
      await expectHttp(ctx, 'POST', `${remediatorBase}/containers/create`, 403);
      return 'traefik policy: GET /version 200; POST, DELETE, /containers 403. remediator policy: /containers/json 200, /version, /services 403';
    },
  },
];
