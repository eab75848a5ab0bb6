// `npm run backup`: one backup now, in the lab's backup service (the same job cron runs on the manager), then a copy
// of the repository and the dumps off the cluster into <LAB_DIR>/backups.
import { performance } from 'node:perf_hooks';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { formatMs, requireDocker } from './lib/docker.js';
import { BACKUP_TYPES, copyOffsite, mib, runBackupJob, type BackupType } from './lib/lab-backup.js';
import { findLab, requireManager } from './lib/lab-context.js';
import { step, summary } from './lib/log.js';

const HELP = `
Usage: npm run backup [-- --type full|diff|incr|logical]

Takes a backup in the lab's backup service and copies the repository and the dumps off the cluster
(<LAB_DIR>/backups). full, diff and incr are pgBackRest backups (the repository's retention applies: 2 full,
7 differential); logical is a pg_dump -Fc of the database (dumps are kept 7 days). A diff or incr with no full
backup before it is taken as a full. The run's metrics go to the Pushgateway (Grafana: Backups).

Options:
  --type <type>  full, diff (default), incr or logical
`;

async function main() {
  const flags = parseFlags(process.argv.slice(2), { type: { type: 'string', default: 'diff' } }, HELP);
  if (!(BACKUP_TYPES as readonly string[]).includes(flags.type)) {
    throw new StopError(`--type must be one of ${BACKUP_TYPES.join(', ')}, not "${flags.type}".`);
  }
  const type = flags.type as BackupType;
  const started = performance.now();
  await requireDocker();
  const lab = await findLab();
  await requireManager(lab);
  const result = await step(`${type} backup in ${'swarmlab_backup'}`, () => runBackupJob(lab, ['backup', type]));
  const offsite = await step('copy the repository and dumps off the cluster', () => copyOffsite(lab));
  summary(`Backup done in ${formatMs(performance.now() - started)}`, {
    type,
    [type === 'logical' ? 'dump' : 'label']: String(result.label),
    size: mib(Number(result.size_bytes ?? 0)),
    took: `${String(result.duration_s)} s in the service`,
    'off-cluster copy': offsite,
    next: 'npm run backup:list; npm run backup:verify (restore drill)',
  });
}

await runCommand(main);
