// The deploy's decisions (scripts/lib/deploy-plan.ts): registry tags by content, what to push, convergence,
// what to roll back.
import { describe, expect, it } from 'vitest';
import {
  contentTag,
  convergence,
  planImages,
  servicesToRollBack,
  stackFingerprint,
  type ImageInspect,
  type ServiceState,
} from '../lib/deploy-plan.js';

const image = (
  overrides: Partial<ImageInspect['Config']> = {},
  layers = ['sha256:aaa', 'sha256:bbb'],
): ImageInspect => ({
  RootFS: { Layers: layers },
  Config: {
    User: 'node',
    Env: ['NODE_ENV=production'],
    Cmd: ['node', 'dist/server.js'],
    Labels: { 'org.opencontainers.image.revision': 'abc', 'org.opencontainers.image.created': '2026-11-21T00:00:00Z' },
    ...overrides,
  },
});

const service = (name: string, overrides: Partial<ServiceState> = {}): ServiceState => ({
  name,
  desired: 1,
  running: 1,
  taskErrors: [],
  ...overrides,
});

describe('contentTag', () => {
  it('when only the labels differ (a rebuild at another commit or time), then the tag is the same', () => {
    const later = image({
      Labels: { 'org.opencontainers.image.revision': 'def', 'org.opencontainers.image.created': 'x' },
    });
    expect(contentTag(later)).toBe(contentTag(image()));
    expect(contentTag(image())).toMatch(/^c-[0-9a-f]{12}$/);
  });

  it('when a layer, the command, the user or the environment differs, then the tag differs', () => {
    const base = contentTag(image());
    expect(contentTag(image({}, ['sha256:aaa', 'sha256:ccc']))).not.toBe(base);
    expect(contentTag(image({ Cmd: ['node', 'dist/migrate.js'] }))).not.toBe(base);
    expect(contentTag(image({ User: 'root' }))).not.toBe(base);
    expect(contentTag(image({ Env: ['NODE_ENV=production', 'GIT_SHA=def'] }))).not.toBe(base);
  });

  it('when given something that is not an image (no layers), then it throws', () => {
    expect(() => contentTag({})).toThrow(/no layers/);
  });
});

describe('planImages', () => {
  it('when the registry holds an image content, then it is not pushed again (its digest and services stay)', () => {
    const plan = planImages(
      [
        { name: 'api', tag: 'c-111111111111' },
        { name: 'postgres', tag: 'c-222222222222' },
      ],
      new Set(['postgres:c-222222222222', 'api:c-000000000000']),
    );
    expect(plan).toEqual([
      { name: 'api', tag: 'c-111111111111', push: true },
      { name: 'postgres', tag: 'c-222222222222', push: false },
    ]);
  });
});

describe('stackFingerprint', () => {
  it('when the rendered stack is the same, then so is the fingerprint; any change changes it', () => {
    expect(stackFingerprint('services: {a: 1}')).toBe(stackFingerprint('services: {a: 1}'));
    expect(stackFingerprint('services: {a: 1}')).not.toBe(stackFingerprint('services: {a: 2}'));
  });
});

describe('convergence', () => {
  it('when every service runs its desired replicas and no update is under way, then the stack has converged', () => {
    expect(convergence([service('api', { desired: 3, running: 3, update: 'completed' }), service('etcd1')])).toEqual({
      state: 'converged',
    });
  });

  it('when replicas are missing or an update is still under way, then it waits and names them', () => {
    expect(
      convergence([
        service('api', { desired: 3, running: 3, update: 'updating' }),
        service('etcd1', { running: 0 }),
        service('traefik', { desired: 0, running: 0 }),
      ]),
    ).toEqual({ state: 'waiting', pending: ['api', 'etcd1'] });
  });

  it('when an update is paused or rolling back, then the deploy has failed, naming the service and why', () => {
    for (const update of ['paused', 'rollback_started', 'rollback_completed', 'rollback_paused']) {
      const result = convergence([
        service('etcd1'),
        service('api', { desired: 3, running: 3, update, updateMessage: 'update paused due to failure' }),
      ]);
      expect(result).toMatchObject({ state: 'failed', service: 'api' });
      expect(result.state === 'failed' && result.reason).toContain('update paused due to failure');
    }
  });
});

describe('servicesToRollBack', () => {
  it('when a deploy fails, then it rolls back the services it updated, except those Swarm already rolls back', () => {
    const states = [
      service('api', { update: 'rollback_started' }),
      service('db-router', { update: 'completed' }),
      service('etcd1'),
    ];
    expect(servicesToRollBack(['api', 'db-router', 'etcd1', 'gone'], states)).toEqual(['db-router', 'etcd1']);
  });
});
