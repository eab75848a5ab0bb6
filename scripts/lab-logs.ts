// `npm run lab:logs -- <service>`: a stack service's logs from every node of the lab, merged by time.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { intFlag, runCommand, StopError } from './lib/cli.js';
import { readServiceLogs } from './lib/lab-logs.js';
import { STACK } from './lib/lab-secrets.js';
import { REPO_ROOT } from './lib/paths.js';

const HELP = `
Usage: npm run lab:logs -- <service> [--since <when>] [--tail <n>] [--grep <text>]

Prints the logs of every container of a stack service (running or exited) on every node of the lab, oldest first,
one line each: <time> <task>@<node> | <line>. Reads each node's engine, as docker service logs would through the
manager if it did not hang on services with many past tasks. <service> without the stack prefix: api, postgres1,
backup, remediator, ... (swarmlab_api is accepted too).

Options:
  --since <when>   only lines since then: a duration (15m, 2h, 192h) or a timestamp (2026-12-07T06:00:00Z)
  --tail <n>       only the last n lines of each container
  --grep <text>    only lines containing text (as grep -F)
  -h, --help       show this help

Examples:
  npm run lab:logs -- api --since 15m --grep '"status":5'
  npm run lab:logs -- postgres1 --tail 100
`;

/** The stack's services: docker-compose.yml's, the edge fallback's, and blue/green's candidate. */
async function stackServiceNames(): Promise<string[]> {
  const names = new Set(['api-next']);
  for (const file of ['docker-compose.yml', 'lab/edge-fallback/stack.yml']) {
    const stack = parse(await readFile(path.join(REPO_ROOT, file), 'utf8')) as { services?: Record<string, unknown> };
    for (const name of Object.keys(stack.services ?? {})) names.add(name);
  }
  return [...names].sort();
}

const SINCE = /^(\d+(ns|us|µs|ms|s|m|h))+$|^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:\d\d)?)?$/;

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP.trim());
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { since: { type: 'string' }, tail: { type: 'string' }, grep: { type: 'string' } },
    });
  } catch (error) {
    throw new StopError(`${(error as Error).message}\nSee --help.`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new StopError('Name one service, e.g. npm run lab:logs -- api. See --help.');
  const service = positionals[0]!.replace(new RegExp(`^${STACK}_`), '');
  const services = await stackServiceNames();
  if (!services.includes(service))
    throw new StopError(`No service "${service}" in the stack. One of: ${services.join(', ')}.`);
  if (values.since !== undefined && !SINCE.test(values.since))
    throw new StopError(`--since must be a duration (15m, 2h) or a timestamp, not "${values.since}".`);
  const tail = values.tail === undefined ? undefined : intFlag('tail', values.tail, 0, 1_000_000);

  const lines = await readServiceLogs({ service, since: values.since, tail });
  const shown = values.grep === undefined ? lines : lines.filter((line) => line.text.includes(values.grep!));
  for (const line of shown) process.stdout.write(`${line.time} ${line.task}@${line.node} | ${line.text}\n`);
  const where = `${STACK}_${service}${values.since ? ` since ${values.since}` : ''}`;
  if (lines.length === 0) console.error(`No log lines of ${where} on any node.`);
  else if (shown.length === 0)
    console.error(`None of the ${lines.length} log lines of ${where} contains ${values.grep}.`);
}

await runCommand(main);
