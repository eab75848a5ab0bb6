// When the database cannot be used for a moment (a failover, a restart, a full server), the API answers 503
// problem+json with Retry-After, never a 500, and logs the request once, at warn, with the reason. Real PostgreSQL
// (a primary and its streaming replica) behind a TCP proxy that plays the lab's db-router.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_RETRY_AFTER_SECONDS } from '../src/middleware/error-handler.js';
import { PROBLEM_CONTENT_TYPE } from '../src/lib/problem.js';
import type { TestApp } from './helpers/app.js';
import type { ReplicatedCluster } from './helpers/replicated-cluster.js';
import { startRoutedApp, type RoutedApp } from './helpers/routed-app.js';
import type { TcpProxy } from './helpers/tcp-proxy.js';

let cluster: ReplicatedCluster;
let router: TcpProxy;
let app: TestApp;
let auth: Record<string, string>;
let routed: RoutedApp;

beforeAll(async () => {
  // At once: these tests name the reason of each outage (db-wait.api.test.ts waits one out).
  routed = await startRoutedApp({ DB_WAIT_SECONDS: '0' });
  ({ cluster, router, app, auth } = routed);
}, 120_000);

afterAll(async () => {
  await routed?.destroy();
});

const cutApiConnections = () => routed.cutApiConnections();

// Each test breaks one thing; this puts the database back and waits until the API writes again.
afterEach(async () => {
  router.set({ forward: cluster.primary.port });
  await router.listen();
  // pg_ctl start fails on a running server: only the test that stopped it needs this.
  await cluster.primary.start().catch(() => undefined);
  await cluster.sql(cluster.primary, 'ALTER ROLE app CONNECTION LIMIT -1');
  for (let attempt = 0; ; attempt++) {
    const response = await app.http().post('/v1/items').set(auth).send({ title: 'back', body: '', tags: [] });
    if (response.status === 201) break;
    if (attempt > 50) throw new Error(`the API did not write again: ${response.status} ${response.text}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 60_000);

/** Asserts the 503 and the one warn line that logs it; returns the line. */
function expectUnavailable(
  response: { status: number; headers: Record<string, string>; body: unknown },
  reason: string,
) {
  expect(response.status).toBe(503);
  expect(response.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
  expect(response.headers['retry-after']).toBe(String(DATABASE_RETRY_AFTER_SECONDS));
  const body = response.body as { code: string; status: number; requestId: string; detail: string };
  expect(body).toMatchObject({ code: 'database-unavailable', status: 503 });
  const lines = app.logs.filter((line) => line.requestId === body.requestId);
  expect(lines).toEqual([
    expect.objectContaining({ level: 'warn', status: 503, code: 'database-unavailable', reason }),
  ]);
  expect(app.logs.filter((line) => line.level === 'error')).toEqual([]);
}

/** The body as JSON whatever its content type (supertest parses only application/json). */
const parsed = (response: { text: string }) => JSON.parse(response.text) as unknown;

async function request(method: 'get' | 'post', path: string) {
  const pending =
    method === 'get' ? app.http().get(path) : app.http().post(path).send({ title: 't', body: '', tags: [] });
  const response = await pending.set(auth);
  return { status: response.status, headers: response.headers as Record<string, string>, body: parsed(response) };
}

describe('when the database is unavailable', () => {
  it('when the leader is stopped behind the router, then a read answers 503 with Retry-After (connection lost)', async () => {
    await cluster.primary.stop();
    expectUnavailable(await request('get', '/v1/items'), 'connection-lost');
  });

  it('when nothing listens where the database was, then 503 (unreachable)', async () => {
    await cutApiConnections();
    await router.stop();
    expectUnavailable(await request('get', '/v1/items'), 'unreachable');
  });

  it('when the router accepts connections but no leader answers them, then 503 after the connect timeout', async () => {
    await cutApiConnections();
    router.set('hang');
    expectUnavailable(await request('post', '/v1/items'), 'connect-timeout');
  }, 20_000);

  it('when the connection is cut while a write waits, then 503 (connection lost) and nothing is half-written', async () => {
    const title = `cut-${Date.now()}`;
    const before = Number((await cluster.sql(cluster.primary, 'SELECT count(*) FROM app.items')).rows[0]!.count);
    // Hold the table so that the API's INSERT waits on the lock, then end the API's sessions under it.
    const held = cluster.sql(
      cluster.primary,
      'BEGIN; LOCK TABLE app.items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pending = app.http().post('/v1/items').set(auth).send({ title, body: '', tags: [] });
    const response = pending.then((r) => ({
      status: r.status,
      headers: r.headers as Record<string, string>,
      body: parsed(r),
    }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await cutApiConnections();
    expectUnavailable(await response, 'connection-lost');
    await held;
    const after = await cluster.sql(cluster.primary, `SELECT count(*) FROM app.items WHERE title = '${title}'`);
    expect(Number(after.rows[0]!.count)).toBe(0);
    expect(Number((await cluster.sql(cluster.primary, 'SELECT count(*) FROM app.items')).rows[0]!.count)).toBe(before);
  });

  it('when the server refuses more connections for the role, then 503 (too many connections)', async () => {
    await cluster.sql(cluster.primary, 'ALTER ROLE app CONNECTION LIMIT 0');
    await cutApiConnections();
    expectUnavailable(await request('get', '/v1/items'), 'too-many-connections');
  });

  it('when the router still sends writes to a member just demoted (a switchover), then 503 (read-only)', async () => {
    await cluster.caughtUp();
    // The replica has replayed the end of the connection limit set by the test before (else: too many connections).
    for (let attempt = 0; attempt < 100; attempt++) {
      const [role] = (await cluster.sql(cluster.replica, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'app'"))
        .rows;
      if (Number(role!.rolconnlimit) === -1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    router.set({ forward: cluster.replica.port });
    await cutApiConnections();
    expectUnavailable(await request('post', '/v1/items'), 'read-only');
  });
});
