import { randomBytes } from 'node:crypto';
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../src/lib/schemas.js';
import { verifyPassword } from '../src/lib/passwords.js';
import { buildUser, createUser, signedInUser, tokenFor } from './factories/users.js';
import { startTestApp, type TestApp } from './helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const tag = () => randomBytes(4).toString('hex');

/** Every user and item row, to assert that a refused request wrote nothing. */
const dbState = async () => ({
  users: await app.prisma.user.findMany({ orderBy: { id: 'asc' } }),
  items: await app.prisma.item.findMany({ orderBy: { id: 'asc' } }),
});

function expectProblem(response: Response, status: number, code: string, field?: string) {
  expect(response.status, response.text).toBe(status);
  expect(response.headers['content-type']).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status, code });
  if (field) expect(response.body.errors.map((error: { field: string }) => error.field)).toContain(field);
}

const signedInAdmin = () => signedInUser(app, { role: 'admin' });

/** Users with emails `<prefix>NN@example.com`, made in one statement each, so they share created_at. */
async function createUsers(prefix: string, names: string[]) {
  await app.prisma.user.createMany({
    data: names.map((name, index) => ({ email: `${prefix}${String(index).padStart(2, '0')}@example.com`, name })),
  });
}

async function walk(auth: Record<string, string>, query: Record<string, string | number>) {
  const ids: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const response = await app
      .http()
      .get('/v1/users')
      .set(auth)
      .query({ ...query, ...(cursor ? { cursor } : {}) });
    expect(response.status, response.text).toBe(200);
    ids.push(...response.body.data.map((user: { id: number }) => user.id));
    cursor = response.body.nextCursor;
    pages += 1;
  } while (cursor && pages < 100);
  return { ids, pages };
}

