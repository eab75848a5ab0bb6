import { randomBytes } from 'node:crypto';
import type { Agent, Response, Test } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Item } from '../src/generated/prisma/client.js';
import { encodeCursor } from '../src/lib/schemas.js';
import { createItem } from './factories/items.js';
import { createUser, signedInUser } from './factories/users.js';
import { startTestApp, type TestApp } from './helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const asJson = (item: Item) => ({
  ...item,
  createdAt: item.createdAt.toISOString(),
  updatedAt: item.updatedAt.toISOString(),
});
const itemsOf = (...ownerIds: number[]) =>
  app.prisma.item.findMany({ where: { ownerId: { in: ownerIds } }, orderBy: { id: 'asc' } });
const marker = () => randomBytes(5).toString('hex');
const ids = (response: Response) => (response.body.data as { id: number }[]).map((item) => item.id);

function expectProblem(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status, code });
}

describe('POST /v1/items', () => {
  it('when the body is valid, then 201 with Location and the item stored for the caller', async () => {
    const { user, auth } = await signedInUser(app);
    const response = await app
      .http()
      .post('/v1/items')
      .set(auth)
      .send({ title: '  Lab notes  ', body: 'line 1\nline 2', tags: ['Swarm', 'docker-1', 'swarm'] });
    expect(response.status).toBe(201);
    const [stored] = await itemsOf(user.id);
    expect(stored).toMatchObject({ title: 'Lab notes', body: 'line 1\nline 2', tags: ['swarm', 'docker-1'] });
    expect(response.body).toEqual(asJson(stored!));
    expect(response.headers.location).toBe(`/v1/items/${stored!.id}`);
    const located = await app.http().get(response.headers.location!).set(auth);
    expect(located.body).toEqual(response.body);
  });

  it('when only a title is sent, then the body is empty and there are no tags', async () => {
    const { auth } = await signedInUser(app);
    const response = await app.http().post('/v1/items').set(auth).send({ title: 'Bare' });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ title: 'Bare', body: '', tags: [] });
  });

  it('when the title holds SQL and LIKE metacharacters, then they are stored and returned literally', async () => {
    const { user, auth } = await signedInUser(app);
    const title = `'); DROP TABLE app.items; -- 100% _a_ \\ "quoted"`;
    const response = await app.http().post('/v1/items').set(auth).send({ title });
    expect(response.status).toBe(201);
    expect(response.body.title).toBe(title);
    expect((await itemsOf(user.id)).map((item) => item.title)).toEqual([title]);
  });

  it('when an admin names another owner, then the item is created for that user', async () => {
    const { auth } = await signedInUser(app, { role: 'admin' });
    const owner = await createUser(app.prisma);
    const response = await app.http().post('/v1/items').set(auth).send({ title: 'For you', ownerId: owner.id });
    expect(response.status).toBe(201);
    expect(response.body.ownerId).toBe(owner.id);
    expect(await itemsOf(owner.id)).toHaveLength(1);
  });

  it('when an admin names a user who does not exist, then 404 user-not-found and nothing stored', async () => {
    const { user, auth } = await signedInUser(app, { role: 'admin' });
    const title = marker();
    const response = await app.http().post('/v1/items').set(auth).send({ title, ownerId: 2_147_483_647 });
    expectProblem(response, 404, 'user-not-found');
    expect(await app.prisma.item.count({ where: { title } })).toBe(0);
    expect(await itemsOf(user.id)).toEqual([]);
  });

  it('when a non-admin sends an ownerId, even their own, then 403 and nothing stored', async () => {
    const { user, auth } = await signedInUser(app);
    const other = await createUser(app.prisma);
    for (const ownerId of [other.id, user.id]) {
      const response = await app.http().post('/v1/items').set(auth).send({ title: 'Mine?', ownerId });
      expectProblem(response, 403, 'forbidden');
    }
    expect(await itemsOf(user.id, other.id)).toEqual([]);
  });

  it.each([
    ['no title', {}, 'body.title'],
    ['a blank title', { title: '   ' }, 'body.title'],
    ['a 10,000-character title', { title: 'x'.repeat(10_000) }, 'body.title'],
    ['a 201-character title', { title: 'x'.repeat(201) }, 'body.title'],
    ['a NUL byte in the title', { title: 'a\u0000b' }, 'body.title'],
    ['a NUL byte in the body', { title: 't', body: 'a\u0000b' }, 'body.body'],
    ['a title that is not a string', { title: 42 }, 'body.title'],
    ['an unknown field', { title: 't', role: 'admin' }, 'body'],
    ['tags that are not an array', { title: 't', tags: 'a,b' }, 'body.tags'],
    ['21 tags', { title: 't', tags: Array.from({ length: 21 }, (_, i) => `tag-${i}`) }, 'body.tags'],
    ['a tag with a space', { title: 't', tags: ['two words'] }, 'body.tags.0'],
    ['a tag with SQL', { title: 't', tags: ["x'); DROP TABLE app.items; --"] }, 'body.tags.0'],
    ['an empty tag', { title: 't', tags: [''] }, 'body.tags.0'],
    ['a 51-character tag', { title: 't', tags: ['a'.repeat(51)] }, 'body.tags.0'],
    ['a tag that is not a string', { title: 't', tags: [7] }, 'body.tags.0'],
    ['an ownerId that is not a number', { title: 't', ownerId: 'abc' }, 'body.ownerId'],
    ['an array instead of an object', [{ title: 't' }], 'body'],
  ])('when the body has %s, then 400 validation-failed and nothing stored', async (_case, body, field) => {
    const { user, auth } = await signedInUser(app);
    const response = await app.http().post('/v1/items').set(auth).send(body);
    expectProblem(response, 400, 'validation-failed');
    expect(response.body.errors).toContainEqual(expect.objectContaining({ field }));
    expect(await itemsOf(user.id)).toEqual([]);
  });

  it('when the body is malformed JSON, not JSON, or larger than 100 kB, then 400/415/413 and nothing stored', async () => {
    const { user, auth } = await signedInUser(app);
    const post = () => app.http().post('/v1/items').set(auth);
    expectProblem(await post().set('Content-Type', 'application/json').send('{"title":'), 400, 'malformed-json');
    expectProblem(await post().set('Content-Type', 'application/json').send('null'), 400, 'malformed-json');
    expectProblem(await post().set('Content-Type', 'text/plain').send('title=x'), 415, 'unsupported-media-type');
    expectProblem(await post().type('form').send('title=x'), 415, 'unsupported-media-type');
    const huge = await post().send({ title: 'big', body: 'x'.repeat(101 * 1024) });
    expectProblem(huge, 413, 'payload-too-large');
    expect(await itemsOf(user.id)).toEqual([]);
  });
});

