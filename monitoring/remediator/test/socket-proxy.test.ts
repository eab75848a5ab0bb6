// The remediator reaches Docker through docker-socket-proxy's remediator policy (traefik/socket-proxy/remediator.cfg).
// Here the real HAProxy runs that file in front of a fake engine: every call of the remediator's actions passes
// unchanged, and any other call, or an action's call with another body, gets 403 and never reaches the engine.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requireDebianTools } from '../../../scripts/lib/debian-tools.js';
import { freePort } from '../../../scripts/lib/pg-cluster.js';
import { DockerSwarmActions } from '../src/swarm.js';
import {
  ACTION_ROUTES,
  CONTAINER_ID,
  serviceInspect,
  startFakeEngine,
  type FakeEngine,
} from './helpers/fake-engine.js';
import { tempDir } from './helpers/factories.js';

const POLICY = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../traefik/socket-proxy/remediator.cfg',
);

let engine: FakeEngine;
let haproxy: ChildProcess | undefined;
let dir: string;
let base: string;
let actions: DockerSwarmActions;

beforeAll(async () => {
  await requireDebianTools({ haproxy: 'haproxy' });
  engine = await startFakeEngine(ACTION_ROUTES);
  dir = await tempDir('remediator-proxy-');
  const port = await freePort();
  let config = await readFile(POLICY, 'utf8');
  // The image drops to user haproxy in the socket's group; here the test's user runs it on a loopback port.
  config = config.replace(/^\s*(user|gid) .*\n/gm, '').replace('bind :2375', `bind 127.0.0.1:${port}`);
  const file = path.join(dir, 'remediator.cfg');
  await writeFile(file, config);
  let stderr = '';
  haproxy = spawn('haproxy', ['-db', '-f', file], {
    env: { ...process.env, DOCKER_SOCKET: engine.socketPath },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  haproxy.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (
    !(await fetch(`${base}/_ping`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`HAProxy did not answer /_ping within 10 s\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  actions = new DockerSwarmActions(
    new Docker({ host: '127.0.0.1', port, protocol: 'http', timeout: 5000 }),
    'swarmlab',
  );
}, 60_000);

afterAll(async () => {
  haproxy?.kill('SIGTERM');
  await engine?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  engine.seen.length = 0;
});

const calls = () => engine.seen.map((seen) => `${seen.method} ${seen.path}`);

async function send(method: string, target: string, body?: unknown) {
  const response = await fetch(`${base}${target}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('docker-socket-proxy, remediator policy, run for real', () => {
  it('when the remediator scales and restarts the API, then its calls reach the engine unchanged', async () => {
    expect(await actions.replicas('api')).toBe(3);
    await actions.scale('api', 4);
    await actions.forceRestart('api');
    expect(calls()).toEqual([
      'GET /services/swarmlab_api',
      'GET /services/swarmlab_api',
      'POST /services/swarmlab_api/update',
      'GET /services/swarmlab_api',
      'POST /services/swarmlab_api/update',
    ]);
    const spec = serviceInspect().Spec;
    expect(engine.seen[2]!.body).toEqual({ ...spec, Mode: { Replicated: { Replicas: 4 } } });
  });

  it('when the remediator starts the due backup, then the exec reaches the engine', async () => {
    await actions.startBackup();
    expect(calls()).toEqual([
      'GET /containers/json',
      `POST /containers/${CONTAINER_ID}/exec`,
      `POST /exec/${'e'.repeat(64)}/start`,
    ]);
  });

  it('when anything else is asked, then 403 and the engine never sees it', async () => {
    const spec = serviceInspect().Spec;
    const refused: [string, string, unknown?][] = [
      ['GET', '/services'],
      ['GET', '/v1.47/services/swarmlab_postgres1'],
      ['POST', '/services/swarmlab_backup/update', spec],
      ['POST', '/services/create', spec],
      ['DELETE', '/services/swarmlab_api'],
      ['GET', '/services/swarmlab_api/logs'],
      ['POST', '/services/swarmlab_api/../swarmlab_backup/update', spec],
      ['POST', '/services/swarmlab_api%2Fupdate', spec],
      ['POST', '/containers/create', { Image: 'x' }],
      ['GET', `/containers/${CONTAINER_ID}/json`],
      ['GET', '/secrets'],
      ['GET', '/nodes'],
      ['POST', '/swarm/leave'],
      // The API service given a mount of the node, or a capability: not a scale, not a restart.
      [
        'POST',
        '/services/swarmlab_api/update',
        {
          ...spec,
          TaskTemplate: {
            ContainerSpec: {
              Image: 'x',
              Mounts: [{ Type: 'bind', Source: '/var/run/docker.sock', Target: '/var/run/docker.sock' }],
            },
          },
        },
      ],
      [
        'POST',
        '/services/swarmlab_api/update',
        { ...spec, TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Type: 'volume', Source: 'pgdata' }] } } },
      ],
      [
        'POST',
        '/services/swarmlab_api/update',
        { ...spec, TaskTemplate: { ContainerSpec: { Image: 'x', CapabilityAdd: ['CAP_SYS_ADMIN'] } } },
      ],
      // Another command, or the right one as root or privileged.
      ['POST', `/containers/${CONTAINER_ID}/exec`, { Cmd: ['sh', '-c', 'id'], AttachStdout: true }],
      [
        'POST',
        `/containers/${CONTAINER_ID}/exec`,
        {
          Cmd: ['backup-job', 'backup', 'due'],
          AttachStdin: false,
          AttachStdout: false,
          AttachStderr: false,
          Tty: false,
          User: 'root',
        },
      ],
      [
        'POST',
        `/containers/${CONTAINER_ID}/exec`,
        {
          Cmd: ['backup-job', 'backup', 'full'],
          AttachStdin: false,
          AttachStdout: false,
          AttachStderr: false,
          Tty: false,
        },
      ],
    ];
    const answers = [];
    for (const [method, target, body] of refused)
      answers.push(`${method} ${target} → ${await send(method, target, body)}`);
    expect(answers).toEqual(refused.map(([method, target]) => `${method} ${target} → 403`));
    expect(calls()).toEqual([]);
  });
});
