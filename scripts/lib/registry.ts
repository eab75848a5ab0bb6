// The lab registry's HTTP API (node1:5000, forwarded to 127.0.0.1:5000 for the host), over TLS with the lab CA, as
// its user (registry-auth.ts).
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { StopError } from './cli.js';
import { contentTag } from './deploy-plan.js';
import { node1Ports } from './lab-context.js';
import type { LabPaths } from './lab-secrets.js';
import { basicAuthorization, registryCredentials } from './registry-auth.js';

const IMAGE_MANIFESTS = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
];
const MANIFESTS = [
  ...IMAGE_MANIFESTS,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

interface RegistryResponse {
  status: number;
  body: string;
}

/** One request to the registry's API; its status and body. */
async function registryRequest(
  paths: LabPaths,
  method: 'GET' | 'HEAD',
  apiPath: string,
  accept: string,
): Promise<RegistryResponse> {
  const ca = await readFile(paths.tlsFiles.caCert);
  const authorization = basicAuthorization(await registryCredentials(paths));
  const { host, registry: port } = node1Ports();
  const response = await new Promise<RegistryResponse>((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method,
        path: apiPath,
        ca,
        servername: 'node1',
        headers: { accept, authorization },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the lab registry at ${host}:${port} did not answer`)));
    req.on('error', reject);
    req.end();
  });
  if (response.status === 401) {
    throw new StopError(
      `The lab registry at ${host}:${port} refused the password in .lab/secrets/registry_password. node1's registry ` +
        'reads it when node1 starts: restart node1 (docker restart swarmlab-node1, or vagrant provision node1), then ' +
        'run this command again.',
    );
  }
  return response;
}

/** Whether the registry holds swarmlab/<name>:<tag>. */
export async function registryHas(paths: LabPaths, name: string, tag: string): Promise<boolean> {
  const { status } = await registryRequest(paths, 'HEAD', `/v2/swarmlab/${name}/manifests/${tag}`, MANIFESTS);
  if (status === 200) return true;
  if (status === 404) return false;
  throw new Error(`the lab registry answered ${status} for swarmlab/${name}:${tag}`);
}

/**
 * The content tag (deploy-plan.ts contentTag) of the image the registry holds as swarmlab/<name>:<tag>, from its
 * manifest and configuration; undefined when the registry has no such tag.
 */
export async function registryContentTag(paths: LabPaths, name: string, tag: string): Promise<string | undefined> {
  const manifest = await registryRequest(
    paths,
    'GET',
    `/v2/swarmlab/${name}/manifests/${tag}`,
    IMAGE_MANIFESTS.join(', '),
  );
  if (manifest.status === 404) return undefined;
  if (manifest.status !== 200) throw new Error(`the lab registry answered ${manifest.status} for ${name}:${tag}`);
  const digest = (JSON.parse(manifest.body) as { config?: { digest?: string } }).config?.digest;
  if (!digest) throw new Error(`swarmlab/${name}:${tag} in the lab registry is not a single image`);
  const blob = await registryRequest(paths, 'GET', `/v2/swarmlab/${name}/blobs/${digest}`, '*/*');
  if (blob.status !== 200) throw new Error(`the lab registry answered ${blob.status} for ${name}'s configuration`);
  const config = JSON.parse(blob.body) as { rootfs?: { diff_ids?: string[] }; config?: Record<string, unknown> };
  return contentTag({ RootFS: { Layers: config.rootfs?.diff_ids ?? [] }, Config: config.config ?? {} });
}