describe('GET /v1/items', () => {
  it('when a user lists, then only their own items, newest first', async () => {
    const { user, auth } = await signedInUser(app);
    const other = await createUser(app.prisma);
    const first = await createItem(app.prisma, user.id);
    await createItem(app.prisma, other.id);
    const second = await createItem(app.prisma, user.id);
    const response = await app.http().get('/v1/items').set(auth);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: [asJson(second), asJson(first)], nextCursor: null });
  });

  it('when an admin lists, then everyone’s items, and ownerId narrows them to one owner', async () => {
    const { auth } = await signedInUser(app, { role: 'admin' });
    const [alice, bob] = [await createUser(app.prisma), await createUser(app.prisma)];
    const aliceItem = await createItem(app.prisma, alice.id);
    const bobItem = await createItem(app.prisma, bob.id);
    const all = await app.http().get('/v1/items').set(auth);
    expect(ids(all).slice(0, 2)).toEqual([bobItem.id, aliceItem.id]);
    const onlyAlice = await app.http().get('/v1/items').query({ ownerId: alice.id }).set(auth);
    expect(onlyAlice.body.data).toEqual([asJson(aliceItem)]);
  });

  it('when a non-admin filters by another owner, then 403; by themselves, then 200', async () => {
    const { user, auth } = await signedInUser(app);
    const other = await createUser(app.prisma);
    const mine = await createItem(app.prisma, user.id);
    expectProblem(await app.http().get('/v1/items').query({ ownerId: other.id }).set(auth), 403, 'forbidden');
    const own = await app.http().get('/v1/items').query({ ownerId: user.id }).set(auth);
    expect(ids(own)).toEqual([mine.id]);
  });

  it('when filtering by tag, then only items having that tag, whatever its case in the query', async () => {
    const { user, auth } = await signedInUser(app);
    const both = await createItem(app.prisma, user.id, { tags: ['ops', 'swarm'] });
    const swarm = await createItem(app.prisma, user.id, { tags: ['swarm'] });
    await createItem(app.prisma, user.id, { tags: [] });
    const bySwarm = await app.http().get('/v1/items').query({ tag: 'SWARM' }).set(auth);
    expect(ids(bySwarm)).toEqual([swarm.id, both.id]);
    const byOps = await app.http().get('/v1/items').query({ tag: 'ops' }).set(auth);
    expect(ids(byOps)).toEqual([both.id]);
    const none = await app.http().get('/v1/items').query({ tag: 'nothing' }).set(auth);
    expect(none.body).toEqual({ data: [], nextCursor: null });
  });

  it('when searching with q, then a case-insensitive substring of the title matches', async () => {
    const { user, auth } = await signedInUser(app);
    const report = await createItem(app.prisma, user.id, { title: 'Alpha Report' });
    const alphabet = await createItem(app.prisma, user.id, { title: 'the alphabet' });
    await createItem(app.prisma, user.id, { title: 'Beta' });
    const response = await app.http().get('/v1/items').query({ q: 'ALPHA' }).set(auth);
    expect(ids(response)).toEqual([alphabet.id, report.id]);
  });

  it('when q holds LIKE or SQL metacharacters, then they match literally', async () => {
    const { user, auth } = await signedInUser(app);
    const percent = await createItem(app.prisma, user.id, { title: '100% done' });
    const underscore = await createItem(app.prisma, user.id, { title: 'snake_case' });
    const backslash = await createItem(app.prisma, user.id, { title: 'C:\\temp' });
    const quote = await createItem(app.prisma, user.id, { title: "it's' OR '1'='1" });
    await createItem(app.prisma, user.id, { title: '100 percent, snakeXcase, C:temp' });
    const search = (q: string) => app.http().get('/v1/items').query({ q }).set(auth);
    expect(ids(await search('%'))).toEqual([percent.id]);
    expect(ids(await search('e_c'))).toEqual([underscore.id]);
    expect(ids(await search('\\'))).toEqual([backslash.id]);
    expect(ids(await search("' OR '1'='1"))).toEqual([quote.id]);
    expect(ids(await search("x'; DROP TABLE app.items; --"))).toEqual([]);
    expect(await app.prisma.item.count({ where: { ownerId: user.id } })).toBe(5);
  });

  it('when filters are combined, then an item must match all of them', async () => {
    const { user, auth } = await signedInUser(app);
    const match = await createItem(app.prisma, user.id, { title: 'Deploy plan', tags: ['ops'] });
    await createItem(app.prisma, user.id, { title: 'Deploy plan', tags: ['dev'] });
    await createItem(app.prisma, user.id, { title: 'Backup plan', tags: ['ops'] });
    const response = await app.http().get('/v1/items').query({ q: 'deploy', tag: 'ops' }).set(auth);
    expect(ids(response)).toEqual([match.id]);
  });

  it('when there are more items than the limit, then the pages cover them all once, newest first', async () => {
    const { user, auth } = await signedInUser(app);
    const created: Item[] = [];
    for (let i = 0; i < 25; i++) created.push(await createItem(app.prisma, user.id));
    const seen: number[] = [];
    const pageSizes: number[] = [];
    let cursor: string | null = null;
    do {
      const response: Response = await app
        .http()
        .get('/v1/items')
        .query({ limit: 10, ...(cursor ? { cursor } : {}) })
        .set(auth);
      expect(response.status).toBe(200);
      seen.push(...ids(response));
      pageSizes.push(response.body.data.length);
      cursor = response.body.nextCursor;
      // A newer item arriving mid-way must not shift the pages still to come.
      if (pageSizes.length === 1) await createItem(app.prisma, user.id);
    } while (cursor);
    expect(pageSizes).toEqual([10, 10, 5]);
    expect(seen).toEqual(created.map((item) => item.id).reverse());
  });

  it('when the items fill exactly one page, then nextCursor is null', async () => {
    const { user, auth } = await signedInUser(app);
    for (let i = 0; i < 3; i++) await createItem(app.prisma, user.id);
    const response = await app.http().get('/v1/items').query({ limit: 3 }).set(auth);
    expect(response.body.data).toHaveLength(3);
    expect(response.body.nextCursor).toBeNull();
  });

  it.each(['-1', '0', '101', '1e9', 'NaN', 'abc', '1.5', ''])(
    'when limit is %j, then 400 validation-failed',
    async (limit) => {
      const { auth } = await signedInUser(app);
      const response = await app.http().get(`/v1/items?limit=${limit}`).set(auth);
      expectProblem(response, 400, 'validation-failed');
      expect(response.body.errors).toContainEqual(expect.objectContaining({ field: 'query.limit' }));
    },
  );

  it('when the cursor is not one the API made, then 400 validation-failed', async () => {
    const { auth } = await signedInUser(app);
    const bad = [
      'not a cursor!',
      Buffer.from('garbage').toString('base64url'),
      encodeCursor(null, 0),
      encodeCursor(null, -5),
      encodeCursor(null, 1e12),
      'a'.repeat(600),
    ];
    for (const cursor of bad) {
      const response = await app.http().get('/v1/items').query({ cursor }).set(auth);
      expectProblem(response, 400, 'validation-failed');
      expect(response.body.errors, cursor).toContainEqual(expect.objectContaining({ field: 'query.cursor' }));
    }
  });

  it('when q, tag or ownerId are invalid or repeated, then 400 and never 5xx', async () => {
    const { auth } = await signedInUser(app);
    const queries = [
      'q=%00',
      `q=${'x'.repeat(201)}`,
      'q=',
      'tag=no%20spaces',
      'tag=a&tag=b',
      'q=a&q=b',
      'ownerId=abc',
      'ownerId=0',
      'ownerId=99999999999',
    ];
    for (const query of queries) {
      const response = await app.http().get(`/v1/items?${query}`).set(auth);
      expect(response.status, query).toBe(400);
      expect(response.body.code).toBe('validation-failed');
    }
  });
});

