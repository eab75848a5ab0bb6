import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadMigrationConfig } from '../../src/config.js';

let dir: string;
let jwtFile: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-config-'));
  jwtFile = path.join(dir, 'jwt');
  await writeFile(jwtFile, `${'k'.repeat(40)}\n`);
});

const valid = () => ({ DATABASE_URL: 'postgresql://app:pw@db-rw:5432/swarmlab', JWT_SECRET_FILE: jwtFile });

function problemsOf(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('when the minimum is set, then safe defaults fill the rest and the result is frozen', () => {
    const config = loadConfig(valid());
    expect(config.http.port).toBe(3000);
    expect(config.db.replicaUrl).toBeUndefined();
    expect(config.auth.jwtSecret).toBe('k'.repeat(40));
    expect(config.auth.jwtTtlSeconds).toBe(900);
    expect(config.import).toEqual({ maxBytes: 50 * 1024 * 1024, maxRows: 100_000 });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('when variables are missing or bad, then every one is named in one error', () => {
    const problems = problemsOf({ PORT: '99999', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', BODY_LIMIT: 'lots' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT: /),
        expect.stringMatching(/^LOG_LEVEL: /),
        'DATABASE_URL: must be a postgresql:// URL',
        expect.stringMatching(/^BODY_LIMIT: /),
        'JWT_SECRET: required (set JWT_SECRET_FILE to a file holding it)',
      ]),
    );
  });

  it('when the JWT secret is given inline or is short, then it is refused: only a secret file counts', async () => {
    expect(problemsOf({ ...valid(), JWT_SECRET_FILE: '', JWT_SECRET: 'x'.repeat(40) })).toEqual([
      'JWT_SECRET: required (set JWT_SECRET_FILE to a file holding it)',
    ]);
    const short = path.join(dir, 'short');
    await writeFile(short, 'tooshort');
    expect(problemsOf({ ...valid(), JWT_SECRET_FILE: short })[0]).toMatch(/^JWT_SECRET: must be at least 32/);
  });

  it('when a *_FILE cannot be read, or both NAME and NAME_FILE are set, then it says so', () => {
    expect(problemsOf({ ...valid(), JWT_SECRET_FILE: path.join(dir, 'missing') })).toEqual([
      `JWT_SECRET_FILE: cannot read ${path.join(dir, 'missing')} (ENOENT)`,
    ]);
    expect(problemsOf({ ...valid(), DATABASE_URL_FILE: jwtFile })).toContain(
      'DATABASE_URL and DATABASE_URL_FILE: set only one of them',
    );
  });

  it('when only one of ADMIN_EMAIL and ADMIN_PASSWORD_FILE is set, then it is refused', () => {
    expect(problemsOf({ ...valid(), ADMIN_EMAIL: 'admin@lab.localhost' })).toEqual([
      'ADMIN_EMAIL and ADMIN_PASSWORD_FILE: set both to create the first admin, or neither',
    ]);
  });

  it('reads the database URL from a secret file', async () => {
    const file = path.join(dir, 'db-url');
    await writeFile(file, 'postgresql://app:s3cret@db-rw/swarmlab\n');
    const config = loadConfig({ DATABASE_URL_FILE: file, JWT_SECRET_FILE: jwtFile });
    expect(config.db.url).toBe('postgresql://app:s3cret@db-rw/swarmlab');
  });

  it('loadMigrationConfig › needs MIGRATION_DATABASE_URL', () => {
    expect(() => loadMigrationConfig({})).toThrow(/MIGRATION_DATABASE_URL: required/);
  });
});

describe('the server process', () => {
  it('when started with a bad configuration, then it prints every problem and exits 1', async () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
    const tsx = path.join(root, 'node_modules/.bin/tsx');
    const result = await promisify(execFile)(tsx, ['api/src/server.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, PORT: 'abc' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('invalid configuration');
    expect(result.stderr).toContain('DATABASE_URL: required');
    expect(result.stderr).toContain('PORT: ');
  });
});
