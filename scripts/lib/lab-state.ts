// The lab state the stack's Jenkins deploys with. `npm run deploy` on the operator's machine packs what it deployed
// with into one Docker secret, swarmlab_lab_state_<hash>, mounted in jenkins as /run/secrets/lab_state:
// - the secrets;
// - the lab CA's certificate and the certificates issued from it;
// - the Docker client certificate;
// - how it deployed: node driver, edge, and the environment that shapes the stack.
// `npm run lab:state`, the pipeline's first deploy step, unpacks it into Jenkins' LAB_DIR. The pipeline's deploy
// then names every secret as the operator's did and trusts the same CA.
// The CA's key never leaves the operator's machine: that machine trusts the CA (npm run trust-ca), and the CA is
// not limited to the lab's names. The pipeline never issues or rotates anything: checkLabState stops it, with the
// next step, when the state needs either.
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { StopError } from './cli.js';
import { CATALOGUE, labPaths, readVersions, secretFile, SECRET_NAMES, STACK, type LabPaths } from './lab-secrets.js';
import { certProblem, PGBACKREST_SUBJECT, serverNames } from './lab-tls.js';
import { CLIENT_SUBJECT, nodeTlsPaths } from './lab-node-tls.js';
import { ensurePrivateDir, Staging } from './private-files.js';

export const LAB_STATE_FORMAT = 'swarmlab-lab-state/1';
/** Docker's limit for a secret's data. */
export const LAB_STATE_MAX_BYTES = 500 * 1024;
/** Where the jenkins service mounts it (docker-compose.yml), and so where `npm run lab:state` reads by default. */
export const LAB_STATE_MOUNT = '/run/secrets/lab_state';
/** The stack variable its Docker secret's name ends with. */
export const LAB_STATE_HASH_VARIABLE = 'LAB_STATE_HASH';

/** The operator's environment that deploy reads to shape the stack: the pipeline's deploy gets the same values. */
export const STATE_ENV = ['LAB_DOMAIN', 'ACME_EMAIL', 'SWARMLAB_GIT_URL', 'SWARMLAB_GIT_BRANCH'] as const;
export type StateEnv = (typeof STATE_ENV)[number];

export const DRIVERS = ['docker', 'vagrant', 'external'] as const;
export const EDGES = ['traefik', 'haproxy'] as const;

export interface LabSettings {
  driver: (typeof DRIVERS)[number];
  edge: (typeof EDGES)[number];
  env: Partial<Record<StateEnv, string>>;
}

/** The values of STATE_ENV set in `env`. */
export function stateEnvironment(env: NodeJS.ProcessEnv = process.env): LabSettings['env'] {
  return Object.fromEntries(STATE_ENV.flatMap((name) => (env[name] ? [[name, env[name]]] : [])));
}

export interface LabState {
  settings: LabSettings;
  /** Path relative to LAB_DIR → content. */
  files: Map<string, Buffer>;
}

/** The folders of LAB_DIR the state owns: unpacking makes each one hold exactly the state's files. */
const STATE_DIRS = ['secrets', 'ca', 'tls', 'docker'] as const;
/** What the state may hold: every file of secrets/, and these. Never a CA's key. */
const STATE_FILE =
  /^(secrets\/[A-Za-z0-9_][A-Za-z0-9_.-]*|ca\/(ca|docker-client-ca)\.crt|tls\/(server|pgbackrest)\.(crt|key)|docker\/(ca|cert|key)\.pem)$/;

/** The Docker client certificate and key (the lab's CA certificate is in the same folder, as ca.pem). */
const clientFiles = (paths: LabPaths) => {
  const dir = nodeTlsPaths(paths).dockerCertPath;
  return { key: path.join(dir, 'key.pem'), cert: path.join(dir, 'cert.pem') };
};

