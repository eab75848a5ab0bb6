// `npm run backup:verify`: pgBackRest verify of the whole repository, then the restore drill: the latest backup and
// WAL restored into a scratch instance in the backup service, to a restore point taken at the source, and every
// table's row count and checksum compared with the source's at that point. Reports the restore time (RTO).
import { performance } from 'node:perf_hooks';
import { parseFlags, runCommand } from './lib/cli.js';
import { formatMs, requireDocker } from './lib/docker.js';
import { runBackupJob } from './lib/lab-backup.js';
import { findLab, requireManager } from './lib/lab-context.js';
import { step, summary } from './lib/log.js';

const HELP = `
Usage: npm run backup:verify

Checks every file of the repository against its checksum (pgBackRest verify), then runs the restore drill: a
restore point is made at the source while no write is in progress, the latest backup plus WAL is restored to it
in a scratch instance, and each table's row count and checksum must equal the source's. Prints the restore time
(RTO); pushes the drill's metrics (RestoreDrillFailed alerts on a failure). Exits 1 when anything differs.
`;

async function main() {
  parseFlags(process.argv.slice(2), {}, HELP);
  const started = performance.now();
  await requireDocker();
  const lab = await findLab();
  await requireManager(lab);
  const result = await step('verify the repository, then restore drill', () => runBackupJob(lab, ['verify']));
  summary(`Backups verified in ${formatMs(performance.now() - started)}`, {
    'restored to': String(result.target),
    'tables equal': String(result.tables),
    'RTO (restore to queryable)': `${String(result.rto_s)} s`,
    next: 'npm run db:restore -- --time <ISO 8601> to inspect a point in time',
  });
}

await runCommand(main);
