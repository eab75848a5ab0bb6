// DockerSwarmActions through real dockerode, against a fake Engine API on a Unix socket: the requests it sends
// (paths, query, bodies) are the contract with Docker. The real engine is exercised by the end-to-end test.
import Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { DockerSwarmActions } from '../src/swarm.js';
import {
  CONTAINER_ID,
  EXEC_ID,
  serviceInspect,
  startFakeEngine,
  type FakeEngine,
  type Routes,
} from './helpers/fake-engine.js';

let engine: FakeEngine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

async function fakeEngine(routes: Routes) {
  engine = await startFakeEngine(routes);
  const actions = new DockerSwarmActions(new Docker({ socketPath: engine.socketPath, timeout: 5000 }), 'swarmlab');
  return { actions, seen: engine.seen };
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