/** The files of the state, relative to LAB_DIR, that exist under `paths.root`; sorted. */
async function stateFiles(paths: LabPaths): Promise<string[]> {
  const files: string[] = [];
  for (const dir of STATE_DIRS) {
    const entries = await readdir(path.join(paths.root, dir), { withFileTypes: true }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    for (const entry of entries) {
      // STATE_FILE leaves out dot files: Staging's .<name>.tmp-* while a write is under way.
      const rel = `${dir}/${entry.name}`;
      if (entry.isFile() && STATE_FILE.test(rel)) files.push(rel);
    }
  }
  return files.sort();
}

/**
 * The state as one document: the same state gives the same bytes, hence the same secret name, so the pipeline's own
 * deploy leaves the jenkins service as it is. Stops when something the pipeline needs is missing.
 */
export async function packLabState(settings: LabSettings, paths: LabPaths = labPaths()): Promise<string> {
  const files = await stateFiles(paths);
  const needed = [
    ...SECRET_NAMES.map((name) => secretFile(name, paths)),
    paths.versions,
    ...Object.values(clientFiles(paths)),
  ].map((file) => path.relative(paths.root, file));
  const missing = needed.filter((file) => !files.includes(file));
  if (missing.length > 0) {
    throw new StopError(`The lab state is incomplete (${missing.join(', ')} missing): run npm run secrets first.`);
  }
  const env = stateEnvironment(settings.env);
  const packed: Record<string, string> = {};
  for (const file of files) packed[file] = (await readFile(path.join(paths.root, file))).toString('base64');
  const text = `${JSON.stringify({
    format: LAB_STATE_FORMAT,
    settings: { driver: settings.driver, edge: settings.edge, env },
    files: packed,
  })}\n`;
  if (Buffer.byteLength(text) > LAB_STATE_MAX_BYTES) {
    throw new StopError(
      `The lab state is ${Math.ceil(Buffer.byteLength(text) / 1024)} KB, over Docker's ${LAB_STATE_MAX_BYTES / 1024} KB ` +
        `for a secret: remove what does not belong in ${paths.secrets}.`,
    );
  }
  return text;
}

/** The first 12 hex digits of the document's sha256: the end of its Docker secret's name. */
export const labStateHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
export const labStateSecretName = (text: string) => `${STACK}_lab_state_${labStateHash(text)}`;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads a packed state; stops with what is wrong and where it came from. */
export function parseLabState(text: string, source: string): LabState {
  const fail = (why: string): never => {
    throw new StopError(
      `${source} is not a swarmlab lab state (${why}). It is made by npm run deploy on the operator's machine: ` +
        'run it there, then build again.',
    );
  };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    fail('not JSON');
  }
  if (!isObject(document)) return fail('not a JSON object');
  if (document.format !== LAB_STATE_FORMAT) return fail(`format ${String(document.format)}, not ${LAB_STATE_FORMAT}`);
  const { settings, files } = document;
  if (!isObject(settings) || !isObject(files)) return fail('no settings or files');
  const driver = settings.driver as LabSettings['driver'];
  const edge = settings.edge as LabSettings['edge'];
  if (!DRIVERS.includes(driver)) return fail(`driver ${String(driver)}`);
  if (!EDGES.includes(edge)) return fail(`edge ${String(edge)}`);
  const env: LabSettings['env'] = {};
  for (const [name, value] of Object.entries(isObject(settings.env) ? settings.env : {})) {
    if (!(STATE_ENV as readonly string[]).includes(name) || typeof value !== 'string') fail(`setting ${name}`);
    env[name as StateEnv] = value as string;
  }
  const contents = new Map<string, Buffer>();
  for (const [file, value] of Object.entries(files)) {
    if (!STATE_FILE.test(file)) fail(`a file it may not hold: ${file}`);
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) fail(`${file} is not base64`);
    contents.set(file, Buffer.from(value as string, 'base64'));
  }
  return { settings: { driver, edge, env }, files: contents };
}

/**
 * Makes LAB_DIR's state folders hold exactly `state`'s files (folders 700, files 600) and lab.json its settings:
 * every file is written next to its place first, then all are renamed in; files the state no longer has go last.
 * Leaves the rest of LAB_DIR (deploy/: the pipeline's deploy records) as it is.
 */
