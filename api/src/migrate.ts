// One-shot migration command (`npm run db:migrate`, and the Swarm job before the API rolls): applies
// pending SQL migrations as the `migrator` role, once db-rw reaches a writable leader (it waits up to
// MIGRATION_WAIT_SECONDS). Safe to run twice or from two places at once.
import { ConfigError, loadMigrationConfig } from './config.js';
import { runMigrations } from './lib/migrations.js';

const HELP = `Usage: npm run db:migrate

Applies the pending SQL migrations (api/prisma/migrations) as the migrator role, in one transaction, once the
database answers as a writable leader (waits up to MIGRATION_WAIT_SECONDS). Safe to run twice or from two places.
In the lab, npm run deploy runs it as a one-shot Swarm job before the API rolls; npm run api:dev migrates its own
throwaway database.

Environment: MIGRATION_DATABASE_URL (or MIGRATION_DATABASE_URL_FILE): the migrator role's URL.`;

async function main() {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(HELP);
    return;
  }
  let config;
  try {
    config = loadMigrationConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${error.message}\nSet MIGRATION_DATABASE_URL (or _FILE) to the migrator role's URL.`);
    process.exit(1);
  }
  try {
    const applied = await runMigrations({
      databaseUrl: config.databaseUrl,
      waitMs: config.waitSeconds * 1000,
      log: (message) => console.log(message),
    });
    console.log(
      applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date',
    );
  } catch (error) {
    console.error(
      `migration failed: ${(error as Error).message}\nNothing was changed (one transaction); fix and run again.`,
    );
    process.exit(1);
  }
}

await main();
