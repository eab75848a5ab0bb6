// The lab database on a throwaway cluster, for local commands (api:dev, bench:api): database `swarmlab`,
// the lab's roles from postgres/roles.sql with random passwords, every migration applied as `migrator`.
// Also the API's secret files and environment, so every local command starts the API the same way.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { runMigrations } from '../../api/src/lib/migrations.js';
import { step } from './log.js';
import { startCluster, type PgCluster } from './pg-cluster.js';
import { REPO_ROOT } from './paths.js';

export const DATABASE = 'swarmlab';
export const ADMIN_EMAIL = 'admin@lab.localhost';
const ROLES_SQL = path.join(REPO_ROOT, 'postgres/roles.sql');

export interface DevDatabase {
  cluster: PgCluster;
  /** Connection URLs to `swarmlab` by role. */
  urls: { superuser: string; app: string; migrator: string };
}

const randomSecret = (bytes: number) => randomBytes(bytes).toString('base64url');

/** Starts the cluster and prepares the database; destroys the cluster again if any of that fails. */
export async function startDevDatabase(): Promise<DevDatabase> {
  const cluster = await step('start PostgreSQL', () => startCluster());
  try {
    const passwords = {
      migrator_password: randomSecret(18),
      app_password: randomSecret(18),
      readonly_password: randomSecret(18),
    };
    const urls = {
      superuser: cluster.url(DATABASE),
      app: cluster.url(DATABASE, 'app', passwords.app_password),
      migrator: cluster.url(DATABASE, 'migrator', passwords.migrator_password),
    };
    await step(`create database ${DATABASE} with the lab roles`, async () => {
      const admin = new pg.Client(cluster.url('postgres'));
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${DATABASE}`);
      } finally {
        await admin.end();
      }
      await cluster.psqlFile(DATABASE, ROLES_SQL, passwords);
    });
    await step('apply migrations as migrator', () => runMigrations({ databaseUrl: urls.migrator }));
    return { cluster, urls };
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}

export interface ApiSecrets {
  jwtSecretFile: string;
  adminPasswordFile: string;
  adminPassword: string;
}

/** Writes a new JWT secret and admin password into `dir` (mode 700, files mode 600). */
export async function writeApiSecrets(dir: string): Promise<ApiSecrets> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const secrets = {
    jwtSecretFile: path.join(dir, 'jwt_secret'),
    adminPasswordFile: path.join(dir, 'admin_password'),
    adminPassword: randomSecret(15),
  };
  for (const [file, value] of [
    [secrets.jwtSecretFile, randomSecret(32)],
    [secrets.adminPasswordFile, secrets.adminPassword],
  ] as const) {
    await writeFile(file, value, { mode: 0o600 });
    await chmod(file, 0o600); // writeFile's mode applies only when it creates the file
  }
  return secrets;
}

/** The API's environment for a dev database: the `app` role, secrets by file, the first admin. */
export function apiEnv(db: DevDatabase, secrets: ApiSecrets): Record<string, string> {
  return {
    DATABASE_URL: db.urls.app,
    JWT_SECRET_FILE: secrets.jwtSecretFile,
    ADMIN_EMAIL,
    ADMIN_PASSWORD_FILE: secrets.adminPasswordFile,
  };
}
