import { request as httpRequest } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { createUser, signedInUser } from './factories/users.js';

let app: TestApp;
let admin: Record<string, string>;
beforeAll(async () => {
  app = await startTestApp();
  admin = (await signedInUser(app, { role: 'admin' })).auth;
});
afterAll(() => app?.close());

/** The users table as an export should show it: every public field, as text where CSV has only text. */
async function databaseUsers(where: { active?: boolean } = {}) {
  const users = await app.prisma.user.findMany({ where, orderBy: { id: 'asc' } });
  return users.map((user) => ({
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    active: user.active,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  }));
}

const asCsvRecord = (user: Awaited<ReturnType<typeof databaseUsers>>[number]) => ({
  ...user,
  id: String(user.id),
  active: String(user.active),
});

const parseNdjson = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as unknown);

describe('GET /v1/users/export', () => {
  it('when no format is asked for, then NDJSON of every user ordered by id, equal to the database', async () => {
    await createUser(app.prisma, { name: 'Quote " comma , and\nnewline', active: false });
    await createUser(app.prisma, { role: 'admin' });
    const response = await app.http().get('/v1/users/export').set(admin).buffer(true);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="users-[\d-]+\.ndjson"$/);
    expect(parseNdjson(response.text)).toEqual(await databaseUsers());
    expect(response.text).not.toContain('passwordHash');
  });

  it('when CSV is asked for by format or Accept, then CSV with a header, equal to the database', async () => {
    await createUser(app.prisma, { name: 'Lovelace, "Ada"\r\nCountess' });
    const expected = (await databaseUsers()).map(asCsvRecord);
    for (const request of [
      app.http().get('/v1/users/export?format=csv').set(admin),
      app.http().get('/v1/users/export').set(admin).set('Accept', 'text/csv'),
      app.http().get('/v1/users/export?format=csv').set(admin).set('Accept', 'application/x-ndjson'),
    ]) {
      const response = await request.buffer(true);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(response.headers['content-disposition']).toMatch(/filename="users-[\d-]+\.csv"$/);
      expect(response.text.split('\n')[0]).toBe('id,email,name,role,active,createdAt,updatedAt');
      expect(parse(response.text, { columns: true })).toEqual(expected);
    }
  });

  it('when a cell would start a spreadsheet formula (=, +, -, @, tab, CR), then the CSV cell starts with a quote and runs nothing', async () => {
    const names = ['=HYPERLINK("http://evil","click")', '+1 555 0100', '-2+3', '@SUM(A1:A9)', '\t=1+1', '\r=1+1'];
    const plain = ["'=already quoted", 'Ada = Countess', "O'Brien"];
    const emails = new Map<string, string>();
    for (const name of [...names, ...plain]) emails.set((await createUser(app.prisma, { name })).email, name);
    const response = await app.http().get('/v1/users/export?format=csv').set(admin).buffer(true);
    const exported = new Map(
      (parse(response.text, { columns: true }) as { email: string; name: string }[]).map((row) => [
        row.email,
        row.name,
      ]),
    );
    for (const [email, name] of emails) {
      const expected = names.includes(name) || name.startsWith("'=") ? `'${name}` : name;
      expect(exported.get(email), name).toBe(expected);
    }
  });

  it('when filtered by active, then only those users', async () => {
    await createUser(app.prisma, { active: false });
    const response = await app.http().get('/v1/users/export?active=false').set(admin).buffer(true);
    expect(response.status).toBe(200);
    const exported = parseNdjson(response.text);
    expect(exported.length).toBeGreaterThan(0);
    expect(exported).toEqual(await databaseUsers({ active: false }));
  });

  it('when the format or the filter is not valid, then 400', async () => {
    for (const query of ['format=xml', 'active=maybe']) {
      const response = await app.http().get(`/v1/users/export?${query}`).set(admin);
      expect(response.status, query).toBe(400);
      expect(response.body.code).toBe('validation-failed');
    }
  });

  it('when the caller is not an admin, then 403; when anonymous, then 401', async () => {
    const { auth } = await signedInUser(app);
    expect((await app.http().get('/v1/users/export').set(auth)).status).toBe(403);
    expect((await app.http().get('/v1/users/export')).status).toBe(401);
  });

  describe('with 100,000 users', () => {
    beforeAll(async () => {
      await app.prisma.$executeRaw`
        INSERT INTO app.users (email, name, role, active)
        SELECT 'many-' || n || '@example.com', 'Many ' || n, 'user', n % 3 <> 0
        FROM generate_series(1, 100000) AS n`;
    });

    it('when exported as CSV, then every row arrives while the server heap stays flat', async () => {
      const total = await app.prisma.user.count();
      const gc = garbageCollector();
      gc();
      const baseline = process.memoryUsage().heapUsed;
      let peak = baseline;

      const response = await fetch(`${app.baseUrl}/v1/users/export?format=csv`, { headers: admin });
      expect(response.status).toBe(200);
      let newlines = 0;
      let bytes = 0;
      let sampledAt = 0;
      const reader = response.body!.getReader();
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        for (const byte of read.value) if (byte === 0x0a) newlines++;
        bytes += read.value.length;
        // The API runs in this process: sample its heap every MB received, after a collection, so that the
        // sample is what the export retains, not garbage V8 has not collected yet.
        if (bytes - sampledAt >= 1024 * 1024) {
          sampledAt = bytes;
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed);
        }
      }

      // The header line, then one line per user (no generated name has a newline; the test users' names
      // with newlines are quoted and add one each).
      const namesWithNewlines = await app.prisma.user.count({ where: { name: { contains: '\n' } } });
      expect(newlines).toBe(1 + total + namesWithNewlines);
      expect(sampledAt).toBeGreaterThan(5 * 1024 * 1024);
      // Streaming retains about 2 MB; holding every row's DTO before sending would retain about 26 MB.
      expect(peak - baseline).toBeLessThan(16 * 1024 * 1024);
    }, 60_000);

    it('when the client goes away mid-download, then the export ends quietly and the server keeps answering', async () => {
      // node:http rather than fetch: aborting fetch leaves an unused pooled connection open on the server.
      await new Promise<void>((resolve, reject) => {
        const request = httpRequest(`${app.baseUrl}/v1/users/export`, { headers: admin }, (response) => {
          response.once('data', () => {
            request.destroy();
            resolve();
          });
        });
        request.on('error', reject);
        request.end();
      });

      const after = await app.http().get('/v1/users/export?active=false&format=csv').set(admin).buffer(true);
      expect(after.status).toBe(200);
      expect(app.logs.filter((line) => line.level === 'error')).toEqual([]);
    });
  });
});

/**
 * A full garbage collection. The test runner cannot pass --expose-gc, but the flag can still be set at run
 * time; without it, the heap grows by tens of MB of uncollected garbage while 100,000 rows are read.
 */
function garbageCollector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
