import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { signedInUser } from './factories/users.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

describe('system endpoints', () => {
  it('GET / › name, version, git sha and links', async () => {
    const response = await app.http().get('/');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ name: 'swarmlab-api', version: '0.1.0', gitSha: 'test-sha' });
    expect(response.body.links).toMatchObject({ docs: '/docs', openapi: '/openapi.json' });
    expect(response.body.links).not.toHaveProperty('metrics');
  });

  it('GET /healthz and /readyz › 200 while the database answers', async () => {
    expect((await app.http().get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await app.http().get('/readyz')).body).toEqual({ status: 'ready' });
  });

  it('when the database has never answered, then /healthz 503 too (a release that never gets ready never turns healthy)', async () => {
    const broken = await startTestApp({ databaseUrl: 'postgresql://app:nothing@127.0.0.1:9/none' });
    try {
      const response = await broken.http().get('/healthz');
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({ code: 'not-ready-yet' });
      expect((await broken.http().get('/readyz')).status).toBe(503);
    } finally {
      await broken.close();
    }
  });

  it('GET /openapi.json › an OpenAPI 3.1 document with every route, auth and problem responses', async () => {
    const response = await app.http().get('/openapi.json');
    expect(response.status).toBe(200);
    const doc = response.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, methods] of Object.entries({
      '/v1/auth/login': ['post'],
      '/v1/auth/me': ['get'],
      '/v1/users': ['get', 'post'],
      '/v1/users/{id}': ['get', 'patch', 'delete'],
      '/v1/users/import': ['post'],
      '/v1/users/export': ['get'],
      '/v1/items': ['get', 'post'],
      '/v1/items/{id}': ['get', 'patch', 'delete'],
      '/healthz': ['get'],
      '/readyz': ['get'],
    })) {
      expect(Object.keys(doc.paths[path] ?? {}), path).toEqual(expect.arrayContaining(methods));
    }
    expect(JSON.stringify(doc.paths['/v1/auth/me'])).toContain('application/problem+json');
  });

  it('GET /docs › the browsable documentation, served from this origin', async () => {
    const response = await app.http().get('/docs/');
    expect(response.status).toBe(200);
    expect(response.text).toContain('swagger-ui');
  });

  it('when a route does not exist, then 404 problem+json', async () => {
    const response = await app.http().get('/v1/nothing-here');
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body).toMatchObject({ status: 404, code: 'route-not-found', instance: '/v1/nothing-here' });
  });

  it('sends security headers and no X-Powered-By', async () => {
    const response = await app.http().get('/');
    expect(response.headers['x-powered-by']).toBeUndefined();
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['strict-transport-security']).toContain('max-age=');
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
  });
});

describe('request ids and logs', () => {
  it('when the client sends X-Request-Id, then it is returned and on the access log line', async () => {
    const response = await app.http().get('/healthz').set('X-Request-Id', 'req-abc.123');
    expect(response.headers['x-request-id']).toBe('req-abc.123');
    const line = app.logs.find((l) => l.message === 'request' && l.requestId === 'req-abc.123');
    expect(line).toMatchObject({ level: 'http', method: 'GET', route: '/healthz', status: 200 });
  });

  it('when the incoming id is unsafe, then a new one is made', async () => {
    const response = await app.http().get('/healthz').set('X-Request-Id', '<script>alert(1)</script>');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('when a request fails, then the problem carries the request id and the log line is a warning', async () => {
    const response = await app.http().get('/v1/auth/me').set('X-Request-Id', 'req-401');
    expect(response.body.requestId).toBe('req-401');
    expect(app.logs.find((l) => l.requestId === 'req-401' && l.message === 'request')).toMatchObject({
      level: 'warn',
      status: 401,
    });
  });

  it('when the client goes away before the answer, then the request is logged and counted as 499', async () => {
    const socket = net.connect(Number(new URL(app.baseUrl).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    // A login (an argon2 check takes milliseconds): the client hangs up as soon as it has sent it.
    const body = '{"email":"gone@example.com","password":"some-password-123"}';
    socket.write(
      'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-gone\r\n' +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && !line; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      line = app.logs.find((l) => l.requestId === 'req-gone' && l.message === 'request');
    }
    expect(line).toMatchObject({ status: 499, route: '/v1/auth/login', level: 'warn' });
    expect(await app.metrics()).toContain('route="/v1/auth/login",status_code="499"');
  });
});

describe('metrics', () => {
  it('when asked on the public port in any spelling, then 404; on METRICS_PORT, GET /metrics only', async () => {
    for (const spelling of ['/metrics', '/metrics/', '/METRICS', '/Metrics', '/metrics?x=1', '//metrics'])
      expect((await app.http().get(spelling)).status, spelling).toBe(404);
    const metricsUrl = new URL(app.baseUrl);
    metricsUrl.port = String(app.metricsPort);
    expect((await fetch(new URL('/metrics', metricsUrl))).status).toBe(200);
    for (const [method, spelling] of [
      ['GET', '/METRICS'],
      ['GET', '/'],
      ['POST', '/metrics'],
    ] as const)
      expect((await fetch(new URL(spelling, metricsUrl), { method })).status, `${method} ${spelling}`).toBe(404);
  });

  it('labels requests by route template, never the raw path', async () => {
    const { auth } = await signedInUser(app, { role: 'admin' });
    await app.http().get('/v1/users/424242').set(auth);
    await app.http().get('/v1/items/31337').set(auth);
    await app.http().get('/no/such/path/99');
    const text = await app.metrics();
    expect(text).toContain(
      'http_request_duration_seconds_count{method="GET",route="/v1/users/:id",status_code="404"} 1',
    );
    expect(text).toContain(
      'http_request_duration_seconds_count{method="GET",route="/v1/items/:id",status_code="404"} 1',
    );
    expect(text).toContain('route="unmatched"');
    expect(text).not.toContain('424242');
    expect(text).not.toContain('/no/such/path');
  });

  it('exposes build info, process, pool, error and login metrics', async () => {
    const text = await app.metrics();
    expect(text).toContain('build_info{version="0.1.0",git_sha="test-sha"} 1');
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toMatch(/db_pool_connections\{pool="primary",state="idle"\} \d+/);
    expect(text).toContain('http_errors_total{code="route-not-found",status_code="404"}');
  });
});

describe('graceful shutdown', () => {
  it('when shutdown starts, then /readyz turns 503, an in-flight request finishes, and new connections are refused', async () => {
    const instance = await startTestApp({ env: { SHUTDOWN_DELAY_MS: '400' } });
    try {
      const port = Number(new URL(instance.baseUrl).port);
      const body = JSON.stringify({ email: 'nobody@example.com', password: 'x'.repeat(20) });
      // A login whose body arrives in two halves: in flight across the start of the shutdown.
      const inFlight = new Promise<number>((resolve, reject) => {
        const request = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/auth/login',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.write(body.slice(0, 10));
        setTimeout(() => request.end(body.slice(10)), 600);
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const stopping = instance.shutdown();
      const ready = await fetch(`${instance.baseUrl}/readyz`, { headers: { connection: 'close' } });
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { code: string }).code).toBe('shutting-down');

      expect(await inFlight).toBe(401);
      await stopping;
      await expect(fetch(`${instance.baseUrl}/healthz`)).rejects.toThrow();
      expect(instance.logs.map((l) => l.message)).toEqual(
        expect.arrayContaining(['shutdown started', 'shutdown complete']),
      );
    } finally {
      await instance.close();
    }
  });
});