describe('GET /v1/items/:id', () => {
  it('when the item is the caller’s, then 200 with it', async () => {
    const { user, auth } = await signedInUser(app);
    const item = await createItem(app.prisma, user.id, { body: 'text', tags: ['a'] });
    const response = await app.http().get(`/v1/items/${item.id}`).set(auth);
    expect(response.status).toBe(200);
    expect(response.body).toEqual(asJson(item));
  });

  it('when the item does not exist, then 404 item-not-found', async () => {
    const { auth } = await signedInUser(app);
    expectProblem(await app.http().get('/v1/items/2147483647').set(auth), 404, 'item-not-found');
  });
});

describe('PATCH /v1/items/:id', () => {
  it('when some fields are sent, then only they change and updatedAt moves', async () => {
    const { user, auth } = await signedInUser(app);
    const item = await createItem(app.prisma, user.id, { title: 'Old', body: 'keep', tags: ['keep'] });
    const response = await app.http().patch(`/v1/items/${item.id}`).set(auth).send({ title: 'New' });
    expect(response.status).toBe(200);
    const stored = await app.prisma.item.findUniqueOrThrow({ where: { id: item.id } });
    expect(stored).toMatchObject({ title: 'New', body: 'keep', tags: ['keep'], createdAt: item.createdAt });
    expect(stored.updatedAt.getTime()).toBeGreaterThan(item.updatedAt.getTime());
    expect(response.body).toEqual(asJson(stored));
  });

  it('when tags are sent, then they replace the old ones, normalised; an empty list clears them', async () => {
    const { user, auth } = await signedInUser(app);
    const item = await createItem(app.prisma, user.id, { tags: ['old'] });
    const replaced = await app
      .http()
      .patch(`/v1/items/${item.id}`)
      .set(auth)
      .send({ tags: ['New', 'new', 'x-1'] });
    expect(replaced.body.tags).toEqual(['new', 'x-1']);
    const cleared = await app.http().patch(`/v1/items/${item.id}`).set(auth).send({ tags: [] });
    expect(cleared.body.tags).toEqual([]);
    expect((await app.prisma.item.findUniqueOrThrow({ where: { id: item.id } })).tags).toEqual([]);
  });

  it.each([
    ['no field', {}],
    ['only unknown fields', { owner: 1 }],
    ['an ownerId (no transfers)', { ownerId: 1 }],
    ['a blank title', { title: '' }],
    ['a 10,000-character title', { title: 'x'.repeat(10_000) }],
    ['a NUL byte', { body: '\u0000' }],
    ['21 tags', { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }],
    ['tags that are not an array', { tags: { a: 1 } }],
    ['a tag with bad characters', { tags: ['ünïcode'] }],
  ])('when the body has %s, then 400 and the item unchanged', async (_case, body) => {
    const { user, auth } = await signedInUser(app);
    const item = await createItem(app.prisma, user.id);
    const response = await app.http().patch(`/v1/items/${item.id}`).set(auth).send(body);
    expectProblem(response, 400, 'validation-failed');
    expect(await app.prisma.item.findUniqueOrThrow({ where: { id: item.id } })).toEqual(item);
  });

  it('when the body is malformed, not JSON or too large, then 400/415/413 and the item unchanged', async () => {
    const { user, auth } = await signedInUser(app);
    const item = await createItem(app.prisma, user.id);
    const patch = () => app.http().patch(`/v1/items/${item.id}`).set(auth);
    expectProblem(await patch().set('Content-Type', 'application/json').send('{title:1}'), 400, 'malformed-json');
    expectProblem(await patch().set('Content-Type', 'text/plain').send('New'), 415, 'unsupported-media-type');
    expectProblem(await patch().send({ body: 'x'.repeat(101 * 1024) }), 413, 'payload-too-large');
    expect(await app.prisma.item.findUniqueOrThrow({ where: { id: item.id } })).toEqual(item);
  });

  it('when the item does not exist, then 404 item-not-found', async () => {
    const { auth } = await signedInUser(app);
    const response = await app.http().patch('/v1/items/2147483647').set(auth).send({ title: 'x' });
    expectProblem(response, 404, 'item-not-found');
  });
});