export async function unpackLabState(state: LabState, paths: LabPaths = labPaths()): Promise<string[]> {
  const previous = await stateFiles(paths);
  for (const dir of STATE_DIRS) await ensurePrivateDir(path.join(paths.root, dir));
  const staging = new Staging();
  try {
    for (const [file, content] of state.files) await staging.write(path.join(paths.root, file), content);
    await staging.write(path.join(paths.root, 'lab.json'), `${JSON.stringify(state.settings, null, 2)}\n`);
    await staging.commit();
  } catch (error) {
    await staging.discard();
    throw error;
  }
  const stale = previous.filter((file) => !state.files.has(file));
  for (const file of stale) await rm(path.join(paths.root, file), { force: true });
  // A CA key left by an earlier deploy here (the pipeline never needs one) is not kept either.
  await rm(paths.tlsFiles.caKey, { force: true });
  return stale;
}

/** The settings `npm run lab:state` left in LAB_DIR/lab.json, or undefined when there are none. */
export async function readLabSettings(paths: LabPaths = labPaths()): Promise<LabSettings | undefined> {
  const text = await readFile(path.join(paths.root, 'lab.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const settings = JSON.parse(text) as Partial<LabSettings>;
  if (!settings.edge || !settings.driver) return undefined;
  return { driver: settings.driver, edge: settings.edge, env: settings.env ?? {} };
}

/**
 * The pipeline's deploy settings (npm run lab:state's lab.json); the operator's environment values are filled into
 * process.env where it does not set them. Stops with the next step when lab:state has not run.
 */
export async function pipelineSettings(paths: LabPaths = labPaths(), env = process.env): Promise<LabSettings> {
  const settings = await readLabSettings(paths);
  if (!settings) {
    throw new StopError(
      `${paths.root} has no lab state: the pipeline runs npm run lab:state before npm run deploy (see the Jenkinsfile).`,
    );
  }
  for (const name of STATE_ENV) if (!env[name] && settings.env[name]) env[name] = settings.env[name];
  return settings;
}

/** Stops, with what to do, when the state in `paths` cannot be deployed as it is (checkLabState). */
export async function requireDeployableState(paths: LabPaths, labDomain: string | undefined): Promise<void> {
  const problems = await checkLabState(paths, labDomain);
  if (problems.length === 0) return;
  throw new StopError(
    `The lab state cannot be deployed as it is (${problems.join('; ')}). Only the operator's machine, which holds ` +
      'the CA key, can fix it: run npm run deploy there. It renews what is due and gives Jenkins the new state.',
  );
}

/**
 * Why the state in `paths` cannot be deployed as it is, without the CA's key: a missing secret or version, or a
 * certificate that needs issuing again. Empty when it can.
 */
export async function checkLabState(
  paths: LabPaths,
  labDomain: string | undefined,
  now = new Date(),
): Promise<string[]> {
  const problems: string[] = [];
  const versions = await readVersions(paths);
  const present = new Set(await stateFiles(paths));
  for (const name of SECRET_NAMES) {
    if (CATALOGUE[name].kind === 'tls') continue;
    if (!present.has(path.relative(paths.root, secretFile(name, paths)))) problems.push(`${name}: missing`);
  }
  for (const name of SECRET_NAMES) if (versions[name] === undefined) problems.push(`${name}: no version`);
  const files = paths.tlsFiles;
  const certificates = [
    {
      name: 'tls_cert',
      files: { key: files.serverKey, cert: files.serverCert, caCert: files.caCert },
      names: { dns: serverNames(labDomain) },
    },
    {
      name: 'pgbackrest_tls_cert',
      files: { key: files.pgbackrestKey, cert: files.pgbackrestCert, caCert: files.caCert },
      names: { dns: PGBACKREST_SUBJECT.dns ?? [] },
    },
    {
      name: 'docker_client_cert',
      files: { ...clientFiles(paths), caCert: nodeTlsPaths(paths).clientCa.cert, caName: 'the Docker client CA' },
      names: { dns: CLIENT_SUBJECT.dns ?? [] },
    },
  ];
  for (const certificate of certificates) {
    const problem = await certProblem(certificate.files, now, certificate.names);
    if (problem) problems.push(`${certificate.name}: ${problem}`);
  }
  return problems;
}
