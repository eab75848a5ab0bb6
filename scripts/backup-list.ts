// `npm run backup:list`: the lab's backups (pgBackRest's, oldest first), the WAL range they can be restored through,
// and the logical dumps.
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { requireDocker } from './lib/docker.js';
import { backupContainer, execInContainer, formatBackupList, type BackupList } from './lib/lab-backup.js';
import { findLab, requireManager } from './lib/lab-context.js';

const HELP = `
Usage: npm run backup:list [-- --json]

Lists the lab's pgBackRest backups (label, type, start, duration, database size, size in the repository), the
window they can be restored to any second of, and the logical dumps.

Options:
  --json  pgBackRest's info and the dumps as JSON
`;

async function main() {
  const flags = parseFlags(process.argv.slice(2), { json: { type: 'boolean', default: false } }, HELP);
  await requireDocker();
  const lab = await findLab();
  await requireManager(lab);
  const run = await execInContainer(await backupContainer(lab), ['backup-job', 'info']);
  if (run.exitCode !== 0 || !run.result) {
    throw new StopError(`backup-job info failed (exit ${run.exitCode}): ${run.stdout.trim().slice(-500)}`);
  }
  const list = run.result as unknown as BackupList;
  console.log(flags.json ? JSON.stringify(list, null, 2) : formatBackupList(list).join('\n'));
}

await runCommand(main);
