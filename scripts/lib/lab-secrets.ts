// The lab's secrets in one place: what each one is, how it is made, which services use it, where it is kept.
// `npm run secrets` (and deploy) call ensureLabSecrets(); deploy names Docker secrets with dockerSecretName()
// and mounts secretsFor(service). Everything lives under LAB_DIR (default <repo>/.lab): folders 700, files 600.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { $ } from 'zx';
import { StopError } from './cli.js';
import {
  certProblem,
  inspectCa,
  labCaPermitted,
  PGBACKREST_SUBJECT,
  stageCert,
  requireOpenssl,
  serverCertProblem,
  serverNames,
  stageCa,
  stageServerCert,
  type TlsFiles,
} from './lab-tls.js';
import {
  ensurePrivateDir,
  modeOf,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  readIfExists,
  Staging,
} from './private-files.js';
import { REPO_ROOT } from './paths.js';

export const STACK = 'swarmlab';
export const DATABASE = 'swarmlab';

/** The stack's services that mount secrets (their names in docker-compose.yml). */
export const SERVICES = [
  'api',
  'migrate',
  'postgres',
  'postgres-exporter',
  'backup',
  'traefik',
  'grafana',
  'prometheus',
  'reporter',
  'jenkins',
  'alertmanager',
  'pushgateway',
  'remediator',
  'mailsink',
] as const;
export type Service = (typeof SERVICES)[number];

type Spec = { services: readonly Service[]; about: string } & (
  | { kind: 'password' | 'key'; bytes: number }
  | { kind: 'htpasswd'; user: string }
  | { kind: 'url'; user: string; from: string; host: string; port: number }
  | { kind: 'tls'; part: TlsPart }
);
type TlsPart = 'ca' | 'cert' | 'key' | 'pgbackrest-cert' | 'pgbackrest-key';

const password = (services: Service[], about: string) => ({ kind: 'password', bytes: 32, services, about }) as const;
const key = (bytes: number, services: Service[], about: string) => ({ kind: 'key', bytes, services, about }) as const;
const url = (user: string, from: string, host: string, port: number, services: Service[], about: string) =>
  ({ kind: 'url', user, from, host, port, services, about }) as const;
const tls = (part: TlsPart, services: Service[], about: string) => ({ kind: 'tls', part, services, about }) as const;