describe('GET /v1/users', () => {
  it('when an admin walks 45 users in every sort and order, then each appears once, in order, with ties kept stable', async () => {
    const { auth } = await signedInAdmin();
    const prefix = `page-${tag()}-`;
    // Three statements: three created_at values, each shared by 15 users; names repeat every 5 users.
    for (let batch = 0; batch < 3; batch++) {
      const names = Array.from({ length: 15 }, (_, i) => `Same ${(batch * 15 + i) % 5}`);
      await createUsers(`${prefix}${batch}`, names);
    }
    for (const sort of ['email', 'name', 'createdAt', 'id'] as const) {
      for (const order of ['asc', 'desc'] as const) {
        const expected = await app.prisma.user.findMany({
          where: { email: { startsWith: prefix } },
          orderBy: [{ [sort]: order }, { id: order }],
          select: { id: true },
        });
        const { ids, pages } = await walk(auth, { emailPrefix: prefix, sort, order, limit: 7 });
        expect(ids, `${sort} ${order}`).toEqual(expected.map((user) => user.id));
        expect(new Set(ids).size).toBe(45);
        expect(pages).toBe(7);
      }
    }
  });

  it('when names are 100 four-byte characters, then their cursors still work', async () => {
    const { auth } = await signedInAdmin();
    const prefix = `wide-${tag()}-`;
    await createUsers(prefix, ['😀'.repeat(100), '😀'.repeat(100), '😀'.repeat(99)]);
    const first = await app.http().get('/v1/users').set(auth).query({ emailPrefix: prefix, sort: 'name', limit: 1 });
    expect(first.body.nextCursor.length).toBeGreaterThan(512);
    const { ids } = await walk(auth, { emailPrefix: prefix, sort: 'name', order: 'desc', limit: 1 });
    expect(new Set(ids).size).toBe(3);
  });

  it('when no parameters are given, then 20 users by id ascending, without password hashes', async () => {
    const { auth } = await signedInAdmin();
    await createUsers(
      `default-${tag()}-`,
      Array.from({ length: 21 }, (_, i) => `Default ${i}`),
    );
    const response = await app.http().get('/v1/users').set(auth);
    expect(response.status).toBe(200);
    const ids = response.body.data.map((user: { id: number }) => user.id);
    expect(ids).toHaveLength(20);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(typeof response.body.nextCursor).toBe('string');
    expect(JSON.stringify(response.body)).not.toMatch(/password/i);
  });

  it('when filtered by active and by an email prefix in another case, then only matching users', async () => {
    const { auth } = await signedInAdmin();
    const prefix = `filter-${tag()}-`;
    const on = await createUser(app.prisma, { email: `${prefix}on@example.com` });
    const off = await createUser(app.prisma, { email: `${prefix}off@example.com`, active: false });
    await createUser(app.prisma, { email: `other-${prefix}x@example.com` });

    const emails = async (query: Record<string, string>) => {
      const response = await app.http().get('/v1/users').set(auth).query(query);
      expect(response.status).toBe(200);
      return response.body.data.map((user: { email: string }) => user.email).sort();
    };
    expect(await emails({ emailPrefix: prefix.toUpperCase() })).toEqual([off.email, on.email]);
    expect(await emails({ emailPrefix: prefix, active: 'true' })).toEqual([on.email]);
    expect(await emails({ emailPrefix: prefix, active: 'false' })).toEqual([off.email]);
  });

  it('when the email prefix holds %, _, \\ or SQL, then they match literally', async () => {
    const { auth } = await signedInAdmin();
    const t = tag();
    const emails = [`${t}%a@example.com`, `${t}xa@example.com`, `${t}_b@example.com`, `${t}\\c@example.com`];
    await app.prisma.user.createMany({ data: emails.map((email) => ({ email, name: 'Literal' })) });

    const found = async (emailPrefix: string) => {
      const response = await app.http().get('/v1/users').set(auth).query({ emailPrefix });
      expect(response.status).toBe(200);
      return response.body.data.map((user: { email: string }) => user.email);
    };
    expect(await found(`${t}%`)).toEqual([`${t}%a@example.com`]);
    expect(await found(`${t}_`)).toEqual([`${t}_b@example.com`]);
    expect(await found(`${t}\\`)).toEqual([`${t}\\c@example.com`]);
    expect(await found(`${t}'; DROP TABLE app.users; --`)).toEqual([]);
    expect(await found('%')).toEqual([]);
    expect(await app.prisma.user.count({ where: { email: { startsWith: t } } })).toBe(4);
  });

  it('when the cursor does not decode, or was made for another sort or order, then 400 on query.cursor', async () => {
    const { auth } = await signedInAdmin();
    await createUsers(`cursor-${tag()}-`, ['A', 'B', 'C']);
    const first = await app.http().get('/v1/users').set(auth).query({ sort: 'name', limit: 1 });
    const cursor = first.body.nextCursor as string;
    const bad: Record<string, string>[] = [
      { sort: 'email', cursor },
      { sort: 'name', order: 'desc', cursor },
      { cursor: 'abc' },
      { cursor: 'x'.repeat(10_000) },
      { cursor: 'not a cursor!' },
      { cursor: encodeCursor(['id', 'asc', 1], 99_999_999_999) },
      { cursor: encodeCursor(['id', 'asc', 'one'], 1) },
      { sort: 'name', cursor: encodeCursor(['name', 'asc', 'a\u0000b'], 1) },
      { sort: 'createdAt', cursor: encodeCursor(['createdAt', 'asc', 'yesterday'], 1) },
      { sort: 'email', cursor: encodeCursor(['email', 'asc', 7], 1) },
    ];
    for (const query of bad) {
      const response = await app.http().get('/v1/users').set(auth).query(query);
      expectProblem(response, 400, 'validation-failed', 'query.cursor');
    }
    const next = await app.http().get('/v1/users').set(auth).query({ sort: 'name', limit: 1, cursor });
    expect(next.status).toBe(200);
  });

  it('when limit, sort, order or active are out of range or repeated, then 400, never 5xx', async () => {
    const { auth } = await signedInAdmin();
    const cases: [string, string][] = [
      ['limit=-1', 'query.limit'],
      ['limit=0', 'query.limit'],
      ['limit=101', 'query.limit'],
      ['limit=1e9', 'query.limit'],
      ['limit=NaN', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['limit=1.5', 'query.limit'],
      ['limit=1&limit=2', 'query.limit'],
      ['sort=passwordHash', 'query.sort'],
      ['sort=name&sort=id', 'query.sort'],
      ['order=sideways', 'query.order'],
      ['active=yes', 'query.active'],
      [`emailPrefix=${'a'.repeat(200)}`, 'query.emailPrefix'],
      ['emailPrefix=%00', 'query.emailPrefix'],
    ];
    for (const [query, field] of cases) {
      const response = await app.http().get(`/v1/users?${query}`).set(auth);
      expectProblem(response, 400, 'validation-failed', field);
    }
  });
});

describe('GET /v1/users/:id', () => {
  it('when an admin asks for any user, or a user for themselves, then the user without the hash', async () => {
    const { auth: adminAuth } = await signedInAdmin();
    const { user, auth } = await signedInUser(app);
    for (const caller of [adminAuth, auth]) {
      const response = await app.http().get(`/v1/users/${user.id}`).set(caller);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        id: user.id,
        email: user.email,
        name: user.name,
        role: 'user',
        active: true,
        createdAt: user.createdAt.toISOString(),
        updatedAt: user.updatedAt.toISOString(),
      });
    }
  });

  it('when a user asks for someone else, even a missing id, then 403', async () => {
    const { auth } = await signedInUser(app);
    const other = await createUser(app.prisma);
    expectProblem(await app.http().get(`/v1/users/${other.id}`).set(auth), 403, 'forbidden');
    expectProblem(await app.http().get('/v1/users/2147483647').set(auth), 403, 'forbidden');
  });

  it('when the user does not exist, then 404 user-not-found', async () => {
    const { auth } = await signedInAdmin();
    expectProblem(await app.http().get('/v1/users/2147483647').set(auth), 404, 'user-not-found');
  });

  it('when the id is not a positive 32-bit integer, then 400 on params.id', async () => {
    const { auth } = await signedInAdmin();
    for (const id of ['0', '-5', '99999999999', 'abc', '1.5', 'NaN', '%00']) {
      expectProblem(await app.http().get(`/v1/users/${id}`).set(auth), 400, 'validation-failed', 'params.id');
    }
  });
});

