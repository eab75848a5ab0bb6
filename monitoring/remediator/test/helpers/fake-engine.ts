// A fake Docker Engine API on a Unix socket: it records each request (method, path, query, parsed body) and answers
// from a table of routes ("METHOD /path" → reply); anything else is a 404 like Docker's. The contract tests of
// swarm.ts and of the socket proxy's remediator policy run against it; the real engine is the end-to-end test's.
import { chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import path from 'node:path';
import { tempDir } from './factories.js';

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export type Reply = { status: number; body?: unknown };
export type Routes = Record<string, Reply | ((seen: Seen) => Reply)>;

export const CONTAINER_ID = 'c'.repeat(64);
export const EXEC_ID = 'e'.repeat(64);

export function serviceInspect(overrides: Record<string, unknown> = {}) {
  return {
    ID: 'svc123',
    Version: { Index: 42 },
    Spec: {
      Name: 'swarmlab_api',
      Labels: { 'com.docker.stack.namespace': 'swarmlab' },
      TaskTemplate: { ContainerSpec: { Image: '127.0.0.1:5000/swarmlab/api:c-1@sha256:abc' }, ForceUpdate: 2 },
      Mode: { Replicated: { Replicas: 3 } },
      EndpointSpec: { Mode: 'dnsrr' },
      ...overrides,
    },
  };
}

/** Every route an action of swarm.ts calls, answered as the engine would. */
export const ACTION_ROUTES: Routes = {
  'GET /_ping': { status: 200 },
  'GET /services/swarmlab_api': { status: 200, body: serviceInspect() },
  'POST /services/swarmlab_api/update': { status: 200, body: { Warnings: null } },
  'GET /containers/json': { status: 200, body: [{ Id: CONTAINER_ID, Names: ['/swarmlab_backup.1.x'] }] },
  [`POST /containers/${CONTAINER_ID}/exec`]: { status: 201, body: { Id: EXEC_ID } },
  [`POST /exec/${EXEC_ID}/start`]: { status: 200 },
};

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

export interface FakeEngine {
  socketPath: string;
  seen: Seen[];
  close: () => Promise<void>;
}

export async function startFakeEngine(routes: Routes): Promise<FakeEngine> {
  const seen: Seen[] = [];
  const dir = await tempDir('remediator-docker-');
  const socketPath = path.join(dir, 'docker.sock');
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    const request: Seen = {
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      body: await readBody(req),
    };
    seen.push(request);
    const route = routes[`${request.method} ${request.path}`];
    const reply =
      typeof route === 'function' ? route(request) : (route ?? { status: 404, body: { message: 'page not found' } });
    res.writeHead(reply.status, { 'Content-Type': 'application/json' });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  // Reachable by a proxy that runs as another user, as the engine's socket is by its group.
  await chmod(dir, 0o755);
  await chmod(socketPath, 0o666);
  return {
    socketPath,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
