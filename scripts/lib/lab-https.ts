// Requests to the lab through its published HTTPS port, as a browser would send them to
// https://<name>.lab.localhost:8443 (SNI and Host), trusting the lab CA only. No DNS needed: the port is on 127.0.0.1
// (or, from a container in the lab, node1's own: node1Ports).
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { node1Ports } from './lab-context.js';
import { labPaths } from './lab-secrets.js';
import { BASE_DOMAIN } from './lab-tls.js';

export interface LabResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface LabRequest {
  /** The lab host name's first label: api, grafana, ... */
  host: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** The Host header a browser sends: the port only when it is not the scheme's own. */
const hostHeader = (host: string, port: number, schemePort: number) => (port === schemePort ? host : `${host}:${port}`);

/** A client for the lab's HTTPS port that keeps connections open (for load) and trusts the lab CA only. */
export class LabClient {
  private readonly agent: Agent;

  /** `ca`: the lab CA by default; null trusts the system's CAs instead (as a browser that was never told). */
  constructor(ca: string | Buffer | null = readFileSync(labPaths().tlsFiles.caCert)) {
    this.agent = new Agent({ ...(ca !== null && { ca }), keepAlive: true, maxSockets: 16 });
  }

  request(options: LabRequest): Promise<LabResponse> {
    const host = `${options.host}.${BASE_DOMAIN}`;
    const node1 = node1Ports();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: node1.host,
          port: node1.https,
          servername: host,
          method: options.method ?? 'GET',
          path: options.path,
          agent: this.agent,
          timeout: options.timeoutMs ?? 10_000,
          headers: { host: hostHeader(host, node1.https, 443), ...options.headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${host}${options.path}: timed out`)));
      req.on('error', reject);
      req.end(options.body);
    });
  }

  close() {
    this.agent.destroy();
  }
}

/** A plain-HTTP request to the lab's HTTP port (which only redirects). */
export function labHttp(host: string, path: string): Promise<LabResponse> {
  const node1 = node1Ports();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: node1.host,
        port: node1.http,
        path,
        headers: { host: hostHeader(`${host}.${BASE_DOMAIN}`, node1.http, 80) },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET http://${host}.${BASE_DOMAIN}${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}