describe('POST /v1/users', () => {
  it('when the body is valid, then 201 with Location, defaults applied, password hashed and usable', async () => {
    const { auth } = await signedInAdmin();
    const input = buildUser();
    const response = await app
      .http()
      .post('/v1/users')
      .set(auth)
      .send({ email: input.email.toUpperCase(), name: `  ${input.name} `, password: input.password });
    expect(response.status).toBe(201);
    expect(response.headers.location).toBe(`/v1/users/${response.body.id}`);
    expect(response.body).toMatchObject({ email: input.email, name: input.name, role: 'user', active: true });
    expect(JSON.stringify(response.body)).not.toMatch(/password/i);

    const row = await app.prisma.user.findUniqueOrThrow({ where: { id: response.body.id } });
    expect(row).toMatchObject({ email: input.email, name: input.name, role: 'user', active: true });
    expect(row.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(row.passwordHash!, input.password)).toBe(true);
    await tokenFor(app, input);
  });

  it('when role and active are given, then they are stored', async () => {
    const { auth } = await signedInAdmin();
    const { email, name, password } = buildUser();
    const response = await app
      .http()
      .post('/v1/users')
      .set(auth)
      .send({ email, name, password, role: 'admin', active: false });
    expect(response.status).toBe(201);
    expect(await app.prisma.user.findUnique({ where: { email } })).toMatchObject({ role: 'admin', active: false });
  });

  it('when the name holds SQL metacharacters, then it is stored and returned literally', async () => {
    const { auth } = await signedInAdmin();
    const { email, password } = buildUser();
    const name = `Robert'); DROP TABLE app.users; -- %_\\ "x"`;
    const response = await app.http().post('/v1/users').set(auth).send({ email, name, password });
    expect(response.status).toBe(201);
    expect(response.body.name).toBe(name);
    expect((await app.prisma.user.findUniqueOrThrow({ where: { email } })).name).toBe(name);
    expect((await app.http().get(`/v1/users/${response.body.id}`).set(auth)).body.name).toBe(name);
  });

  it('when the email is taken (in any case), then 409 email-taken and nothing written', async () => {
    const { auth } = await signedInAdmin();
    const existing = await createUser(app.prisma);
    const before = await dbState();
    const response = await app
      .http()
      .post('/v1/users')
      .set(auth)
      .send({ email: existing.email.toUpperCase(), name: 'Second', password: 'long-enough-password' });
    expectProblem(response, 409, 'email-taken');
    expect(await dbState()).toEqual(before);
  });

  it('when a field is invalid, missing or unknown, then 400 on that field and nothing written', async () => {
    const { auth } = await signedInAdmin();
    const valid = () => {
      const { email, name, password } = buildUser();
      return { email, name, password };
    };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...valid(), isAdmin: true }, 'body'],
      [{ ...valid(), password: undefined }, 'body.password'],
      [{ ...valid(), password: 'short-11-ch' }, 'body.password'],
      [{ ...valid(), name: 'x'.repeat(10_000) }, 'body.name'],
      [{ ...valid(), name: 'nul\u0000byte' }, 'body.name'],
      [{ ...valid(), name: '   ' }, 'body.name'],
      [{ ...valid(), email: 'not-an-email' }, 'body.email'],
      [{ ...valid(), role: 'root' }, 'body.role'],
      [{ ...valid(), active: 'yes' }, 'body.active'],
    ];
    const before = await dbState();
    for (const [body, field] of cases) {
      expectProblem(await app.http().post('/v1/users').set(auth).send(body), 400, 'validation-failed', field);
    }
    expect(await dbState()).toEqual(before);
  });

  it('when the body is malformed JSON or not JSON, then 400 or 415 and nothing written', async () => {
    const { auth } = await signedInAdmin();
    const before = await dbState();
    const malformed = await app
      .http()
      .post('/v1/users')
      .set(auth)
      .set('Content-Type', 'application/json')
      .send('{"email":');
    expectProblem(malformed, 400, 'malformed-json');
    const form = await app.http().post('/v1/users').set(auth).type('form').send('email=a@example.com&name=A');
    expectProblem(form, 415, 'unsupported-media-type');
    const plain = await app.http().post('/v1/users').set(auth).set('Content-Type', 'text/plain').send('{}');
    expectProblem(plain, 415, 'unsupported-media-type');
    expect(await dbState()).toEqual(before);
  });
});