describe('DELETE /v1/items/:id', () => {
  it('when the item is the caller’s, then 204, it is gone, and a second delete is 404', async () => {
    const { user, auth } = await signedInUser(app);
    const item = await createItem(app.prisma, user.id);
    const kept = await createItem(app.prisma, user.id);
    const response = await app.http().delete(`/v1/items/${item.id}`).set(auth);
    expect(response.status).toBe(204);
    expect(response.text).toBe('');
    expect(await itemsOf(user.id)).toEqual([kept]);
    expectProblem(await app.http().delete(`/v1/items/${item.id}`).set(auth), 404, 'item-not-found');
  });

  it('when the owner is deleted, then their items go with them', async () => {
    const { user } = await signedInUser(app);
    await createItem(app.prisma, user.id);
    await app.prisma.user.delete({ where: { id: user.id } });
    expect(await itemsOf(user.id)).toEqual([]);
  });
});

describe('item ids', () => {
  it.each(['0', '-1', '99999999999', 'abc', '1.5', "1'%20OR%20'1'='1"])(
    'when the id is %j, then 400 on GET, PATCH and DELETE, never 5xx',
    async (id) => {
      const { user, auth } = await signedInUser(app);
      const item = await createItem(app.prisma, user.id);
      const answers = [
        await app.http().get(`/v1/items/${id}`).set(auth),
        await app.http().patch(`/v1/items/${id}`).set(auth).send({ title: 'x' }),
        await app.http().delete(`/v1/items/${id}`).set(auth),
      ];
      for (const response of answers) {
        expectProblem(response, 400, 'validation-failed');
        expect(response.body.errors).toContainEqual(expect.objectContaining({ field: 'params.id' }));
      }
      expect(await itemsOf(user.id)).toEqual([item]);
    },
  );
});

