// Test databases: each test file gets its own copy of the migrated template, with the lab's roles.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';
import { findPgBinDir } from '../../../scripts/lib/pg-cluster.js';
import { $ } from 'zx';

export const TEMPLATE_DB = 'swarmlab_template';
export const ROLES_SQL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../postgres/roles.sql');

export interface TestCluster {
  port: number;
  password: string;
  dataDir: string;
  rolePasswords: { migrator_password: string; app_password: string; readonly_password: string };
}

export interface TestDatabase {
  name: string;
  /** URLs by role: the superuser, the API's `app`, the `migrator`, `readonly`. */
  urls: { superuser: string; app: string; migrator: string; readonly: string };
  drop(): Promise<void>;
}

export function clusterUrl(cluster: TestCluster, database: string, user = 'postgres', password = cluster.password) {
  return `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${cluster.port}/${database}`;
}

/** A new database: a copy of the migrated template, or (migrated: false) an empty one with only the roles. */
export async function createTestDatabase({ migrated = true } = {}): Promise<TestDatabase> {
  const cluster = inject('cluster');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client(clusterUrl(cluster, 'postgres'));
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${migrated ? TEMPLATE_DB : 'template0'}`);
        break;
      } catch (error) {
        // Two files copying the template at the same instant: "source database is being accessed".
        if ((error as { code?: string }).code !== '55006' || attempt > 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  // Database-level grants are not copied from a template: apply the roles file to the copy.
  const vars = Object.entries(cluster.rolePasswords).flatMap(([key, value]) => ['-v', `${key}=${value}`]);
  await $({
    quiet: true,
    env: { ...process.env, PGPASSWORD: cluster.password },
  })`${findPgBinDir()}/psql -X -q -h 127.0.0.1 -p ${cluster.port} -U postgres -d ${name} ${vars} -f ${ROLES_SQL}`;

  const { rolePasswords } = cluster;
  return {
    name,
    urls: {
      superuser: clusterUrl(cluster, name),
      app: clusterUrl(cluster, name, 'app', rolePasswords.app_password),
      migrator: clusterUrl(cluster, name, 'migrator', rolePasswords.migrator_password),
      readonly: clusterUrl(cluster, name, 'readonly', rolePasswords.readonly_password),
    },
    async drop() {
      const client = new pg.Client(clusterUrl(cluster, 'postgres'));
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
