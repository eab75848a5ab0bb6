// Who may call which users route: every route × anonymous, a user (on their own id and on another's) and an
// admin. A refused call must write nothing.
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUser, createUser, signedInUser } from './factories/users.js';
import { startTestApp, type TestApp } from './helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

type Caller = 'anonymous' | 'user on own id' | 'user on other id' | 'admin';

interface RouteCase {
  name: string;
  send: (http: supertest.Agent, id: number) => supertest.Test;
  expected: Partial<Record<Caller, number>>;
}

const routes: RouteCase[] = [
  {
    name: 'GET /v1/users',
    send: (http) => http.get('/v1/users'),
    expected: { anonymous: 401, 'user on own id': 403, admin: 200 },
  },
  {
    name: 'POST /v1/users',
    send: (http) => {
      const { email, name, password } = buildUser();
      return http.post('/v1/users').send({ email, name, password });
    },
    expected: { anonymous: 401, 'user on own id': 403, admin: 201 },
  },
  {
    name: 'GET /v1/users/:id',
    send: (http, id) => http.get(`/v1/users/${id}`),
    expected: { anonymous: 401, 'user on own id': 200, 'user on other id': 403, admin: 200 },
  },
  {
    name: 'PATCH /v1/users/:id',
    send: (http, id) => http.patch(`/v1/users/${id}`).send({ name: 'Changed' }),
    expected: { anonymous: 401, 'user on own id': 403, 'user on other id': 403, admin: 200 },
  },
  {
    name: 'POST /v1/users/:id/deactivate',
    send: (http, id) => http.post(`/v1/users/${id}/deactivate`),
    expected: { anonymous: 401, 'user on own id': 403, 'user on other id': 403, admin: 200 },
  },
  {
    name: 'DELETE /v1/users/:id',
    send: (http, id) => http.delete(`/v1/users/${id}`),
    expected: { anonymous: 401, 'user on own id': 403, 'user on other id': 403, admin: 204 },
  },
];

const cases = routes.flatMap((route) =>
  Object.entries(route.expected).map(([caller, status]) => ({ route, caller: caller as Caller, status })),
);

const dbState = () => app.prisma.user.findMany({ orderBy: { id: 'asc' } });

describe('users routes authorization', () => {
  it.each(cases)('$route.name as $caller → $status', async ({ route, caller, status }) => {
    const { user, auth } = await signedInUser(app, { role: caller === 'admin' ? 'admin' : 'user' });
    const target = caller === 'user on own id' ? user : await createUser(app.prisma);
    const before = await dbState();

    const request = route.send(app.http(), target.id);
    const response = await (caller === 'anonymous' ? request : request.set(auth));

    expect(response.status, response.text).toBe(status);
    if (status === 401) expect(response.body.code).toBe('unauthenticated');
    if (status === 403) expect(response.body.code).toBe('forbidden');
    if (status >= 400) expect(await dbState()).toEqual(before);
  });
});