/** Every secret of the lab. A `url` is built from the password it names (which comes earlier in this list). */
export const CATALOGUE = {
  pg_superuser_password: password(['postgres'], 'PostgreSQL superuser (postgres), used by Patroni'),
  pg_replication_password: password(['postgres'], 'replication role: streaming replicas'),
  pg_rewind_password: password(['postgres'], 'rewind role: pg_rewind of a former leader'),
  patroni_restapi_password: password(['postgres'], "Patroni REST API's changing calls (switchover, restart)"),
  migrator_password: password(['postgres'], 'migrator role (DDL)'),
  app_password: password(['postgres'], "app role (the API's DML)"),
  readonly_password: password(['postgres'], 'readonly role'),
  backup_password: password(['postgres', 'backup'], 'backup role: pgBackRest and pg_dump'),
  monitoring_password: password(['postgres', 'postgres-exporter'], 'monitoring role: postgres-exporter'),
  jwt_secret: key(64, ['api'], "signs the API's tokens"),
  admin_password: password(['api'], "the API's first admin (admin@lab.localhost)"),
  grafana_admin_password: password(['grafana'], 'Grafana admin'),
  prometheus_password: password(
    ['prometheus', 'grafana', 'reporter'],
    "Prometheus' API and UI (user prometheus): its datasource in Grafana, the weekly report",
  ),
  alertmanager_password: password(
    ['alertmanager', 'prometheus', 'grafana'],
    "Alertmanager's API and UI (user alertmanager): Prometheus sends the alerts with it, Grafana reads them",
  ),
  pushgateway_password: password(
    ['pushgateway', 'prometheus', 'backup'],
    "the Pushgateway's API (user pushgateway): the backup jobs push with it, Prometheus scrapes with it",
  ),
  mailsink_password: password(['mailsink'], "the mail sink's pages and API (user mailsink)"),
  jenkins_admin_password: password(['jenkins'], 'Jenkins admin'),
  registry_password: password(
    [],
    "the lab registry's user swarmlab: deploy pushes with it and hands it to the swarm, whose nodes pull with it",
  ),
  ops_basic_auth: {
    kind: 'htpasswd',
    user: 'admin',
    services: ['traefik'],
    about: "htpasswd line for the ops UIs' basic auth; the clear password is in ops_basic_auth.password",
  },
  remediator_webhook_token: key(32, ['alertmanager', 'remediator'], 'bearer token Alertmanager sends the remediator'),
  pgbackrest_cipher_pass: key(48, ['postgres', 'backup'], 'encrypts the pgBackRest repository'),
  database_url: url('app', 'app_password', 'db-rw', 5432, ['api'], "the API's writes (primary)"),
  database_replica_url: url('app', 'app_password', 'db-ro', 5433, ['api'], "the API's reads (replicas)"),
  migration_database_url: url('migrator', 'migrator_password', 'db-rw', 5432, ['migrate'], 'the migration job'),
  tls_cert: tls('cert', ['traefik'], 'server certificate for *.lab.localhost (+ LAB_DOMAIN)'),
  tls_key: tls('key', ['traefik'], "the server certificate's key"),
  pgbackrest_tls_cert: tls(
    'pgbackrest-cert',
    ['postgres', 'backup'],
    "pgBackRest's TLS between repository and members",
  ),
  pgbackrest_tls_key: tls('pgbackrest-key', ['postgres', 'backup'], "the pgBackRest certificate's key"),
  lab_ca_cert: tls('ca', ['postgres', 'backup', 'jenkins'], 'the lab CA certificate: trusted by TLS peers and clients'),
} as const satisfies Record<string, Spec>;

export type SecretName = keyof typeof CATALOGUE;
export const SECRET_NAMES = Object.keys(CATALOGUE) as SecretName[];
const spec = (name: SecretName): Spec => CATALOGUE[name];

for (const [index, name] of SECRET_NAMES.entries()) {
  const entry = spec(name);
  if (entry.kind === 'url' && SECRET_NAMES.indexOf(entry.from as SecretName) >= index) {
    throw new Error(`catalogue: ${name} is built from ${entry.from}, which must come before it`);
  }
}

// --- where things are ---------------------------------------------------------------------------------------

export interface LabPaths {
  root: string;
  secrets: string;
  ca: string;
  tls: string;
  versions: string;
  readme: string;
  tlsFiles: TlsFiles;
}

/** LAB_DIR, or <repo>/.lab. */
export function labDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.LAB_DIR || path.join(REPO_ROOT, '.lab'));
}

export function labPaths(root: string = labDir()): LabPaths {
  const [secrets, ca, tlsDir] = ['secrets', 'ca', 'tls'].map((dir) => path.join(root, dir)) as [string, string, string];
  return {
    root,
    secrets,
    ca,
    tls: tlsDir,
    versions: path.join(secrets, 'versions.json'),
    readme: path.join(secrets, 'README'),
    tlsFiles: {
      caKey: path.join(ca, 'ca.key'),
      caCert: path.join(ca, 'ca.crt'),
      serverKey: path.join(tlsDir, 'server.key'),
      serverCert: path.join(tlsDir, 'server.crt'),
      pgbackrestKey: path.join(tlsDir, 'pgbackrest.key'),
      pgbackrestCert: path.join(tlsDir, 'pgbackrest.crt'),
    },
  };
}

/** The file that holds a secret's current value. */
export function secretFile(name: SecretName, paths: LabPaths = labPaths()): string {
  const entry = spec(name);
  if (entry.kind !== 'tls') return path.join(paths.secrets, name);
  const files = paths.tlsFiles;
  return {
    ca: files.caCert,
    cert: files.serverCert,
    key: files.serverKey,
    'pgbackrest-cert': files.pgbackrestCert,
    'pgbackrest-key': files.pgbackrestKey,
  }[entry.part];
}

