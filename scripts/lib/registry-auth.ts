// The lab registry's one user (node1:5000; docs/security.md): its password is the lab secret registry_password.
// node1's registry checks it against nodes/registry.htpasswd (bcrypt, the only hash Docker's registry reads), which
// provision.sh installs when node1 starts; deploy pushes with it, and hands it to the swarm
// (--with-registry-auth) so that every node pulls with it. Nothing in the lab pulls or pushes without it.
import { lstat, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { StopError } from './cli.js';
import { secretFile, type LabPaths, type Status } from './lab-secrets.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE, readIfExists, Staging } from './private-files.js';

export const REGISTRY_USER = 'swarmlab';
/** Where the nodes pull from, and where deploy pushes from this host (the forwarded port) or from node1 itself. */
const REGISTRY_HOSTS = ['node1:5000', '127.0.0.1:5000'];
/**
 * The registry checks the password on every request (each layer of each pull); the password is 32 random bytes,
 * so bcrypt's cost adds no strength to it, only time: the lowest cost bcrypt allows.
 */
const BCRYPT_COST = 4;

export const registryHtpasswd = (paths: LabPaths) => path.join(paths.root, 'nodes', 'registry.htpasswd');
/** A Docker CLI configuration folder (DOCKER_CONFIG) that holds the registry's credentials. */
export const registryDockerConfig = (paths: LabPaths) => path.join(paths.root, 'registry-client');

export interface RegistryCredentials {
  user: string;
  password: string;
}

/** The user and password; stops with the next step when the secret is missing. */
export async function registryCredentials(paths: LabPaths): Promise<RegistryCredentials> {
  const password = await readIfExists(secretFile('registry_password', paths));
  if (password === undefined) {
    throw new StopError(
      `${path.relative(process.cwd(), secretFile('registry_password', paths))} is missing: run npm run secrets.`,
    );
  }
  return { user: REGISTRY_USER, password };
}

export const basicAuthorization = ({ user, password }: RegistryCredentials) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** One line of the registry's htpasswd file: bcrypt, the only hash Docker's registry reads. */
export const htpasswdLine = async (user: string, password: string) =>
  `${user}:${await bcrypt.hash(password, BCRYPT_COST)}\n`;

/**
 * Writes nodes/registry.htpasswd when it is missing or does not hold the current password (after a rotation);
 * node1 installs it when it starts.
 */
export async function ensureRegistryUsers(paths: LabPaths): Promise<{ name: string; status: Status; file: string }> {
  const { user, password } = await registryCredentials(paths);
  const file = registryHtpasswd(paths);
  const existing = (await readIfExists(file))?.trim();
  const hash = existing?.startsWith(`${user}:`) ? existing.slice(user.length + 1) : undefined;
  const rel = path.relative(paths.root, file);
  if (hash !== undefined && (await bcrypt.compare(password, hash)))
    return { name: 'registry_users', status: 'kept', file: rel };
  await ensurePrivateDir(path.dirname(file));
  const staging = new Staging();
  try {
    await staging.write(file, await htpasswdLine(user, password));
    await staging.commit();
  } catch (error) {
    await staging.discard();
    throw error;
  }
  return { name: 'registry_users', status: existing === undefined ? 'created' : 'updated', file: rel };
}

/**
 * The Docker CLI environment that carries the registry's credentials (DOCKER_CONFIG), or none while the lab has no
 * registry_password yet (npm run secrets makes it).
 */
export async function registryCliEnv(
  paths: LabPaths,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, string>> {
  if ((await readIfExists(secretFile('registry_password', paths))) === undefined) return {};
  return { DOCKER_CONFIG: await ensureRegistryDockerConfig(paths, env) };
}

/**
 * Makes the DOCKER_CONFIG folder for the Docker CLI calls that reach the registry (push, stack deploy, service
 * create): its credentials for the registry, and this user's own Docker contexts (a link to them, and the current
 * one), so that the CLI still talks to the engine it would have talked to. Returns the folder.
 */
export async function ensureRegistryDockerConfig(
  paths: LabPaths,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const credentials = await registryCredentials(paths);
  const dir = registryDockerConfig(paths);
  await ensurePrivateDir(dir);
  const own = env.DOCKER_CONFIG || path.join(homedir(), '.docker');
  const current = (
    JSON.parse((await readIfExists(path.join(own, 'config.json'))) ?? '{}') as { currentContext?: string }
  ).currentContext;
  const auth = Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64');
  const config = {
    auths: Object.fromEntries(REGISTRY_HOSTS.map((host) => [host, { auth }])),
    ...(current && { currentContext: current }),
  };
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
  const contexts = path.join(dir, 'contexts');
  const target = path.join(own, 'contexts');
  const linked = await lstat(contexts).then(
    async (stats) => stats.isSymbolicLink() && (await readlink(contexts)) === target,
    () => false,
  );
  if (!linked) {
    await rm(contexts, { recursive: true, force: true });
    await symlink(target, contexts);
  }
  return dir;
}