type Actor = 'anonymous' | 'owner' | 'other' | 'admin';
const actors: Actor[] = ['anonymous', 'owner', 'other', 'admin'];
const problemCodes: Record<number, string> = { 401: 'unauthenticated', 403: 'forbidden', 404: 'item-not-found' };

interface MatrixRow {
  route: string;
  /** The request about `item`, which belongs to the owner. */
  send: (http: Agent, item: Item) => Test;
  expected: Record<Actor, number>;
  /** What a successful call does to the database; a refused one changes nothing. */
  effect: 'none' | 'created' | 'updated' | 'deleted';
  /** For lists: who finds the item in the answer. */
  sees?: Actor[];
  /** For creation: whose item it becomes. */
  createsFor?: 'caller' | 'owner';
}

const matrix: MatrixRow[] = [
  {
    route: 'GET /v1/items',
    send: (http, item) => http.get('/v1/items').query({ q: item.title }),
    expected: { anonymous: 401, owner: 200, other: 200, admin: 200 },
    effect: 'none',
    sees: ['owner', 'admin'],
  },
  {
    route: 'GET /v1/items?ownerId',
    send: (http, item) => http.get('/v1/items').query({ ownerId: item.ownerId }),
    expected: { anonymous: 401, owner: 200, other: 403, admin: 200 },
    effect: 'none',
    sees: ['owner', 'admin'],
  },
  {
    route: 'POST /v1/items',
    send: (http) => http.post('/v1/items').send({ title: 'created in the matrix' }),
    expected: { anonymous: 401, owner: 201, other: 201, admin: 201 },
    effect: 'created',
    createsFor: 'caller',
  },
  {
    route: 'POST /v1/items with ownerId',
    send: (http, item) => http.post('/v1/items').send({ title: 'created in the matrix', ownerId: item.ownerId }),
    expected: { anonymous: 401, owner: 403, other: 403, admin: 201 },
    effect: 'created',
    createsFor: 'owner',
  },
  {
    route: 'GET /v1/items/:id',
    send: (http, item) => http.get(`/v1/items/${item.id}`),
    expected: { anonymous: 401, owner: 200, other: 404, admin: 200 },
    effect: 'none',
  },
  {
    route: 'PATCH /v1/items/:id',
    send: (http, item) => http.patch(`/v1/items/${item.id}`).send({ title: 'changed in the matrix' }),
    expected: { anonymous: 401, owner: 200, other: 404, admin: 200 },
    effect: 'updated',
  },
  {
    route: 'DELETE /v1/items/:id',
    send: (http, item) => http.delete(`/v1/items/${item.id}`),
    expected: { anonymous: 401, owner: 204, other: 404, admin: 204 },
    effect: 'deleted',
  },
];