/** The clear password behind an htpasswd secret, kept for the operator only (never a Docker secret). */
const clearPasswordFile = (name: SecretName, paths: LabPaths) => `${secretFile(name, paths)}.password`;

// --- versions and Docker names ------------------------------------------------------------------------------

/** The version of each secret's current value; a new value gets a new version, hence a new Docker secret. */
export type Versions = Record<string, number>;

function parseVersions(text: string | undefined, file: string): Versions {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const valid =
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    Object.values(parsed).every((version) => Number.isInteger(version) && version > 0);
  if (!valid)
    throw new StopError(`${file} is not a JSON object of versions: fix it, or delete it to start again at 1.`);
  return parsed as Versions;
}

export async function readVersions(paths: LabPaths = labPaths()): Promise<Versions> {
  return parseVersions(await readIfExists(paths.versions), paths.versions);
}

export function readVersionsSync(paths: LabPaths = labPaths()): Versions {
  let text: string | undefined;
  try {
    text = readFileSync(paths.versions, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return parseVersions(text, paths.versions);
}

/** The Docker secret that holds the current value of `name`: swarmlab_<name>_v<version>. */
export function dockerSecretName(name: SecretName, versions: Versions = readVersionsSync()): string {
  const version = versions[name];
  if (version === undefined) throw new StopError(`${name} has no version yet: run npm run secrets first.`);
  return `${STACK}_${name}_v${version}`;
}

export interface MountedSecret {
  name: SecretName;
  /** The versioned Docker secret to mount, as /run/secrets/<name> in the container. */
  dockerName: string;
  /** The local file to create the Docker secret from. */
  file: string;
}

/** The secrets `service` mounts, in catalogue order. */
export function secretsFor(service: Service, paths: LabPaths = labPaths(), versions?: Versions): MountedSecret[] {
  const current = versions ?? readVersionsSync(paths);
  return SECRET_NAMES.filter((name) => (spec(name).services as readonly Service[]).includes(service)).map((name) => ({
    name,
    dockerName: dockerSecretName(name, current),
    file: secretFile(name, paths),
  }));
}

/** The services to roll when `name` changes: its own, and those of the secrets built from it. */
export function servicesUsing(name: SecretName): Service[] {
  const derived = SECRET_NAMES.filter((other) => {
    const entry = spec(other);
    return entry.kind === 'url' && entry.from === name;
  });
  return SERVICES.filter((service) =>
    [name, ...derived].some((secret) => (spec(secret).services as readonly Service[]).includes(service)),
  );
}

// --- making them --------------------------------------------------------------------------------------------

export type Status = 'created' | 'kept' | 'rotated' | 'reissued' | 'updated';

export interface Row {
  /** A secret's name, or a bookkeeping file (versions.json, README). */
  name: string;
  status: Status;
  /** Relative to the lab folder. */
  file: string;
  note?: string;
}

export interface SecretsReport {
  labDir: string;
  rows: Row[];
  /** Files and folders whose mode was tightened (600 / 700). */
  modesFixed: string[];
  changed: boolean;
  dryRun: boolean;
}

export interface EnsureOptions {
  labDir: string;
  labDomain?: string;
  /** A secret to give a new value (and version). */
  rotate?: string;
  /**
   * Called with the rotated secret's old and new value once the new one is staged, before it replaces the old: what
   * it throws leaves every file as it was (e.g. the admin's password changed in the API's database first).
   */
  applyRotation?: (name: SecretName, previous: string, next: string) => Promise<void>;
  dryRun?: boolean;
  /** For the expiry check. */
  now?: Date;
}

const README = `This folder holds the swarmlab lab's secrets, made by \`npm run secrets\`. Never commit it, copy it
into an image, or paste its files anywhere: .lab/ is git-ignored for that reason. Folders are mode 700, files 600.

- <name>: one file per secret. Deploy turns each into the Docker secret swarmlab_<name>_v<version>;
  services read it as /run/secrets/<name> (their *_FILE variables).
- versions.json: the version of each secret's current value. \`npm run secrets -- --rotate <name>\` makes a new
  value and bumps its version; the next deploy creates the new Docker secret and rolls the services using it.
- ops_basic_auth.password: the password (user admin) of the ops UIs behind Traefik; ops_basic_auth is its hash.

The lab CA is in ../ca (make your machine trust it: npm run trust-ca), the server certificate in ../tls.
The databases keep the passwords they were created with: if you lose this folder, restore it from your own
private copy rather than making new ones.
`;

const randomValue = (bytes: number) => randomBytes(bytes).toString('base64url');

function databaseUrl(entry: Extract<Spec, { kind: 'url' }>, password: string): string {
  const user = encodeURIComponent(entry.user);
  return `postgresql://${user}:${encodeURIComponent(password)}@${entry.host}:${entry.port}/${DATABASE}`;
}

/**
 * The secrets a new value would break rather than rotate, and why: --rotate refuses them. The others roll with the
 * next deploy (the services that mount them restart with the new version); the database roles' passwords are set in
 * the database by the PostgreSQL leader as it restarts with them (postgres/on-leader.sh), and the API's admin
 * password is changed through the API as it is rotated (scripts/secrets.ts).
 */
export const NOT_ROTATABLE: Readonly<Partial<Record<SecretName, string>>> = {
  pg_superuser_password:
    'Patroni logs in with it as soon as PostgreSQL starts, before the database could be given a new one. Change it ' +
    "by hand: ALTER ROLE postgres PASSWORD inside the leader's container (psql over its socket), then put the same " +
    'value in .lab/secrets/pg_superuser_password, bump its version in versions.json, and npm run deploy.',
  pgbackrest_cipher_pass:
    'every backup and archived WAL segment in the repository is encrypted with it: a new passphrase cannot read ' +
    'them. It needs a new repository: a new stanza and a full backup, with the old repository kept for its window.',
  grafana_admin_password:
    'Grafana applies it only when it creates its database: a new value would not change the password Grafana ' +
    'checks. Change it in Grafana (Administration, Users), then write the same value to ' +
    '.lab/secrets/grafana_admin_password.',
};

/** The database roles' passwords: the PostgreSQL leader sets each in the database as it restarts with it. */
export const DATABASE_ROLE_PASSWORDS: readonly SecretName[] = [
  'pg_replication_password',
  'pg_rewind_password',
  'migrator_password',
  'app_password',
  'readonly_password',
  'backup_password',
  'monitoring_password',
];

/** Checks a --rotate name: known, and not one that is built from another or never rotated in place. */
export function rotatable(name: string): SecretName {
  if (!Object.hasOwn(CATALOGUE, name)) {
    throw new StopError(`There is no secret named "${name}" to rotate; the names are: ${SECRET_NAMES.join(', ')}.`);
  }
  const entry = spec(name as SecretName);
  if (entry.kind === 'url') throw new StopError(`${name} is built from ${entry.from}: rotate ${entry.from} instead.`);
  if (entry.kind === 'tls' && entry.part === 'ca') {
    throw new StopError(
      'The lab CA is never replaced in place: delete .lab/ca and run npm run secrets again, then trust the new CA.',
    );
  }
  const refused = NOT_ROTATABLE[name as SecretName];
  if (refused) throw new StopError(`${name} cannot be rotated by this command: ${refused}`);
  return name as SecretName;
}

const FILE_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'EISDIR', 'ENOSPC']);

