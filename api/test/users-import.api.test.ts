import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { buildUser, signedInUser } from './factories/users.js';

let app: TestApp;
let admin: Record<string, string>;
beforeAll(async () => {
  app = await startTestApp();
  admin = (await signedInUser(app, { role: 'admin' })).auth;
});
afterAll(() => app?.close());

function importFile(
  target: TestApp,
  auth: Record<string, string>,
  body: string | Buffer,
  type = 'text/csv',
  query = '',
) {
  return target.http().post(`/v1/users/import${query}`).set(auth).set('Content-Type', type).send(body);
}

/** A fresh email, unique across tests. */
const newEmail = (label = 'import') => `${label}-${randomBytes(6).toString('hex')}@example.com`;

const byEmail = (x: { email: string }, y: { email: string }) => (x.email < y.email ? -1 : 1);

async function storedUsers(target: TestApp, emails: string[]) {
  const users = await target.prisma.user.findMany({
    where: { email: { in: emails } },
    select: { email: true, name: true, role: true, active: true, passwordHash: true },
  });
  return users.sort(byEmail);
}

const userCount = (target: TestApp = app) => target.prisma.user.count();

describe('POST /v1/users/import', () => {
  it('when a CSV file is valid, then 201 and exactly its rows are stored, without passwords', async () => {
    const [a, b, c, d] = [newEmail(), newEmail(), newEmail(), newEmail()];
    const csv =
      '\uFEFFemail,name,role,active\r\n' +
      `${a.toUpperCase()},"Lovelace, Ada",admin,false\r\n` +
      `${b},"Says ""hi""\non two lines",,\r\n` +
      `\r\n` +
      `${c},  Grace Hopper  ,user,true\r\n` +
      `${d},Émile Zola,,false`;
    const response = await importFile(app, admin, csv);
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ created: 4, skipped: 0, total: 4 });
    expect(await storedUsers(app, [a, b, c, d])).toEqual(
      [
        { email: a, name: 'Lovelace, Ada', role: 'admin', active: false, passwordHash: null },
        { email: b, name: 'Says "hi"\non two lines', role: 'user', active: true, passwordHash: null },
        { email: c, name: 'Grace Hopper', role: 'user', active: true, passwordHash: null },
        { email: d, name: 'Émile Zola', role: 'user', active: false, passwordHash: null },
      ].sort(byEmail),
    );
  });

  it('when the CSV has only the required columns, then role and active take their defaults', async () => {
    const email = newEmail();
    const response = await importFile(app, admin, `name,email\nOnly Name,${email}\n`, 'text/csv; charset=utf-8');
    expect(response.status).toBe(201);
    expect(await storedUsers(app, [email])).toEqual([
      { email, name: 'Only Name', role: 'user', active: true, passwordHash: null },
    ]);
  });

  it("when a CSV cell starts with the export's quote before =, +, -, @, then that one quote is removed (an export imports back unchanged)", async () => {
    const cells = {
      [newEmail()]: ['\'=HYPERLINK("http://evil")', '=HYPERLINK("http://evil")'],
      [newEmail()]: ["'+1 555 0100", '+1 555 0100'],
      [newEmail()]: ["''=quoted", "'=quoted"],
      [newEmail()]: ['=raw', '=raw'],
      [newEmail()]: ["O'Brien", "O'Brien"],
      [newEmail()]: ["'plain", "'plain"],
    };
    const csv = `email,name\n${Object.entries(cells)
      .map(([email, [cell]]) => `${email},"${cell!.replaceAll('"', '""')}"`)
      .join('\n')}\n`;
    const response = await importFile(app, admin, csv);
    expect(response.status, response.text).toBe(201);
    const stored = await storedUsers(app, Object.keys(cells));
    expect(Object.fromEntries(stored.map((user) => [user.email, user.name]))).toEqual(
      Object.fromEntries(Object.entries(cells).map(([email, [, name]]) => [email, name])),
    );
  });

  it('when an NDJSON file is valid, then 201, blank lines ignored and defaults applied', async () => {
    const [a, b] = [newEmail(), newEmail()];
    const ndjson = [
      JSON.stringify({ email: a, name: 'Json Ada', role: 'admin', active: false }),
      '',
      '   ',
      JSON.stringify({ email: b, name: 'Json "Bob", \n the second' }),
      '',
    ].join('\n');
    const response = await importFile(app, admin, ndjson, 'application/x-ndjson');
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ created: 2, skipped: 0, total: 2 });
    expect(await storedUsers(app, [a, b])).toEqual(
      [
        { email: a, name: 'Json Ada', role: 'admin', active: false, passwordHash: null },
        { email: b, name: 'Json "Bob", \n the second', role: 'user', active: true, passwordHash: null },
      ].sort(byEmail),
    );
    expect(await app.metrics()).toMatch(/users_import_rows_total\{outcome="created"\} \d+/);
  });

  it('when one row of 10,000 is bad, then 422 naming its line and field, and nothing is stored', async () => {
    const before = await userCount();
    const rows = Array.from({ length: 10_000 }, (_, i) => `${newEmail(`bulk${i}`)},User ${i}`);
    rows[4_999] = 'not-an-email,Broken Row';
    const response = await importFile(app, admin, `email,name\n${rows.join('\n')}\n`);
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({
      code: 'import-invalid',
      errors: [{ line: 5_001, field: 'email', reason: 'must be a valid email address' }],
    });
    expect(response.body.errors).toHaveLength(1);
    expect(await userCount()).toBe(before);
  });

  it('when rows are bad in different ways, then each is reported with its line and field, nothing stored', async () => {
    const before = await userCount();
    const taken = newEmail();
    const lines = [
      'email,name,role,active', // 1
      `${newEmail()},Valid Row,,`, // 2
      'bad@,Bad Email,,', // 3
      `${newEmail()},,,`, // 4: missing name
      `${newEmail()},${'x'.repeat(10_000)},,`, // 5
      `${newEmail()},Nul\u0000Byte,,`, // 6
      `${newEmail()},Root,root,`, // 7
      `${newEmail()},Maybe,user,maybe`, // 8
      `${taken},First,,`, // 9
      `${taken.toUpperCase()},Again,,`, // 10: same email, other case
      `${newEmail()},Too,many,true,fields`, // 11
      `"${newEmail()}","Multi`, // 12
      `line",user,false`, // 13
      `${newEmail()},"quote not closed`, // 14: fatal for CSV, reported on the line where it starts
    ];
    const response = await importFile(app, admin, lines.join('\n'));
    expect(response.status).toBe(422);
    expect(response.body.code).toBe('import-invalid');
    expect(response.body.errors.map((e: { line: number; field: string }) => [e.line, e.field])).toEqual([
      [3, 'email'],
      [4, 'name'],
      [5, 'name'],
      [6, 'name'],
      [7, 'role'],
      [8, 'active'],
      [10, 'email'],
      [11, 'row'],
      [14, 'row'],
    ]);
    expect(response.body.errors[6].reason).toBe('duplicates the email of line 9');
    expect(response.body.errors[8].reason).toBe('a quoted field is not closed');
    expect(await userCount()).toBe(before);
  });

  it('when the CSV breaks mid-file, then the rows before and the broken line are reported, nothing stored', async () => {
    const before = await userCount();
    const csv = `email,name\nnot-an-email,A\n${newEmail()},"Closed"early,\n${newEmail()},Never Read\n`;
    const response = await importFile(app, admin, csv);
    expect(response.status).toBe(422);
    expect(response.body.errors).toEqual([
      { line: 2, field: 'email', reason: 'must be a valid email address' },
      { line: 3, field: 'row', reason: 'a closing quote must be followed by a comma or the end of the line' },
    ]);
    expect(await userCount()).toBe(before);
  });

  it('when NDJSON lines are bad, then each is reported with its line, nothing stored', async () => {
    const before = await userCount();
    const lines = [
      JSON.stringify({ email: newEmail(), name: 'Fine' }), // 1
      '{"email": "broken@example.com", "name": ', // 2: malformed JSON
      '', // 3
      JSON.stringify({ email: newEmail(), name: 'Admin?', role: 'root', active: 'true' }), // 4
      JSON.stringify({ email: newEmail(), name: 'Extra', password: 'secret' }), // 5
      '[1, 2]', // 6
    ];
    const response = await importFile(app, admin, lines.join('\r\n'), 'application/x-ndjson');
    expect(response.status).toBe(422);
    expect(response.body.errors.map((e: { line: number; field: string }) => [e.line, e.field])).toEqual([
      [2, 'row'],
      [4, 'role'],
      [4, 'active'],
      [5, 'row'],
      [6, 'row'],
    ]);
    expect(response.body.errors[0].reason).toBe('is not valid JSON');
    expect(await userCount()).toBe(before);
  });

  it('when a row has bytes that are not UTF-8, then 422 for that line and field, no 5xx', async () => {
    const before = await userCount();
    const body = Buffer.concat([
      Buffer.from(`email,name\n${newEmail()},Fine\n${newEmail()},Bad `),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from(' Bytes\n'),
    ]);
    const response = await importFile(app, admin, body);
    expect(response.status).toBe(422);
    expect(response.body.errors).toEqual([{ line: 3, field: 'name', reason: 'is not valid UTF-8' }]);
    expect(await userCount()).toBe(before);
  });

  it('when more than 1,000 problems are found, then the first 1,000 are listed and the count is given', async () => {
    const rows = Array.from({ length: 1_200 }, (_, i) => `bad-${i},Bad ${i}`);
    const response = await importFile(app, admin, `email,name\n${rows.join('\n')}`);
    expect(response.status).toBe(422);
    expect(response.body.errors).toHaveLength(1_000);
    expect(response.body.detail).toContain('1200 problems');
  });

  it('when the header is missing or has unknown columns, then 422 on line 1', async () => {
    for (const csv of ['', 'email,name,password\na@example.com,A,x', 'email,email,name\n']) {
      const response = await importFile(app, admin, csv);
      expect(response.status, csv).toBe(422);
      expect(response.body.code).toBe('import-invalid');
      expect(response.body.errors[0]).toMatchObject({ line: 1, field: 'header' });
    }
  });

  it('when emails exist and onConflict is fail (the default), then 409 listing their lines, nothing stored', async () => {
    const existing = buildUser();
    await app.prisma.user.create({ data: { email: existing.email, name: existing.name } });
    const fresh = newEmail();
    const csv = `email,name\n${fresh},Fresh\n${existing.email},Existing\n`;
    for (const query of ['', '?onConflict=fail']) {
      const response = await importFile(app, admin, csv, 'text/csv', query);
      expect(response.status).toBe(409);
      expect(response.body).toMatchObject({
        code: 'email-taken',
        errors: [{ line: 3, field: 'email', reason: 'is taken by an existing user' }],
      });
    }
    expect(await storedUsers(app, [fresh])).toEqual([]);
  });

  it('when emails exist and onConflict is skip, then those rows are skipped and the others stored', async () => {
    const existing = buildUser({ name: 'Unchanged Name' });
    await app.prisma.user.create({ data: { email: existing.email, name: existing.name } });
    const fresh = newEmail();
    const csv = `email,name\n${fresh},Fresh\n${existing.email},Other Name\n`;
    const response = await importFile(app, admin, csv, 'text/csv', '?onConflict=skip');
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ created: 1, skipped: 1, total: 2 });
    expect((await storedUsers(app, [fresh, existing.email])).map((u) => [u.email, u.name])).toEqual(
      [
        [fresh, 'Fresh'],
        [existing.email, 'Unchanged Name'],
      ].sort(),
    );
    expect(await app.metrics()).toMatch(/users_import_rows_total\{outcome="skipped"\} [1-9]/);
  });

  it('when onConflict is not skip or fail, then 400 and nothing stored', async () => {
    const email = newEmail();
    const response = await importFile(app, admin, `email,name\n${email},A`, 'text/csv', '?onConflict=overwrite');
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation-failed');
    expect(await storedUsers(app, [email])).toEqual([]);
  });

  it('when another request inserts one of the emails during the import, then 409, not 500, nothing stored', async () => {
    const [racing, other] = [newEmail(), newEmail()];
    let importing: Promise<Awaited<ReturnType<typeof importFile>>> | undefined;
    // The other transaction holds the email uncommitted while the import checks it, then commits.
    await app.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO app.users (email, name) VALUES (${racing}, 'Racer')`;
      // then() sends the request now (supertest is lazy).
      importing = importFile(app, admin, `email,name\n${other},Other\n${racing},Racing\n`).then((answer) => answer);
      await waitForLockWait(app);
    });
    const response = await importing!;
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('email-taken');
    expect((await storedUsers(app, [racing, other])).map((u) => u.name)).toEqual(['Racer']);
  });

  it('when the client goes away mid-upload, then nothing is stored and nothing is logged as an error', async () => {
    const before = await userCount();
    await new Promise<void>((resolve) => {
      const request = httpRequest(`${app.baseUrl}/v1/users/import`, {
        method: 'POST',
        headers: { ...admin, 'Content-Type': 'text/csv', 'Content-Length': '100000' },
      });
      request.on('error', () => resolve());
      request.write(`email,name\n${newEmail()},Half\n`, () => setTimeout(() => request.destroy(), 100));
    });
    await expect
      .poll(() => app.metrics())
      .toMatch(/http_errors_total\{code="request-aborted",status_code="400"\} [1-9]/);
    expect(app.logs.filter((line) => line.level === 'error')).toEqual([]);
    expect(await userCount()).toBe(before);
  });

  it('when the content type is not CSV or NDJSON, or the charset is not UTF-8, then 415', async () => {
    const email = newEmail();
    const types = ['text/plain', 'text/csv; charset=latin1', 'application/x-ndjson; charset=utf-16'];
    for (const type of types) {
      const response = await importFile(app, admin, `email,name\n${email},A`, type);
      expect(response.status, type).toBe(415);
    }
    const json = await importFile(app, admin, JSON.stringify([{ email, name: 'A' }]), 'application/json');
    expect(json.status).toBe(415);
    expect(json.body.code).toBe('unsupported-media-type');
    const gzip = await importFile(app, admin, `email,name\n${email},A`).set('Content-Encoding', 'gzip');
    expect(gzip.status).toBe(415);
    expect(await storedUsers(app, [email])).toEqual([]);
  });

  it('when the caller is not an admin, then 403; when anonymous, then 401', async () => {
    const email = newEmail();
    const { auth } = await signedInUser(app);
    expect((await importFile(app, auth, `email,name\n${email},A`)).status).toBe(403);
    expect((await importFile(app, {}, `email,name\n${email},A`)).status).toBe(401);
    expect(await storedUsers(app, [email])).toEqual([]);
  });

  it('when the file has 100,000 rows, then all are stored in reasonable time', async () => {
    const started = Date.now();
    const tag = randomBytes(4).toString('hex');
    const rows = Array.from({ length: 100_000 }, (_, i) => `big-${tag}-${i}@example.com,Big ${i},user,true`);
    const response = await importFile(app, admin, `email,name,role,active\n${rows.join('\n')}\n`);
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ created: 100_000, skipped: 0, total: 100_000 });
    expect(await app.prisma.user.count({ where: { email: { startsWith: `big-${tag}-` } } })).toBe(100_000);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);
});

describe('POST /v1/users/import with small limits', () => {
  let small: TestApp;
  let smallAdmin: Record<string, string>;
  beforeAll(async () => {
    small = await startTestApp({ env: { IMPORT_MAX_ROWS: '100', IMPORT_MAX_BYTES: '10kb' } });
    smallAdmin = (await signedInUser(small, { role: 'admin' })).auth;
  });
  afterAll(() => small?.close());

  it('when the file has more rows than allowed, then 413 too-many-rows and nothing stored', async () => {
    const before = await userCount(small);
    const rows = Array.from({ length: 101 }, (_, i) => `r${i}@example.com,R`);
    const response = await importFile(small, smallAdmin, `email,name\n${rows.join('\n')}`);
    expect(response.status).toBe(413);
    expect(response.body.code).toBe('too-many-rows');
    expect(await userCount(small)).toBe(before);
    const atLimit = await importFile(small, smallAdmin, `email,name\n${rows.slice(1).join('\n')}`);
    expect(atLimit.status).toBe(201);
  });

  it('when the announced body is larger than allowed, then 413 payload-too-large and nothing stored', async () => {
    const before = await userCount(small);
    const rows = Array.from({ length: 90 }, (_, i) => `${newEmail(`large${i}`)},${'n'.repeat(95)}`);
    const response = await importFile(small, smallAdmin, `email,name\n${rows.join('\n')}`);
    expect(response.status).toBe(413);
    expect(response.body.code).toBe('payload-too-large');
    expect(await userCount(small)).toBe(before);
  });

  it('when a streamed body without length grows over the limit, then 413 and nothing stored', async () => {
    const before = await userCount(small);
    const chunks = Array.from({ length: 40 }, (_, i) => `${newEmail(`chunk${i}`)},${'n'.repeat(90)}\n`);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('email,name\n'));
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk.repeat(3)));
        controller.close();
      },
    });
    const response = await fetch(`${small.baseUrl}/v1/users/import`, {
      method: 'POST',
      headers: { ...smallAdmin, 'Content-Type': 'text/csv' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { code: string }).code).toBe('payload-too-large');
    expect(await userCount(small)).toBe(before);
  });
});

/** Waits until some statement of the app's database waits for a lock (the import behind the racing insert). */
async function waitForLockWait(target: TestApp) {
  await expect
    .poll(
      async () => {
        const [row] = await target.prisma.$queryRaw<{ waiting: number }[]>`
          SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        return row!.waiting;
      },
      { timeout: 10_000, interval: 50 },
    )
    .toBeGreaterThan(0);
}