describe('PATCH /v1/users/:id', () => {
  it('when an admin changes every field, then 200 and the row is changed, password included', async () => {
    const { auth } = await signedInAdmin();
    const user = await createUser(app.prisma);
    const changes = { email: `changed-${tag()}@example.com`, name: 'Changed', role: 'admin', active: true };
    const password = 'a-brand-new-password';
    const response = await app
      .http()
      .patch(`/v1/users/${user.id}`)
      .set(auth)
      .send({ ...changes, password });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: user.id, ...changes });
    const row = await app.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row).toMatchObject(changes);
    expect(row.updatedAt.getTime()).toBeGreaterThan(user.updatedAt.getTime());
    expect(await verifyPassword(row.passwordHash!, password)).toBe(true);
    expect(await verifyPassword(row.passwordHash!, user.password)).toBe(false);
  });

  it('when the email belongs to someone else, then 409 email-taken and nothing written', async () => {
    const { auth } = await signedInAdmin();
    const [user, other] = [await createUser(app.prisma), await createUser(app.prisma)];
    const before = await dbState();
    const response = await app
      .http()
      .patch(`/v1/users/${user.id}`)
      .set(auth)
      .send({ email: other.email, name: 'Not applied' });
    expectProblem(response, 409, 'email-taken');
    expect(await dbState()).toEqual(before);
  });

  it('when an admin demotes or deactivates themselves, then 409 cannot-change-own-admin and nothing written', async () => {
    const { user: admin, auth } = await signedInAdmin();
    const before = await dbState();
    for (const body of [{ role: 'user' }, { active: false }, { name: 'Not applied', role: 'user' }]) {
      expectProblem(
        await app.http().patch(`/v1/users/${admin.id}`).set(auth).send(body),
        409,
        'cannot-change-own-admin',
      );
    }
    expect(await dbState()).toEqual(before);
    const harmless = await app.http().patch(`/v1/users/${admin.id}`).set(auth).send({ name: 'Me', role: 'admin' });
    expect(harmless.status).toBe(200);
  });

  it('when an admin demotes another admin, then 200', async () => {
    const { auth } = await signedInAdmin();
    const other = await createUser(app.prisma, { role: 'admin' });
    const response = await app.http().patch(`/v1/users/${other.id}`).set(auth).send({ role: 'user' });
    expect(response.status).toBe(200);
    expect((await app.prisma.user.findUniqueOrThrow({ where: { id: other.id } })).role).toBe('user');
  });

  it('when the body is empty, unknown or invalid, or the user is missing, then 400/404 and nothing written', async () => {
    const { auth } = await signedInAdmin();
    const user = await createUser(app.prisma);
    const before = await dbState();
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'body'],
      [{ name: 'Ok', passwordHash: 'x' }, 'body'],
      [{ name: 'x'.repeat(10_000) }, 'body.name'],
      [{ name: 'a\u0000b' }, 'body.name'],
      [{ password: 'short' }, 'body.password'],
      [{ email: null }, 'body.email'],
    ];
    for (const [body, field] of cases) {
      const response = await app.http().patch(`/v1/users/${user.id}`).set(auth).send(body);
      expectProblem(response, 400, 'validation-failed', field);
    }
    const missing = await app.http().patch('/v1/users/2147483647').set(auth).send({ name: 'Ghost' });
    expectProblem(missing, 404, 'user-not-found');
    expectProblem(await app.http().patch('/v1/users/abc').set(auth).send({ name: 'X' }), 400, 'validation-failed');
    expect(await dbState()).toEqual(before);
  });
});