/** Creates what is missing, gives `rotate` a new value, and writes nothing when nothing changes. */
export async function ensureLabSecrets(options: EnsureOptions): Promise<SecretsReport> {
  const rotate = options.rotate === undefined ? undefined : rotatable(options.rotate);
  const paths = labPaths(path.resolve(options.labDir));
  try {
    return await ensure(paths, rotate, options);
  } catch (error) {
    const { code, path: where } = error as NodeJS.ErrnoException;
    if (!code || !FILE_ERRORS.has(code)) throw error;
    throw new StopError(
      `Cannot use ${where ?? paths.root} (${code}): make ${paths.root} writable, or set LAB_DIR to a folder you own.`,
    );
  }
}

async function ensure(paths: LabPaths, rotate: SecretName | undefined, options: EnsureOptions) {
  const rel = (file: string) => path.relative(paths.root, file);
  const versions = await readVersions(paths);
  const rows: Row[] = [];
  const writes = new Map<string, string>(); // file → new content
  const hashes: { name: SecretName; user: string; clear: string }[] = []; // htpasswd lines to make with openssl
  const values = new Map<SecretName, string>(); // current or new values, to build the URLs from
  const keptFiles: string[] = [];
  let rotation: { name: SecretName; previous: string; next: string } | undefined;

  for (const name of SECRET_NAMES) {
    const entry = spec(name);
    const file = secretFile(name, paths);
    if (entry.kind === 'tls') continue;
    if (entry.kind === 'url') {
      const value = databaseUrl(entry, values.get(entry.from as SecretName)!);
      const existing = await readIfExists(file);
      const status: Status = existing === undefined ? 'created' : existing === value ? 'kept' : 'updated';
      rows.push({ name, status, file: rel(file), ...(status === 'updated' && { note: `${entry.from} changed` }) });
      if (status === 'kept') keptFiles.push(file);
      else writes.set(file, value);
      continue;
    }
    const keptAs = entry.kind === 'htpasswd' ? clearPasswordFile(name, paths) : file;
    const existing = await readIfExists(keptAs);
    const missing = existing === undefined || (entry.kind === 'htpasswd' && (await readIfExists(file)) === undefined);
    const status: Status = missing ? 'created' : rotate === name ? 'rotated' : 'kept';
    const value = status === 'kept' ? existing! : randomValue(entry.kind === 'htpasswd' ? 32 : entry.bytes);
    values.set(name, value);
    if (status === 'rotated') rotation = { name, previous: existing!, next: value };
    rows.push({ name, status, file: rel(file), ...(keptAs !== file && { note: `and ${path.basename(keptAs)}` }) });
    if (status === 'kept') keptFiles.push(...new Set([file, keptAs]));
    else if (entry.kind === 'htpasswd') hashes.push({ name, user: entry.user, clear: value });
    else writes.set(file, value);
  }

  // TLS: the CA only when missing; the server certificate when missing, near its end, or for other names.
  const tlsFiles = paths.tlsFiles;
  const newCa = (await inspectCa({ key: tlsFiles.caKey, cert: tlsFiles.caCert })) === 'missing';
  const problem = await serverCertProblem(tlsFiles, serverNames(options.labDomain), options.now ?? new Date());
  const serverStatus: Status =
    problem === 'missing'
      ? 'created'
      : problem
        ? 'reissued'
        : rotate === 'tls_cert' || rotate === 'tls_key'
          ? 'rotated'
          : 'kept';
  const note = problem && problem !== 'missing' ? problem : undefined;
  const peer = { key: tlsFiles.pgbackrestKey, cert: tlsFiles.pgbackrestCert, caCert: tlsFiles.caCert };
  const peerProblem = newCa
    ? 'missing'
    : await certProblem(peer, options.now ?? new Date(), PGBACKREST_SUBJECT as { dns: string[] });
  const peerStatus: Status =
    peerProblem === 'missing'
      ? 'created'
      : peerProblem
        ? 'reissued'
        : rotate === 'pgbackrest_tls_cert' || rotate === 'pgbackrest_tls_key'
          ? 'rotated'
          : 'kept';
  const peerNote = peerProblem && peerProblem !== 'missing' ? peerProblem : undefined;
  rows.push(
    { name: 'tls_cert', status: serverStatus, file: rel(tlsFiles.serverCert), ...(note && { note }) },
    { name: 'tls_key', status: serverStatus, file: rel(tlsFiles.serverKey), ...(note && { note }) },
    { name: 'pgbackrest_tls_cert', status: peerStatus, file: rel(peer.cert), ...(peerNote && { note: peerNote }) },
    { name: 'pgbackrest_tls_key', status: peerStatus, file: rel(peer.key), ...(peerNote && { note: peerNote }) },
    { name: 'lab_ca_cert', status: newCa ? 'created' : 'kept', file: rel(tlsFiles.caCert), note: 'and ca.key' },
  );
  if (!newCa) keptFiles.push(tlsFiles.caKey, tlsFiles.caCert);
  if (serverStatus === 'kept') keptFiles.push(tlsFiles.serverKey, tlsFiles.serverCert);
  if (peerStatus === 'kept') keptFiles.push(peer.key, peer.cert);
  rows.sort((a, b) => SECRET_NAMES.indexOf(a.name as SecretName) - SECRET_NAMES.indexOf(b.name as SecretName));

  // Bookkeeping: a new value gets the next version; versions.json and README are rewritten only when they differ.
  const nextVersions: Versions = {};
  for (const row of rows) {
    const current = versions[row.name];
    nextVersions[row.name] = row.status === 'kept' ? (current ?? 1) : (current ?? 0) + 1;
  }
  for (const [name, version] of Object.entries(versions)) nextVersions[name] ??= version; // retired secrets
  for (const [file, content] of [
    [paths.versions, `${JSON.stringify(nextVersions, null, 2)}\n`],
    [paths.readme, README],
  ] as const) {
    const existing = await readIfExists(file);
    const status: Status = existing === undefined ? 'created' : existing === content ? 'kept' : 'updated';
    rows.push({ name: path.basename(file), status, file: rel(file) });
    if (status === 'kept') keptFiles.push(file);
    else writes.set(file, content);
  }

  const modesFixed: string[] = [];
  for (const dir of [paths.secrets, paths.ca, paths.tls]) {
    const mode = await modeOf(dir);
    if (mode !== undefined && mode !== PRIVATE_DIR_MODE) modesFixed.push(dir);
  }
  for (const file of keptFiles) if ((await modeOf(file)) !== PRIVATE_FILE_MODE) modesFixed.push(file);

  const changed = modesFixed.length > 0 || rows.some((row) => row.status !== 'kept');
  const report = { labDir: paths.root, rows, modesFixed: modesFixed.map(rel), changed, dryRun: !!options.dryRun };
  if (options.dryRun || !changed) return report;

  if (hashes.length > 0 || newCa || serverStatus !== 'kept' || peerStatus !== 'kept') await requireOpenssl();
  await mkdir(paths.root, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const dir of [paths.secrets, paths.ca, paths.tls]) await ensurePrivateDir(dir);
  const staging = new Staging();
  try {
    for (const [file, content] of writes) await staging.write(file, content);
    for (const { name, user, clear } of hashes) {
      const hash = (await $({ quiet: true, input: clear })`openssl passwd -apr1 -stdin`).stdout.trim();
      await staging.write(secretFile(name, paths), `${user}:${hash}\n`);
      await staging.write(clearPasswordFile(name, paths), clear);
    }
    const labCa = { key: tlsFiles.caKey, cert: tlsFiles.caCert };
    const ca = newCa ? await stageCa(staging, labCa, { permitted: labCaPermitted(options.labDomain) }) : labCa;
    if (serverStatus !== 'kept') {
      await stageServerCert(staging, tlsFiles, ca, serverNames(options.labDomain)).catch((error: unknown) => {
        if (!(error instanceof StopError) || !options.labDomain) throw error;
        throw new StopError(
          `${error.message}\nLAB_DOMAIN=${options.labDomain} is not among the names the lab CA was made for. Unset ` +
            'it, or make a new lab CA for it: move .lab/ca/ca.crt and ca.key away, run npm run secrets, trust the new CA (npm run ' +
            'trust-ca), and restart the nodes (npm run lab:up).',
        );
      });
    }
    if (peerStatus !== 'kept') await stageCert(staging, peer, ca, PGBACKREST_SUBJECT);
    if (rotation && options.applyRotation) await options.applyRotation(rotation.name, rotation.previous, rotation.next);
    await staging.commit();
  } catch (error) {
    await staging.discard();
    throw error;
  }
  for (const file of modesFixed) {
    if (keptFiles.includes(file)) await chmod(file, PRIVATE_FILE_MODE);
  }
  return report;
}