describe('authorization matrix', () => {
  it.each(matrix)('$route: anonymous, owner, other user and admin each get their status and effect', async (row) => {
    const owner = await signedInUser(app);
    const other = await signedInUser(app);
    const admin = await signedInUser(app, { role: 'admin' });
    const callers = { anonymous: undefined, owner, other, admin };
    const everyone = [owner.user.id, other.user.id, admin.user.id];

    for (const actor of actors) {
      const item = await createItem(app.prisma, owner.user.id);
      const before = await itemsOf(...everyone);
      const caller = callers[actor];
      const response = await row.send(app.http(), item).set(caller?.auth ?? {});

      const status = row.expected[actor];
      expect(response.status, actor).toBe(status);
      if (status >= 400) expectProblem(response, status, problemCodes[status]!);
      if (row.sees && status === 200) expect(ids(response).includes(item.id), actor).toBe(row.sees.includes(actor));

      const after = await itemsOf(...everyone);
      const effect = status < 300 ? row.effect : 'none';
      const others = (items: Item[]) => items.filter((each) => each.id !== item.id);
      if (effect === 'none') expect(after, actor).toEqual(before);
      if (effect === 'updated') {
        expect(others(after), actor).toEqual(others(before));
        expect(after.find((each) => each.id === item.id)?.title, actor).toBe('changed in the matrix');
      }
      if (effect === 'deleted') expect(after, actor).toEqual(others(before));
      if (effect === 'created') {
        expect(after.slice(0, -1), actor).toEqual(before);
        const ownerId = row.createsFor === 'owner' ? item.ownerId : caller!.user.id;
        expect(after.at(-1), actor).toMatchObject({ id: response.body.id, ownerId, title: 'created in the matrix' });
      }
    }
  });
});

describe('OpenAPI', () => {
  it('documents every items route behind bearer authentication', async () => {
    const response = await app.http().get('/openapi.json');
    const paths = response.body.paths as Record<string, Record<string, { security?: unknown[] }>>;
    expect(Object.keys(paths['/v1/items'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/v1/items/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
    for (const operation of [...Object.values(paths['/v1/items']!), ...Object.values(paths['/v1/items/{id}']!)]) {
      expect(operation.security).toEqual([{ bearerAuth: [] }]);
    }
  });
});