describe('POST /v1/users/:id/deactivate', () => {
  it('when an admin deactivates a user, then 200 with active=false, again the same, and their token stops working', async () => {
    const { auth } = await signedInAdmin();
    const { user, auth: userAuth } = await signedInUser(app);
    const first = await app.http().post(`/v1/users/${user.id}/deactivate`).set(auth);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: user.id, active: false });
    const second = await app.http().post(`/v1/users/${user.id}/deactivate`).set(auth);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: user.id, active: false });
    expect((await app.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).active).toBe(false);
    expect((await app.http().get(`/v1/users/${user.id}`).set(userAuth)).status).toBe(401);
  });

  it('when the user is missing or is the admin themselves, then 404 or 409 and nothing written', async () => {
    const { user: admin, auth } = await signedInAdmin();
    const before = await dbState();
    expectProblem(await app.http().post('/v1/users/2147483647/deactivate').set(auth), 404, 'user-not-found');
    expectProblem(await app.http().post(`/v1/users/${admin.id}/deactivate`).set(auth), 409, 'cannot-change-own-admin');
    expectProblem(await app.http().post('/v1/users/0/deactivate').set(auth), 400, 'validation-failed', 'params.id');
    expect(await dbState()).toEqual(before);
  });
});

describe('DELETE /v1/users/:id', () => {
  it('when an admin deletes a user, then 204, and the user and only their items are gone', async () => {
    const { auth } = await signedInAdmin();
    const [user, other] = [await createUser(app.prisma), await createUser(app.prisma)];
    await app.prisma.item.createMany({
      data: [
        { ownerId: user.id, title: 'mine 1' },
        { ownerId: user.id, title: 'mine 2' },
        { ownerId: other.id, title: 'theirs' },
      ],
    });
    const response = await app.http().delete(`/v1/users/${user.id}`).set(auth);
    expect(response.status).toBe(204);
    expect(response.text).toBe('');
    expect(await app.prisma.user.findUnique({ where: { id: user.id } })).toBeNull();
    expect(await app.prisma.item.count({ where: { ownerId: user.id } })).toBe(0);
    expect(await app.prisma.item.count({ where: { ownerId: other.id } })).toBe(1);
    expectProblem(await app.http().delete(`/v1/users/${user.id}`).set(auth), 404, 'user-not-found');
  });

  it('when the user is missing or is the admin themselves, then 404 or 409 and nothing deleted', async () => {
    const { user: admin, auth } = await signedInAdmin();
    await app.prisma.item.create({ data: { ownerId: admin.id, title: 'kept' } });
    const before = await dbState();
    expectProblem(await app.http().delete('/v1/users/2147483647').set(auth), 404, 'user-not-found');
    expectProblem(await app.http().delete(`/v1/users/${admin.id}`).set(auth), 409, 'cannot-change-own-admin');
    expectProblem(await app.http().delete('/v1/users/-5').set(auth), 400, 'validation-failed', 'params.id');
    expect(await dbState()).toEqual(before);
  });
});

describe('OpenAPI', () => {
  it('documents every users route', async () => {
    const response = await app.http().get('/openapi.json');
    expect(response.status).toBe(200);
    const paths = response.body.paths;
    expect(Object.keys(paths['/v1/users'])).toEqual(expect.arrayContaining(['get', 'post']));
    expect(Object.keys(paths['/v1/users/{id}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(Object.keys(paths['/v1/users/{id}/deactivate'])).toEqual(['post']);
    const parameters = paths['/v1/users'].get.parameters.map((parameter: { name: string }) => parameter.name);
    expect(parameters).toEqual(expect.arrayContaining(['limit', 'cursor', 'active', 'emailPrefix', 'sort', 'order']));
  });
});
