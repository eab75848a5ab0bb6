// The nodes' TLS: node1's certificate from the lab CA (its Docker API on :2376 and the lab registry on :5000), and
// the host's client certificate for that API (mutual TLS) from a CA of its own, the Docker client CA, which is the
// only one node1's Docker API trusts: no other certificate of the lab (pgBackRest's, whose key the PostgreSQL
// members hold) opens it. `npm run secrets` and lab:up make them, once; they are issued again when missing, near
// their end, or no longer from their CA. The client certificate also goes to the stack's Jenkins as two Docker
// secrets (dockerClientSecrets).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { StopError } from './cli.js';
import { certProblem, inspectCa, stageCa, stageCert, type CaFiles, type CertSubject } from './lab-tls.js';
import { labPaths, STACK, type LabPaths, type Status } from './lab-secrets.js';
import { ensurePrivateDir, PRIVATE_DIR_MODE, readIfExists, Staging } from './private-files.js';
import { ensureRegistryUsers } from './registry-auth.js';

/** node1's names: in the lab network, through the host's forwarded ports, and as a Vagrant VM. */
export const NODE1_SUBJECT: CertSubject = {
  commonName: 'node1',
  dns: ['node1', 'localhost'],
  ips: ['127.0.0.1', '192.168.56.11'],
};
export const CLIENT_SUBJECT: CertSubject = { commonName: 'swarmlab-operator', usage: 'clientAuth' };

export interface NodeTlsPaths {
  /**
   * Shared with the nodes (bind mount or Vagrant synced folder): ca.crt, docker-client-ca.crt, node1.crt, node1.key,
   * registry.htpasswd, swarm/.
   */
  shared: string;
  sharedCa: string;
  /** The Docker client CA's certificate, shared: node1's Docker API trusts only it (tlscacert). */
  sharedClientCa: string;
  /** The Docker client CA, next to the lab CA: it issues the operator's (and Jenkins') client certificate. */
  clientCa: CaFiles;
  node1Cert: string;
  node1Key: string;
  /** The host's client for node1's Docker API, laid out for DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem. */
  dockerCertPath: string;
}

export function nodeTlsPaths(paths: LabPaths = labPaths()): NodeTlsPaths {
  const shared = path.join(paths.root, 'nodes');
  return {
    shared,
    sharedCa: path.join(shared, 'ca.crt'),
    sharedClientCa: path.join(shared, 'docker-client-ca.crt'),
    clientCa: {
      key: path.join(path.dirname(paths.tlsFiles.caKey), 'docker-client-ca.key'),
      cert: path.join(path.dirname(paths.tlsFiles.caCert), 'docker-client-ca.crt'),
    },
    node1Cert: path.join(shared, 'node1.crt'),
    node1Key: path.join(shared, 'node1.key'),
    dockerCertPath: path.join(paths.root, 'docker'),
  };
}

export interface NodeTlsRow {
  name: string;
  status: Status;
  file: string;
  note?: string;
}

/**
 * Makes what is missing or stale, and the registry's users file (registry-auth.ts); needs the lab CA and
 * registry_password (ensureLabSecrets first).
 */
