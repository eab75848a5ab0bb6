// One throwaway PostgreSQL 15 cluster for the whole run, with the lab's roles and a migrated template
// database that each test file copies. Torn down after the run, even when tests fail.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startCluster } from '../../../scripts/lib/pg-cluster.js';
import { runMigrations } from '../../src/lib/migrations.js';
import { ROLES_SQL, TEMPLATE_DB, type TestCluster } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: TestCluster;
  }
}

export default async function setup(project: TestProject) {
  const cluster = await startCluster();
  try {
    const rolePasswords = {
      migrator_password: randomBytes(12).toString('hex'),
      app_password: randomBytes(12).toString('hex'),
      readonly_password: randomBytes(12).toString('hex'),
    };
    const admin = new pg.Client(cluster.url('postgres'));
    await admin.connect();
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
    await admin.end();
    await cluster.psqlFile(TEMPLATE_DB, ROLES_SQL, rolePasswords);
    await runMigrations({ databaseUrl: cluster.url(TEMPLATE_DB, 'migrator', rolePasswords.migrator_password) });
    project.provide('cluster', {
      port: cluster.port,
      password: cluster.password,
      dataDir: cluster.dataDir,
      rolePasswords,
    });
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return () => cluster.destroy();
}
