// A database away for a moment (a planned switchover, a failover) costs a request time, not an error: it waits up to
// DB_WAIT_SECONDS and succeeds once the leader answers again, and /readyz keeps the task in the edge for
// READY_GRACE_SECONDS. Longer outages still answer 503 (db-unavailable.api.test.ts). Real PostgreSQL (a primary and
// its streaming replica) behind a TCP proxy that plays the lab's db-router.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRoutedApp, type RoutedApp } from './helpers/routed-app.js';

const WAIT_SECONDS = 6;
const GRACE_SECONDS = 3;

let routed: RoutedApp;

beforeAll(async () => {
  routed = await startRoutedApp({ DB_WAIT_SECONDS: String(WAIT_SECONDS), READY_GRACE_SECONDS: String(GRACE_SECONDS) });
}, 120_000);

afterAll(async () => {
  await routed?.destroy();
});

const cutApiConnections = () => routed.cutApiConnections();

afterEach(async () => {
  routed.router.set({ forward: routed.cluster.primary.port });
  await routed.router.listen();
  expect((await write('after')).status).toBe(201);
});

const write = (title: string) =>
  routed.app.http().post('/v1/items').set(routed.auth).send({ title, body: '', tags: [] });
const stored = async (title: string) =>
  Number(
    (await routed.cluster.sql(routed.cluster.primary, `SELECT count(*) FROM app.items WHERE title = '${title}'`))
      .rows[0]!.count,
  );
const later = (ms: number, fn: () => unknown) => new Promise((resolve) => setTimeout(() => resolve(fn()), ms));
const superuserSql = (statement: string) => routed.cluster.sql(routed.cluster.primary, statement);

/** Waits until a session of the API's role waits on `event` (pg_stat_activity.wait_event), then ends it. */
async function terminateApiSessionWaitingOn(event: string) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { rows } = await superuserSql(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE usename = 'app' AND wait_event = '${event}'`,
    );
    if (rows.length > 0) return;
    await later(25, () => undefined);
  }
  throw new Error(`no session of the API waited on ${event}`);
}

describe('when the database is away for less than DB_WAIT_SECONDS', () => {
  it('when no leader answers for 1.5 s (the router refuses connections), then a write waits and is stored once', async () => {
    await cutApiConnections();
    await routed.router.stop();
    const title = `wait-${Date.now()}`;
    const started = Date.now();
    const [response] = await Promise.all([write(title), later(1500, () => routed.router.listen())]);

    expect(response.status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(await stored(title)).toBe(1);
  });

  it('when the router still sends writes to the member just demoted (a replica) for 1.5 s, then the write waits for the leader', async () => {
    await routed.cluster.caughtUp();
    routed.router.set({ forward: routed.cluster.replica.port });
    await cutApiConnections();
    const title = `demoted-${Date.now()}`;
    const [response] = await Promise.all([
      write(title),
      later(1500, () => routed.router.set({ forward: routed.cluster.primary.port })),
    ]);

    expect(response.status, response.text).toBe(201);
    expect(await stored(title)).toBe(1);
    expect(routed.app.logs.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('when the database stays away longer, then the write answers 503 after about DB_WAIT_SECONDS, not before', async () => {
    await cutApiConnections();
    await routed.router.stop();
    const started = Date.now();
    const response = await write(`gone-${Date.now()}`);

    expect(response.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual((WAIT_SECONDS - 1) * 1000);
  }, 30_000);
});

// A member stopping (Patroni demoting it) ends every session. One waiting at COMMIT for the synchronous standby has
// already committed locally and gets no answer at all; one ended before COMMIT has not committed.
describe('when a session ends under a write', () => {
  it('when it ends while COMMIT waits for the synchronous standby (committed locally), then the write answers 201 and is stored once', async () => {
    // The test clusters run with synchronous_commit off (a command-line setting, which a role's setting overrides in
    // the role's new sessions): on for the API here, and a synchronous standby that never answers.
    await superuserSql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
    await superuserSql('SELECT pg_reload_conf()');
    await superuserSql('ALTER ROLE app SET synchronous_commit = on');
    await cutApiConnections();
    const title = `commit-${Date.now()}`;
    try {
      const [response] = await Promise.all([write(title), terminateApiSessionWaitingOn('SyncRep')]);
      expect(response.status, response.text).toBe(201);
    } finally {
      await superuserSql('ALTER SYSTEM RESET synchronous_standby_names');
      await superuserSql('ALTER ROLE app RESET synchronous_commit');
      await superuserSql('SELECT pg_reload_conf()');
    }
    expect(await stored(title)).toBe(1);
  });

  it('when it ends before COMMIT (the statement waits on a lock), then the write runs again and is stored once', async () => {
    const locker = new pg.Client(routed.cluster.primary.url('swarmlab'));
    await locker.connect();
    const title = `statement-${Date.now()}`;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE app.items IN EXCLUSIVE MODE');
      const pending = write(title).then((response) => response); // supertest sends once then() is called
      await terminateApiSessionWaitingOn('relation');
      await later(300, () => locker.query('COMMIT'));
      const response = await pending;
      expect(response.status, response.text).toBe(201);
    } finally {
      await locker.end();
    }
    expect(await stored(title)).toBe(1);
  });
});

describe('/readyz while the database is away', () => {
  it('when the database answered within READY_GRACE_SECONDS, then the task stays ready (waiting); after it, 503', async () => {
    expect((await routed.app.http().get('/readyz')).body).toEqual({ status: 'ready' });
    await cutApiConnections();
    await routed.router.stop();

    const during = await routed.app.http().get('/readyz');
    expect(during.status).toBe(200);
    expect(during.body).toEqual({ status: 'waiting for the database' });

    await later(GRACE_SECONDS * 1000 + 500, () => undefined);
    expect((await routed.app.http().get('/readyz')).status).toBe(503);
  }, 20_000);
});