export async function ensureNodeTls(paths: LabPaths = labPaths(), now = new Date()): Promise<NodeTlsRow[]> {
  const nodes = nodeTlsPaths(paths);
  const labCa = { key: paths.tlsFiles.caKey, cert: paths.tlsFiles.caCert };
  const rel = (file: string) => path.relative(paths.root, file);
  await mkdir(paths.root, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const dir of [nodes.shared, nodes.dockerCertPath]) await ensurePrivateDir(dir);

  const rows: NodeTlsRow[] = [];
  const staging = new Staging();
  try {
    const newClientCa = (await inspectCa(nodes.clientCa)) === 'missing';
    rows.push({ name: 'docker_client_ca', status: newClientCa ? 'created' : 'kept', file: rel(nodes.clientCa.cert) });
    const clientCa = newClientCa
      ? await stageCa(staging, nodes.clientCa, { name: 'swarmlab Docker client CA', clientsOnly: true })
      : nodes.clientCa;
    const wanted = [
      {
        name: 'node1_cert',
        subject: NODE1_SUBJECT,
        key: nodes.node1Key,
        cert: nodes.node1Cert,
        ca: labCa,
        caName: 'the lab CA',
      },
      {
        name: 'docker_client_cert',
        subject: CLIENT_SUBJECT,
        key: path.join(nodes.dockerCertPath, 'key.pem'),
        cert: path.join(nodes.dockerCertPath, 'cert.pem'),
        ca: clientCa,
        caName: 'the Docker client CA',
      },
    ];
    for (const { name, subject, key, cert, ca, caName } of wanted) {
      const problem = await certProblem({ key, cert, caCert: ca.cert, caName }, now, {
        dns: subject.dns ?? [],
        ips: subject.ips ?? [],
      });
      rows.push({
        name,
        status: problem === undefined ? 'kept' : problem === 'missing' ? 'created' : 'reissued',
        file: rel(cert),
        ...(problem && problem !== 'missing' && { note: problem }),
      });
      if (problem !== undefined) await stageCert(staging, { key, cert }, ca, subject);
    }
    await staging.commit();
  } catch (error) {
    await staging.discard();
    throw error;
  }
  // The CA certificates, public, where the nodes and the docker CLI look for them. The CLI checks node1's
  // certificate against the lab CA (ca.pem); node1 checks its clients against the Docker client CA.
  const copies = [
    { from: labCa.cert, to: [nodes.sharedCa, path.join(nodes.dockerCertPath, 'ca.pem')] },
    { from: nodes.clientCa.cert, to: [nodes.sharedClientCa] },
  ];
  for (const { from, to } of copies) {
    const pem = await readIfExists(from);
    for (const copy of to) if ((await readIfExists(copy)) !== pem) await copyFile(from, copy);
  }
  rows.push(await ensureRegistryUsers(paths));
  return rows;
}

// --- the client certificate as Docker secrets, for the stack's Jenkins ---------------------------------------

/**
 * The host's client certificate and key for node1's Docker API, mounted into the stack's Jenkins as
 * /run/secrets/<name> (its lab-docker-tls credential, jenkins/casc.yaml): the file each is made from, in
 * LAB_DIR/docker. Not in the catalogue of lab-secrets.ts: ensureNodeTls makes and reissues them, so their Docker
 * secrets are named by content rather than by a version.
 */
export const DOCKER_CLIENT_SECRETS = { docker_client_cert: 'cert.pem', docker_client_key: 'key.pem' } as const;
export type DockerClientSecret = keyof typeof DOCKER_CLIENT_SECRETS;
/** The stack variable that holds the content hash both secrets' names end with. */
export const DOCKER_CLIENT_HASH_VARIABLE = 'DOCKER_CLIENT_TLS_HASH';

/**
 * The first 12 hex digits of the sha256 of the client certificate (public): it names both secrets, since the key
 * is only ever issued with a new certificate. A reissued pair gets new names, and Swarm rolls Jenkins. Undefined
 * while the certificate does not exist (npm run secrets makes it).
 */
export function dockerClientTlsHash(paths: LabPaths = labPaths()): string | undefined {
  const cert = path.join(nodeTlsPaths(paths).dockerCertPath, DOCKER_CLIENT_SECRETS.docker_client_cert);
  try {
    return createHash('sha256').update(readFileSync(cert)).digest('hex').slice(0, 12);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export interface DockerClientSecretFile {
  name: DockerClientSecret;
  /** swarmlab_<name>_<hash of the certificate> */
  dockerName: string;
  file: string;
}

/** Both secrets, their Docker names and files; stops with the next step when the certificate is missing. */
export function dockerClientSecrets(paths: LabPaths = labPaths()): DockerClientSecretFile[] {
  const hash = dockerClientTlsHash(paths);
  const dir = nodeTlsPaths(paths).dockerCertPath;
  if (hash === undefined) {
    throw new StopError(`${path.join(dir, 'cert.pem')} is missing: run npm run secrets (it makes the certificate).`);
  }
  return Object.entries(DOCKER_CLIENT_SECRETS).map(([name, file]) => ({
    name: name as DockerClientSecret,
    dockerName: `${STACK}_${name}_${hash}`,
    file: path.join(dir, file),
  }));
}
