// Applies pending SQL migrations from prisma/migrations (node-pg-migrate). It takes an advisory lock (a second runner waits) and records what ran, so running
// it twice, or from two places at once, is safe.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations');

export async function runMigrations(options: { databaseUrl: string; log?: (message: string) => void }) {
  const applied = await runner({
    databaseUrl: options.databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    migrationsSchema: 'migrations',
    schema: 'app',
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    log: options.log ?? (() => undefined),
  });
  return applied.map((migration) => migration.name);
}
