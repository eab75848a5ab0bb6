// Cross-cutting checks driven by the OpenAPI document, so that a new route cannot skip them: every secured
// route refuses anonymous callers and bad tokens, every admin route refuses a plain user, and no hostile
// input produces a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { signedInUser } from './factories/users.js';

interface Operation {
  method: string;
  path: string;
  secured: boolean;
  adminOnly: boolean;
}

let app: TestApp;
let operations: Operation[];
beforeAll(async () => {
  app = await startTestApp();
  const doc = (await app.http().get('/openapi.json')).body as {
    paths: Record<string, Record<string, { security?: unknown[]; 'x-access': string }>>;
  };
  operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method,
      path: path.replace(/\{[^}]+\}/g, '1'),
      secured: Boolean(op.security?.length),
      adminOnly: op['x-access'] === 'admin',
    })),
  );
});
afterAll(() => app?.close());

const send = (method: string, path: string) =>
  (app.http() as unknown as Record<string, (p: string) => import('supertest').Test>)[method]!(path);

describe('every secured route', () => {
  it('when called anonymously, with a malformed header or a bad token, then 401 problem+json', async () => {
    const secured = operations.filter((op) => op.secured);
    expect(secured.length).toBeGreaterThan(8);
    for (const op of secured) {
      for (const header of [undefined, 'Bearer', 'Token abc', 'Bearer not.a.jwt', `Bearer ${'a'.repeat(5000)}`]) {
        const request = send(op.method, op.path);
        if (header) request.set('Authorization', header);
        const response = await request;
        expect(response.status, `${op.method} ${op.path} with ${header ?? 'no header'}`).toBe(401);
        expect(response.headers['content-type']).toContain('application/problem+json');
      }
    }
  });

  it('when a plain user calls an admin-only route, then 403', async () => {
    const { auth } = await signedInUser(app);
    const adminOnly = operations.filter((op) => op.adminOnly);
    expect(adminOnly.length).toBeGreaterThan(4);
    for (const op of adminOnly) {
      const response = await send(op.method, op.path).set(auth);
      expect(response.status, `${op.method} ${op.path}`).toBe(403);
    }
  });
});

describe('hostile input', () => {
  it('never answers 5xx, whatever the body, on any route', async () => {
    const { auth } = await signedInUser(app, { role: 'admin' });
    const bodies: [string, string | Buffer][] = [
      ['application/json', '{"title": '],
      ['application/json', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d])],
      ['application/json', '{"email":"a\\u0000@example.com","name":"\\u0000","title":"\\u0000","password":"x"}'],
      ['application/json', `{"name":"${'x'.repeat(10_000)}","title":"${'x'.repeat(10_000)}"}`],
      ['application/json', `{"email":"' OR 1=1; DROP TABLE app.users; --@x.io","title":"'; DROP TABLE app.items; --"}`],
      ['application/json', '[1,2,3]'],
      ['application/json', 'null'],
      ['application/json; charset=latin1', '{}'],
      ['text/plain', 'hello'],
      ['application/xml', '<a/>'],
    ];
    for (const op of operations) {
      for (const [type, body] of bodies) {
        const response = await send(op.method, op.path).set(auth).set('Content-Type', type).send(body);
        expect(response.status, `${op.method} ${op.path} ${type} ${String(body).slice(0, 40)}`).toBeLessThan(500);
      }
    }
    expect(await app.prisma.user.count()).toBeGreaterThan(0);
    expect(await app.prisma.item.count()).toBe(0);
  });

  it('when the JSON body is larger than the limit, then 413', async () => {
    const { auth } = await signedInUser(app, { role: 'admin' });
    const response = await app
      .http()
      .post('/v1/items')
      .set(auth)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ title: 't', body: 'x'.repeat(200 * 1024) }));
    expect(response.status).toBe(413);
    expect(response.body.code).toBe('payload-too-large');
  });

  it('when query values are hostile, then 400, never 5xx', async () => {
    const { auth } = await signedInUser(app, { role: 'admin' });
    const values = ['-1', '0', '1e9', 'NaN', 'abc', '%00', "'; DROP TABLE app.users; --", 'x'.repeat(10_000)];
    for (const op of operations.filter((o) => o.method === 'get')) {
      for (const value of values) {
        const query = { limit: value, cursor: value, sort: value, order: value, active: value };
        const response = await app.http().get(op.path).set(auth).query(query);
        expect(response.status, `${op.path} ${value.slice(0, 20)}`).toBeLessThan(500);
      }
    }
    for (const id of ['0', '-5', '99999999999', 'abc', '1.5', '%27']) {
      const response = await app.http().get(`/v1/users/${id}`).set(auth);
      expect(response.status, id).toBe(400);
    }
  });
});
