// Applies pending SQL migrations from prisma/migrations with node-pg-migrate. It takes an advisory lock (a
// second runner waits for the first) and records what ran, so running it twice, or from two places at once,
// is safe.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations');

interface MigrationOptions {
  databaseUrl: string;
  /** How long to wait for a writable primary (db-rw during a failover, a database still starting). */
  waitMs?: number;
  log?: (message: string) => void;
}

/** Resolves once `databaseUrl` reaches a server that accepts writes; throws with the last reason after waitMs. */
export async function waitForPrimary(databaseUrl: string, waitMs: number, log: (message: string) => void) {
  const deadline = Date.now() + waitMs;
  let reason: string;
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
      if (!rows[0]?.standby) return;
      reason = 'the server is a read-only standby';
    } catch (error) {
      reason = (error as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
    if (Date.now() >= deadline) {
      throw new Error(`no writable primary after ${Math.round(waitMs / 1000)} s: ${reason}`);
    }
    if (attempt === 1) log(`waiting for a writable primary (${reason})`);
    await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())));
  }
}

export async function runMigrations({ databaseUrl, waitMs = 0, log = () => undefined }: MigrationOptions) {
  await waitForPrimary(databaseUrl, waitMs, log);
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    migrationsSchema: 'migrations',
    schema: 'app',
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    log,
  });
  return applied.map((migration) => migration.name);
}
