// `npm run bench`: every benchmark in turn, each in its own process as `npm run bench:<name>` runs it, then one
// summary of which finished. A failed benchmark does not stop the next ones.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { $ } from 'zx';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { formatMs } from './lib/docker.js';
import { step, summary } from './lib/log.js';
import { REPO_ROOT } from './lib/paths.js';

const BENCHMARKS = {
  api: { script: 'bench-api.ts', what: 'the API against raw node:http + pg on one PostgreSQL (about 2.5 min)' },
  failover: { script: 'bench-failover.ts', what: 'write unavailability when the PostgreSQL leader dies (local)' },
  restore: { script: 'bench-restore.ts', what: 'backup and point-in-time restore times with pgBackRest (local)' },
  lab: { script: 'bench-lab.ts', what: 'a lab from nothing, a redeploy under load, a failover (needs Docker)' },
} as const;
type Benchmark = keyof typeof BENCHMARKS;
const NAMES = Object.keys(BENCHMARKS) as Benchmark[];

const HELP = `
Usage: npm run bench [-- --only ${NAMES.join(',')}]

Runs the benchmarks one after the other, each as its own command would (with its default options), and ends
with which finished and how long each took. Figures and their meaning: each command's own output and
npm run bench:<name> -- --help.

${NAMES.map((name) => `  ${name.padEnd(9)} npm run bench:${name}: ${BENCHMARKS[name].what}`).join('\n')}

Options:
  --only <names>   a comma-separated subset, in the order above
  -h, --help       show this help
`;

async function main() {
  const flags = parseFlags(process.argv.slice(2), { only: { type: 'string' } }, HELP);
  const chosen = flags.only === undefined ? NAMES : flags.only.split(',').map((name) => name.trim());
  const unknown = chosen.filter((name) => !NAMES.includes(name as Benchmark));
  if (unknown.length > 0 || chosen.length === 0)
    throw new StopError(`--only takes names among ${NAMES.join(', ')} (got ${flags.only}). See --help.`);
  const results: Record<string, string> = {};
  for (const name of NAMES.filter((candidate) => chosen.includes(candidate))) {
    const started = performance.now();
    const run = await step(
      `npm run bench:${name}`,
      () =>
        $({ stdio: 'inherit', nothrow: true })`${path.join(REPO_ROOT, 'node_modules/.bin/tsx')} ${path.join(
          REPO_ROOT,
          'scripts',
          BENCHMARKS[name].script,
        )}`,
    );
    const took = formatMs(performance.now() - started);
    results[`bench:${name}`] =
      run.exitCode === 0 ? `finished in ${took}` : `FAILED (exit ${run.exitCode}) after ${took}`;
    if (run.exitCode !== 0) process.exitCode = 1;
  }
  summary(process.exitCode ? 'Benchmarks: some failed (see their output above)' : 'Benchmarks finished', {
    ...results,
    next: 'compare with the figures in README.md, docs/data-tier.md, docs/backup-and-restore.md and docs/lab.md',
  });
}

await runCommand(main);
