// `npm run report`: the weekly report now, made in the lab's reporter service (the same command cron runs on the
// manager every Monday), then copied to <LAB_DIR>/reports/<date>/.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { formatMs, requireDocker } from './lib/docker.js';
import { copyFromContainer, execInContainer, managerContainer } from './lib/lab-backup.js';
import { findLab, requireManager } from './lib/lab-context.js';
import { labPaths } from './lib/lab-secrets.js';
import { step, summary } from './lib/log.js';
import { ensurePrivateDir } from './lib/private-files.js';

const HELP = `
Usage: npm run report [-- --days <n>] [--no-mail]

Makes the report of the last <n> days (default 7) from Prometheus in the lab's reporter service: throughput, error
rate, latency percentiles per route, SLO and error budget, slowest routes, alerts, deployments and backups, as HTML
with SVG charts. Mails it to the lab's mail sink (https://mail.lab.localhost:8443) unless --no-mail, and copies it
to <LAB_DIR>/reports/<date>/.
`;

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    { days: { type: 'string', default: '7' }, 'no-mail': { type: 'boolean', default: false } },
    HELP,
  );
  const days = intFlag('days', flags.days, 1, 30);
  const started = performance.now();
  await requireDocker();
  const lab = await findLab();
  await requireManager(lab);
  const container = await managerContainer(lab, 'reporter');
  const command = ['node', 'dist/cli.js', 'generate', '--days', String(days), ...(flags['no-mail'] ? [] : ['--mail'])];
  const run = await step(`report of the last ${days} days`, () => execInContainer(container, command));
  const dir = typeof run.result?.dir === 'string' ? run.result.dir : undefined;
  if (!dir) throw new StopError(`The report was not made (exit ${run.exitCode}); its output is above.`);
  const paths = labPaths();
  await ensurePrivateDir(path.join(paths.root, 'reports'));
  const local = path.join(paths.root, 'reports', path.basename(dir));
  await step(`copy it to ${path.relative(process.cwd(), local)}`, () => copyFromContainer(container, dir, local));
  summary(`Report made in ${formatMs(performance.now() - started)}`, {
    report: path.join(local, 'index.html'),
    mailed: run.result?.mailed === true ? 'yes: https://mail.lab.localhost:8443' : 'no',
  });
  if (run.exitCode !== 0) throw new StopError('The report was kept, but mailing it failed (see above).');
}

await runCommand(main);
