import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../api/src/config.js';
import { ADMIN_EMAIL, apiEnv, startDevDatabase, writeApiSecrets, type DevDatabase } from '../lib/dev-database.js';
import { queryOnce } from '../lib/sql.js';

const mode = async (file: string) => (await stat(file)).mode & 0o777;

describe('startDevDatabase', () => {
  let db: DevDatabase;
  let secretsDir: string;
  beforeAll(async () => {
    db = await startDevDatabase();
    secretsDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-dev-secrets-'));
  });
  afterAll(async () => {
    await db?.cluster.destroy();
    await rm(secretsDir, { recursive: true, force: true });
  });

  it('when started, then swarmlab is migrated and the app role may change rows but not the schema', async () => {
    const inserted = await queryOnce(
      db.urls.app,
      "INSERT INTO users (email, name) VALUES ('dev@lab.localhost', 'Dev') RETURNING id",
    );
    const ddl = queryOnce(db.urls.app, 'CREATE TABLE app.intruder (id int)');

    expect(inserted.rowCount).toBe(1);
    await expect(ddl).rejects.toMatchObject({ code: '42501' });
    const tables = await queryOnce(db.urls.superuser, "SELECT to_regclass('app.intruder') AS intruder");
    expect(tables.rows[0]?.intruder).toBeNull();
    const migrations = await queryOnce(db.urls.superuser, 'SELECT count(*)::int AS n FROM migrations.pgmigrations');
    expect(migrations.rows[0]?.n).toBeGreaterThan(0);
  });

  it('when given the dev environment, then the API configuration loads with the first admin', async () => {
    const secrets = await writeApiSecrets(secretsDir);

    const config = loadConfig({ ...apiEnv(db, secrets), NODE_ENV: 'test' });

    expect(config.db.url).toBe(db.urls.app);
    expect(config.admin).toEqual({ email: ADMIN_EMAIL, password: secrets.adminPassword });
  });
});

describe('writeApiSecrets', () => {
  it('when files with loose modes exist, then they get new values and the directory 700, the files 600', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'swarmlab-dev-secrets-'));
    const dir = path.join(root, 'dev');
    try {
      const first = await writeApiSecrets(dir);
      await chmod(dir, 0o755);
      await writeFile(first.adminPasswordFile, 'old', { mode: 0o644 });
      await chmod(first.adminPasswordFile, 0o644);

      const second = await writeApiSecrets(dir);

      expect(await mode(dir)).toBe(0o700);
      expect(await mode(second.jwtSecretFile)).toBe(0o600);
      expect(await mode(second.adminPasswordFile)).toBe(0o600);
      expect(await readFile(second.adminPasswordFile, 'utf8')).toBe(second.adminPassword);
      expect(second.adminPassword).not.toBe(first.adminPassword);
      expect((await readFile(second.jwtSecretFile, 'utf8')).length).toBeGreaterThanOrEqual(32);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
