// Where the lab is: node1's Docker API over mutual TLS (the node drivers forward it to 127.0.0.1:2376 and put the
// client certificate in .lab/docker), or whatever DOCKER_HOST names. Every command that talks to the swarm goes
// through here, so it does not care which driver made the nodes.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { $ } from 'zx';
import { StopError } from './cli.js';
import { lastLine } from './docker.js';
import { labPaths, type LabPaths } from './lab-secrets.js';
import { nodeTlsPaths } from './lab-node-tls.js';
import { registryCliEnv } from './registry-auth.js';

export const MANAGER_API = 'tcp://127.0.0.1:2376';
/** Where the host pushes images (node1's registry, forwarded) and where the nodes pull them from. */
export const REGISTRY_PUSH = '127.0.0.1:5000';
export const REGISTRY_PULL = 'node1:5000';
export const HTTPS_PORT = 8443;
export const HTTP_PORT = 8080;
export const labUrl = (name: string) => `https://${name}.lab.localhost:${HTTPS_PORT}`;

/** node1's published ports, as reached from where a command runs. */
export interface Node1Ports {
  host: string;
  https: number;
  http: number;
  registry: number;
}

/**
 * From the host, node1's ports forwarded to 127.0.0.1 (8443, 8080, 5000). From a container in the lab, LAB_NODE1
 * names node1 (the stack's Jenkins: `node1`, in its /etc/hosts), and its own ports are used (443, 80, 5000).
 */
export function node1Ports(env: NodeJS.ProcessEnv = process.env): Node1Ports {
  const node1 = env.LAB_NODE1?.trim();
  if (!node1) return { host: '127.0.0.1', https: HTTPS_PORT, http: HTTP_PORT, registry: 5000 };
  return { host: node1, https: 443, http: 80, registry: 5000 };
}

export interface Lab {
  /**
   * The environment for the docker CLI: DOCKER_HOST (+ DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), and DOCKER_CONFIG with
   * the lab registry's credentials (registry-auth.ts).
   */
  env: Record<string, string>;
  docker: Docker;
  describe: string;
  driver: 'docker' | 'vagrant' | 'external';
}

/** Which driver made the nodes, as lab:up or the Vagrantfile left it in .lab/lab.json. */
export async function labDriver(paths: LabPaths = labPaths()): Promise<Lab['driver'] | undefined> {
  const text = await readFile(path.join(paths.root, 'lab.json'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const driver = (JSON.parse(text) as { driver?: string }).driver;
  return driver === 'docker' || driver === 'vagrant' ? driver : undefined;
}

/** The lab's manager, from DOCKER_HOST when set, else node1's TLS API with the certificates in .lab/docker. */
export async function findLab(paths: LabPaths = labPaths(), env = process.env): Promise<Lab> {
  if (env.DOCKER_HOST) {
    const vars = Object.fromEntries(
      ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH'].flatMap((name) =>
        env[name] ? [[name, env[name]!]] : [],
      ),
    );
    // The driver as LAB_DIR records it (lab:up, the Vagrantfile, or lab:state in the pipeline), if it does.
    const driver = (await labDriver(paths)) ?? 'external';
    return {
      env: { ...vars, ...(await registryCliEnv(paths, env)) },
      docker: new Docker(),
      describe: `DOCKER_HOST=${env.DOCKER_HOST}`,
      driver,
    };
  }
  const certPath = nodeTlsPaths(paths).dockerCertPath;
  const files = ['ca.pem', 'cert.pem', 'key.pem'].map((file) => path.join(certPath, file));
  if (!files.every((file) => existsSync(file))) {
    throw new StopError(
      `No lab found: ${path.relative(process.cwd(), certPath)} has no client certificate for node1's Docker API.\n` +
        'Start a lab first: npm run lab:up (nodes as containers) or vagrant up (VMs); or set DOCKER_HOST.',
    );
  }
  const [ca, cert, key] = await Promise.all(files.map((file) => readFile(file)));
  const url = new URL(MANAGER_API.replace('tcp:', 'https:'));
  return {
    env: {
      DOCKER_HOST: MANAGER_API,
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: certPath,
      ...(await registryCliEnv(paths, env)),
    },
    docker: new Docker({ host: url.hostname, port: Number(url.port), protocol: 'https', ca, cert, key }),
    describe: `node1's Docker API at ${MANAGER_API} (mutual TLS)`,
    driver: (await labDriver(paths)) ?? 'external',
  };
}

/** Stops with the next step unless the manager answers and is a swarm manager. */
export async function requireManager(lab: Lab): Promise<void> {
  const info = await $({ quiet: true, env: { ...process.env, ...lab.env } })`docker info --format ${'{{json .Swarm}}'}`
    .nothrow()
    .timeout('20s');
  if (info.exitCode !== 0) {
    throw new StopError(
      `The lab's manager does not answer (${lastLine(info.stderr) || 'timed out'}) at ${lab.describe}.\n` +
        'Is the lab up? npm run lab:status; start it with npm run lab:up (or vagrant up).',
    );
  }
  const swarm = JSON.parse(info.stdout) as { LocalNodeState?: string; ControlAvailable?: boolean };
  if (swarm.LocalNodeState !== 'active' || !swarm.ControlAvailable) {
    throw new StopError(
      `${lab.describe} is not a swarm manager (state ${swarm.LocalNodeState ?? 'unknown'}): run npm run lab:up again.`,
    );
  }
}

/** The Docker CLI context that reaches the lab's manager: `docker --context swarmlab service ls`. */
export const DOCKER_CONTEXT = 'swarmlab';

/**
 * Creates (or points again) the Docker context `swarmlab` at node1's TLS API with the lab's client certificate, so
 * the runbooks' `docker --context swarmlab ...` reach the lab and not this host's engine. Docker copies the
 * certificate into its context store: run again after the certificates change (lab:up and deploy do).
 */
export async function ensureDockerContext(paths: LabPaths = labPaths()): Promise<void> {
  const certPath = nodeTlsPaths(paths).dockerCertPath;
  const endpoint = [
    `host=${MANAGER_API}`,
    `ca=${path.join(certPath, 'ca.pem')}`,
    `cert=${path.join(certPath, 'cert.pem')}`,
    `key=${path.join(certPath, 'key.pem')}`,
  ].join(',');
  // This host's CLI settings must not redirect the context commands themselves.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DOCKER_')));
  const cli = $({ quiet: true, env });
  const exists = (await cli`docker context inspect ${DOCKER_CONTEXT}`.nothrow()).exitCode === 0;
  const made =
    await cli`docker context ${exists ? 'update' : 'create'} ${DOCKER_CONTEXT} --description ${"swarmlab: node1's Docker API (mutual TLS)"} --docker ${endpoint}`.nothrow();
  if (made.exitCode !== 0) {
    throw new StopError(
      `The Docker context ${DOCKER_CONTEXT} could not be ${exists ? 'updated' : 'created'}: ${lastLine(made.stderr)}.\n` +
        `The lab works without it (DOCKER_HOST=${MANAGER_API} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${certPath}); ` +
        `remove a broken one with: docker context rm --force ${DOCKER_CONTEXT}, then run this command again.`,
    );
  }
}

/** Whether the context exists and names node1's API: what lab:status reports. */
export async function dockerContextHost(): Promise<string | undefined> {
  const inspect = await $({
    quiet: true,
  })`docker context inspect ${DOCKER_CONTEXT} --format ${'{{.Endpoints.docker.Host}}'}`.nothrow();
  return inspect.exitCode === 0 ? inspect.stdout.trim() : undefined;
}
