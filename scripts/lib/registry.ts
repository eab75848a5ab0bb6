// The lab registry's HTTP API (node1:5000, forwarded to 127.0.0.1:5000), over TLS with the lab CA.
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { REGISTRY_PUSH } from './lab-context.js';
import type { LabPaths } from './lab-secrets.js';

const MANIFESTS = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** Whether the registry holds swarmlab/<name>:<tag>. */
export async function registryHas(paths: LabPaths, name: string, tag: string): Promise<boolean> {
  const ca = await readFile(paths.tlsFiles.caCert);
  const [host, port] = REGISTRY_PUSH.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: Number(port),
        method: 'HEAD',
        path: `/v2/swarmlab/${name}/manifests/${tag}`,
        ca,
        servername: 'node1',
        headers: { accept: MANIFESTS },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        if (res.statusCode === 200) resolve(true);
        else if (res.statusCode === 404) resolve(false);
        else reject(new Error(`the lab registry answered ${res.statusCode} for swarmlab/${name}:${tag}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the lab registry at ${REGISTRY_PUSH} did not answer`)));
    req.on('error', reject);
    req.end();
  });
}
