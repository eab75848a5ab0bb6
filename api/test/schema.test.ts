import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, runMigrations } from '../src/lib/migrations.js';
import { freePort, startCluster } from '../../scripts/lib/pg-cluster.js';
import { createTestDatabase, ROLES_SQL, type TestDatabase } from './helpers/cluster.js';
import { compareShapes, shapeFromDatabase, shapeFromPrisma } from './helpers/schema-drift.js';
import { queryOnce } from '../../scripts/lib/sql.js';

const databases: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

async function emptyDatabase() {
  const database = await createTestDatabase({ migrated: false });
  databases.push(database);
  return database;
}

describe('migrations', () => {
  it('when applied to an empty database, then it matches schema.prisma exactly', async () => {
    const database = await emptyDatabase();
    const applied = await runMigrations({ databaseUrl: database.urls.migrator });
    expect(applied.length).toBeGreaterThan(0);
    expect(compareShapes(await shapeFromPrisma(), await shapeFromDatabase(database.urls.superuser))).toEqual([]);
  });

  it('when two runners start at once and a third follows, then each migration is applied exactly once', async () => {
    const database = await emptyDatabase();
    const [first, second] = await Promise.all([
      runMigrations({ databaseUrl: database.urls.migrator }),
      runMigrations({ databaseUrl: database.urls.migrator }),
    ]);
    expect([...first, ...second].sort()).toEqual([...(first.length ? first : second)].sort());
    expect(await runMigrations({ databaseUrl: database.urls.migrator })).toEqual([]);
    const history = await queryOnce(database.urls.superuser, 'SELECT name FROM migrations.pgmigrations');
    expect(history.rowCount).toBe(first.length + second.length);
  });

  it('when the database drifts from schema.prisma, then every difference is reported', async () => {
    const database = await emptyDatabase();
    await runMigrations({ databaseUrl: database.urls.migrator });
    await queryOnce(
      database.urls.superuser,
      `ALTER TABLE app.users ALTER COLUMN name DROP NOT NULL;
       ALTER TABLE app.users ALTER COLUMN active SET DEFAULT false;
       ALTER TABLE app.items ALTER COLUMN title TYPE varchar(300);
       DROP INDEX app.users_email_key;
       ALTER TABLE app.items ADD COLUMN extra integer;
       ALTER TYPE app.user_role ADD VALUE 'auditor';
       CREATE TABLE app.stray (id integer)`,
    );
    const problems = compareShapes(await shapeFromPrisma(), await shapeFromDatabase(database.urls.superuser));
    expect(problems).toEqual(
      expect.arrayContaining([
        'column users.name: notNull is false in the database, true in schema.prisma',
        'column users.active: default is false in the database, true in schema.prisma',
        'column items.title: type is character varying(300) in the database, character varying(200) in schema.prisma',
        'index users(email): missing from the database',
        'column items.extra: not in schema.prisma',
        'enum user_role: [admin,user,auditor] in the database, [admin,user] in schema.prisma',
        'table stray: not in schema.prisma',
      ]),
    );
    expect(problems).toHaveLength(7);
  });
});

describe('the migration command', () => {
  it('when the database is not up yet, then it waits for a writable primary and applies the migrations', async () => {
    const cluster = await startCluster();
    try {
      const admin = new pg.Client(cluster.url('postgres'));
      await admin.connect();
      await admin.query('CREATE DATABASE lab');
      await admin.end();
      const passwords = { migrator_password: 'm-pw-1234', app_password: 'a-pw-1234', readonly_password: 'r-pw-1234' };
      await cluster.psqlFile('lab', ROLES_SQL, passwords);
      await cluster.stop();

      const messages: string[] = [];
      const migrating = runMigrations({
        databaseUrl: cluster.url('lab', 'migrator', passwords.migrator_password),
        waitMs: 30_000,
        log: (message) => messages.push(message),
      });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await cluster.start();
      expect((await migrating).length).toBeGreaterThan(0);
      expect(messages[0]).toMatch(/^waiting for a writable primary/);
    } finally {
      await cluster.destroy();
    }
  });

  it('when no writable primary comes, then it fails after the wait with the reason, having changed nothing', async () => {
    const port = await freePort();
    await expect(
      runMigrations({ databaseUrl: `postgresql://migrator:x@127.0.0.1:${port}/lab`, waitMs: 1_500 }),
    ).rejects.toThrow(/no writable primary after 2 s: .*ECONNREFUSED/);
  });

  it('when run from the command line twice, then the second run says the database is up to date', async () => {
    const database = await emptyDatabase();
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const run = () =>
      promisify(execFile)(path.join(root, 'node_modules/.bin/tsx'), ['api/src/migrate.ts'], {
        cwd: root,
        env: { PATH: process.env.PATH, MIGRATION_DATABASE_URL: database.urls.migrator },
      });
    const names = (await readdir(MIGRATIONS_DIR)).map((file) => file.replace(/\.sql$/, '')).sort();
    expect(names[0]).toBe('1763769600000_users-and-items');
    expect((await run()).stdout).toContain(`applied ${names.length} migration(s): ${names.join(', ')}`);
    expect((await run()).stdout).toContain('database is up to date');
  });
});

describe('roles', () => {
  const failsWith = async (url: string, statement: string) => {
    const error = await queryOnce(url, statement).then(
      () => undefined,
      (e: { code?: string }) => e,
    );
    return error?.code;
  };

  it('when the API role tries DDL or reads outside its schema, then it is refused; DML works', async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const { app } = database.urls;
    expect(await failsWith(app, 'CREATE TABLE app.evil (id int)')).toBe('42501');
    expect(await failsWith(app, 'CREATE TABLE public.evil (id int)')).toBe('42501');
    expect(await failsWith(app, 'ALTER TABLE app.users ADD COLUMN evil int')).toBe('42501');
    expect(await failsWith(app, 'DROP TABLE app.items')).toBe('42501');
    expect(await failsWith(app, 'SELECT * FROM migrations.pgmigrations')).toBe('42501');
    expect(await failsWith(app, 'CREATE SCHEMA evil')).toBe('42501');
    await queryOnce(app, "INSERT INTO users (email, name) VALUES ('dml@example.com', 'DML')");
    const rows = await queryOnce(app, "UPDATE users SET name = 'ok' WHERE email = 'dml@example.com' RETURNING id");
    expect(rows.rowCount).toBe(1);
    await queryOnce(app, "DELETE FROM users WHERE email = 'dml@example.com'");
  });

  it('when the readonly role writes, then it is refused; it can read', async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const { readonly } = database.urls;
    expect((await queryOnce(readonly, 'SELECT count(*) FROM users')).rowCount).toBe(1);
    expect(await failsWith(readonly, "INSERT INTO users (email, name) VALUES ('ro@example.com', 'RO')")).toMatch(
      /^(25006|42501)$/,
    );
  });
});
