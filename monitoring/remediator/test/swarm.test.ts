// DockerSwarmActions through real dockerode, against a fake Engine API on a Unix socket: the requests it sends
// (paths, query, bodies) are the contract with Docker. The real engine is exercised by the end-to-end test.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import path from 'node:path';
import Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { DockerSwarmActions } from '../src/swarm.js';
import { tempDir } from './helpers/factories.js';

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

type Reply = { status: number; body?: unknown };

const CONTAINER_ID = 'c'.repeat(64);
const EXEC_ID = 'e'.repeat(64);

function serviceInspect(overrides: Record<string, unknown> = {}) {
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

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A fake engine answering from `routes` ("METHOD /path" → reply); anything else is a 404 like Docker's. */
async function fakeEngine(routes: Record<string, Reply | ((seen: Seen) => Reply)>) {
  const seen: Seen[] = [];
  const socketPath = path.join(await tempDir('remediator-docker-'), 'docker.sock');
  server = createServer(async (req, res) => {
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
  await new Promise<void>((resolve) => server!.listen(socketPath, resolve));
  const actions = new DockerSwarmActions(new Docker({ socketPath, timeout: 5000 }), 'swarmlab');
  return { actions, seen };
}

describe('DockerSwarmActions', () => {
  it('when asked for replicas, then it inspects <stack>_<service> and reads the replicated count', async () => {
    const { actions, seen } = await fakeEngine({
      'GET /services/swarmlab_api': { status: 200, body: serviceInspect() },
    });
    expect(await actions.replicas('api')).toBe(3);
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /services/swarmlab_api']);
  });

  it('when scaling, then it updates the inspected spec with the new count, at the inspected version', async () => {
    const { actions, seen } = await fakeEngine({
      'GET /services/swarmlab_api': { status: 200, body: serviceInspect() },
      'POST /services/swarmlab_api/update': { status: 200, body: { Warnings: null } },
    });
    await actions.scale('api', 4);
    const update = seen[1]!;
    expect(update.method).toBe('POST');
    expect(Object.fromEntries(update.query)).toEqual({ version: '42' });
    expect(update.body).toEqual({ ...serviceInspect().Spec, Mode: { Replicated: { Replicas: 4 } } });
  });

  it('when restarting, then it increments TaskTemplate.ForceUpdate and changes nothing else', async () => {
    const { actions, seen } = await fakeEngine({
      'GET /services/swarmlab_api': { status: 200, body: serviceInspect() },
      'POST /services/swarmlab_api/update': { status: 200, body: { Warnings: null } },
    });
    await actions.forceRestart('api');
    const spec = serviceInspect().Spec;
    expect(seen[1]!.body).toEqual({ ...spec, TaskTemplate: { ...spec.TaskTemplate, ForceUpdate: 3 } });
  });

  it('when the service is global, then scaling fails with a clear error and nothing is updated', async () => {
    const { actions, seen } = await fakeEngine({
      'GET /services/swarmlab_api': { status: 200, body: serviceInspect({ Mode: { Global: {} } }) },
    });
    await expect(actions.scale('api', 4)).rejects.toThrow('swarmlab_api is not a replicated service');
    expect(seen).toHaveLength(1);
  });

  it('when the engine refuses the update (changed meanwhile), then the error reaches the caller', async () => {
    const { actions } = await fakeEngine({
      'GET /services/swarmlab_api': { status: 200, body: serviceInspect() },
      'POST /services/swarmlab_api/update': {
        status: 500,
        body: { message: 'rpc error: code = Unknown desc = update out of sequence' },
      },
    });
    await expect(actions.scale('api', 4)).rejects.toThrow(/update out of sequence/);
  });

  it('when starting a backup, then it execs backup-job in the running backup container, detached', async () => {
    const { actions, seen } = await fakeEngine({
      'GET /containers/json': { status: 200, body: [{ Id: CONTAINER_ID, Names: ['/swarmlab_backup.1.x'] }] },
      [`POST /containers/${CONTAINER_ID}/exec`]: { status: 201, body: { Id: EXEC_ID } },
      [`POST /exec/${EXEC_ID}/start`]: { status: 200 },
    });
    expect(await actions.startBackup()).toBe(`exec ${'e'.repeat(12)} in container ${'c'.repeat(12)}`);
    expect(JSON.parse(seen[0]!.query.get('filters')!)).toEqual({
      label: ['com.docker.swarm.service.name=swarmlab_backup'],
      status: ['running'],
    });
    expect(seen[1]!.body).toMatchObject({ Cmd: ['backup-job', 'backup', 'due'], AttachStdout: false, Tty: false });
    expect(seen[2]!.body).toMatchObject({ Detach: true });
  });

  it('when no backup container runs on this engine, then starting a backup fails and says so', async () => {
    const { actions } = await fakeEngine({ 'GET /containers/json': { status: 200, body: [] } });
    await expect(actions.startBackup()).rejects.toThrow('no running container of swarmlab_backup on this node');
  });
});
