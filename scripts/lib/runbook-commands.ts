// The commands of the runbooks (docs/runbooks/*.md): extracted from their ```sh / ```bash / ```shell blocks, checked
// against what the lab really offers (scripts/test/runbooks.test.ts), and marked read-only when they are safe to run
// as they stand against a live lab (for the end-to-end test). The rules, in short:
//   npm run <script> [-- flags]   the script exists in package.json, and each flag is in its own --help
//   docker --context swarmlab ... the lab (node1's TLS API); plain `docker` reaches this machine's engine instead
//   docker exec swarmlab-nodeN .. a command inside a node container (docker driver): the nodes' engines, df, logs
//   curl, openssl, jq, grep, cat  reads of what the lab serves, and filters
// and never `docker service rollback` (npm run rollback) nor a command that removes the stack, a service or data.
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { $ } from 'zx';
import { REPO_ROOT } from './paths.js';

export const RUNBOOK_DIR = path.join(REPO_ROOT, 'docs/runbooks');

/** Fenced code blocks whose lines are shell commands. */
export const SHELL_LANGUAGES = ['sh', 'bash', 'shell'];

/** Commands allowed on the operator's machine besides npm and docker, and why a runbook needs them. */
export const HOST_COMMANDS: Record<string, string> = {
  curl: 'reads a URL the lab serves (https://<name>.lab.localhost:8443, with the lab CA)',
  openssl: 'reads a certificate: the one the edge serves, or the lab certificate in LAB_DIR',
  jq: 'filters JSON',
  grep: 'filters lines',
  cat: "reads a file of LAB_DIR (a password for curl's --user)",
};

/** Commands allowed inside a node container (`docker exec swarmlab-nodeN ...`) besides its engine's `docker`. */
export const NODE_COMMANDS: Record<string, string> = {
  df: "the node's disk",
  tail: "the node's logs (/var/log/swarmlab-jobs.log: cron's jobs on node1)",
  grep: "the node's files (/etc/cron.d/swarmlab, its logs)",
  cat: "the node's files (/etc/cron.d/swarmlab)",
  dmesg: "the kernel's log (the OOM killer's victims)",
};

/** Commands allowed inside a task's container (`docker exec <container> ...`): a PostgreSQL member's tools. */
export const TASK_COMMANDS: Record<string, string> = {
  psql: 'SQL on a member, as postgres over its own socket',
  patronictl: "Patroni's view of the cluster, read from etcd (-c /run/swarmlab/patroni.yml)",
};

/** The node containers of the docker driver (scripts/lib/lab-docker.ts NODES). */
export const NODE_CONTAINER = /^swarmlab-node[1-3]$/;

/** The lab's CA and the URLs it serves (scripts/lib/lab-secrets.ts labPaths, scripts/lib/lab-context.ts labUrl). */
export const LAB_CA = '.lab/ca/ca.crt';
const LAB_URL = /^https:\/\/[a-z0-9-]+\.lab\.localhost:8443(\/|$)/;

/** npm scripts that only read (the end-to-end test may run them as they stand). */
export const READ_ONLY_SCRIPTS = ['lab:status', 'lab:logs', 'db:status', 'backup:list', 'kpi'];

/** Docker commands that only read (first words after `docker [--context swarmlab]`). */
const READ_ONLY_DOCKER = [
  'service ps',
  'service ls',
  'service logs',
  'service inspect',
  'node ls',
  'node ps',
  'node inspect',
  'stack ls',
  'stack ps',
  'stack services',
  'ps',
  'container ls',
  'logs',
  'stats',
  'system df',
  'info',
  'version',
  'inspect',
];

/** Docker commands a runbook never gives, with what to write instead. */
const FORBIDDEN_DOCKER: Record<string, string> = {
  'service rollback':
    'use npm run rollback (a plain Swarm rollback leaves a blue/green release serving, and skips the smoke test)',
  'stack deploy': 'use npm run deploy',
  'stack rm': 'removes the whole stack: not a runbook step',
  'service rm': 'removes a service: not a runbook step',
  'node rm': 'npm run lab:up (provision.sh labels) removes the stale entry of a node made again',
  'swarm leave': 'takes a node out of the swarm: not a runbook step',
  'swarm init': 'the provisioning makes the swarm',
  'volume rm': 'deletes data: not a runbook step',
  'volume prune': 'deletes data: not a runbook step',
  'system prune': 'may delete volumes and networks: prune images (image prune) or the build cache (builder prune)',
};

export interface RunbookCommand {
  /** The runbook, as given to extractCommands (a path relative to the repository for the real ones). */
  file: string;
  /** The line of the command's first line in the file (1-based). */
  line: number;
  /** The command as written, continuation lines joined. */
  text: string;
  /** Its simple commands as shell words: pipeline stages, `&&`/`;` lists, and those inside `$(...)`. */
  simple: string[][];
  /** `<name>` placeholders for the operator to fill in: a command with any cannot run as it stands. */
  placeholders: string[];
  /**
   * Safe to run as it stands against the lab: only reads, ends by itself, no placeholder, no file written. Some read
   * what only the docker driver (`docker exec swarmlab-nodeN`) or the Traefik edge (the ops UIs) has.
   */
  readOnly: boolean;
  /** Why the command could not be parsed (unbalanced quotes, backticks, subshells), if it could not. */
  syntax?: string;
}

export interface CodeBlock {
  /** Its language, '' when the fence names none. */
  language: string;
  /** The line of the opening fence (1-based). */
  line: number;
  /** Its lines with their line numbers, the block's indentation removed. */
  lines: { line: number; text: string }[];
}

export interface Finding {
  file: string;
  line: number;
  command: string;
  problem: string;
}

export const formatFinding = (finding: Finding) =>
  `${finding.file}:${finding.line}: ${finding.command}\n  → ${finding.problem}`;

// --- extraction ------------------------------------------------------------------------------------------------

/** The fenced code blocks of a Markdown text (``` or ~~~, indented or not). */
export function codeBlocks(markdown: string, file = '<text>'): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let open: (CodeBlock & { fence: string; indent: number }) | undefined;
  markdown.split('\n').forEach((text, index) => {
    const line = index + 1;
    if (open) {
      if (new RegExp(`^\\s*${open.fence[0]}{${open.fence.length},}\\s*$`).test(text)) {
        const { fence: _fence, indent: _indent, ...block } = open;
        blocks.push(block);
        open = undefined;
      } else {
        const indent = Math.min(open.indent, text.length - text.trimStart().length);
        open.lines.push({ line, text: text.slice(indent) });
      }
      return;
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(text);
    if (fence) open = { language: fence[3]!, line, lines: [], fence: fence[2]!, indent: fence[1]!.length };
  });
  if (open) throw new Error(`${file}:${open.line}: a code block is never closed`);
  return blocks;
}

/** The commands of a Markdown text's shell blocks: `\` continuations joined, comments and blank lines skipped. */
export function extractCommands(markdown: string, file = '<text>'): RunbookCommand[] {
  const commands: RunbookCommand[] = [];
  for (const block of codeBlocks(markdown, file)) {
    if (!SHELL_LANGUAGES.includes(block.language)) continue;
    let pending: { line: number; text: string } | undefined;
    for (const { line, text } of block.lines) {
      const trimmed = text.trim();
      if (!pending && (trimmed === '' || trimmed.startsWith('#'))) continue;
      const continued = /(^|[^\\])\\$/.test(trimmed);
      const part = continued ? trimmed.slice(0, -1).trimEnd() : trimmed;
      pending = pending ? { line: pending.line, text: `${pending.text} ${part}` } : { line, text: part };
      if (!continued) {
        commands.push(toCommand(file, pending.line, pending.text));
        pending = undefined;
      }
    }
    if (pending) commands.push(toCommand(file, pending.line, pending.text));
  }
  return commands;
}

/** Every runbook's commands, by file (relative to the repository). */
export async function runbookCommands(dir = RUNBOOK_DIR): Promise<Map<string, RunbookCommand[]>> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.md')).sort();
  const byFile = new Map<string, RunbookCommand[]>();
  for (const name of files) {
    const file = path.relative(REPO_ROOT, path.join(dir, name));
    byFile.set(file, extractCommands(await readFile(path.join(dir, name), 'utf8'), file));
  }
  return byFile;
}

function toCommand(file: string, line: number, text: string): RunbookCommand {
  const parsed = parseShell(text);
  const simple = parsed.simple;
  const placeholders = [...new Set(simple.flat().flatMap((word) => word.match(/<[A-Za-z][\w-]*>/g) ?? []))];
  const writesFile = parsed.redirects.some((r) => r.op.includes('>') && r.target !== '/dev/null');
  const readOnly =
    parsed.error === undefined &&
    placeholders.length === 0 &&
    !writesFile &&
    simple.length > 0 &&
    simple.every((words) => simpleIsReadOnly(words));
  return {
    file,
    line,
    text,
    simple,
    placeholders,
    readOnly,
    ...(parsed.error !== undefined && { syntax: parsed.error }),
  };
}

// --- a small shell parser: words, operators, redirections, $(...) ----------------------------------------------

interface Parsed {
  simple: string[][];
  redirects: { op: string; target: string }[];
  error?: string;
}

/** The matching `)` of the `(` at `open`, quotes respected; -1 when there is none. */
function closingParen(text: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Splits one command line into simple commands of words (quotes removed); `$(...)` inside is parsed too. */
export function parseShell(text: string): Parsed {
  const lists: string[][] = [[]];
  const inner: string[][] = [];
  const redirects: Parsed['redirects'] = [];
  let word: string | undefined;
  let redirect: string | undefined;
  const finishWord = () => {
    if (word === undefined) return;
    if (redirect !== undefined) redirects.push({ op: redirect, target: word });
    else lists.at(-1)!.push(word);
    word = undefined;
    redirect = undefined;
  };
  const operator = () => {
    finishWord();
    lists.push([]);
  };
  const substitution = (at: number): number | string => {
    const end = closingParen(text, at + 1);
    if (end < 0) return 'a $( without its )';
    const nested = parseShell(text.slice(at + 2, end));
    if (nested.error) return nested.error;
    inner.push(...nested.simple);
    redirects.push(...nested.redirects);
    word = (word ?? '') + text.slice(at, end + 1);
    return end + 1;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      finishWord();
      i++;
    } else if (c === '#' && word === undefined) {
      break;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { simple: [], redirects, error: 'an unclosed single quote' };
      word = (word ?? '') + text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      word ??= '';
      i++;
      for (;;) {
        if (i >= text.length) return { simple: [], redirects, error: 'an unclosed double quote' };
        const d = text[i]!;
        if (d === '"') break;
        if (d === '`') return { simple: [], redirects, error: 'backticks: write $(...)' };
        if (d === '\\' && '"\\$`'.includes(text[i + 1] ?? '')) {
          word += text[i + 1];
          i += 2;
        } else if (d === '$' && text[i + 1] === '(') {
          const next = substitution(i);
          if (typeof next === 'string') return { simple: [], redirects, error: next };
          i = next;
        } else {
          word += d;
          i++;
        }
      }
      i++;
    } else if (c === '\\') {
      word = (word ?? '') + (text[i + 1] ?? '');
      i += 2;
    } else if (c === '$' && text[i + 1] === '(') {
      const next = substitution(i);
      if (typeof next === 'string') return { simple: [], redirects, error: next };
      i = next;
    } else if (c === '`') {
      return { simple: [], redirects, error: 'backticks: write $(...)' };
    } else if (c === '(' || c === ')' || c === '{' || c === '}') {
      if (word !== undefined || c === '{' || c === '}') {
        word = (word ?? '') + c;
        i++;
      } else return { simple: [], redirects, error: 'a subshell: one command per line' };
    } else if (c === '|' || c === ';' || (c === '&' && text[i + 1] !== '>')) {
      const double = text[i + 1] === c && c !== ';';
      operator();
      i += double ? 2 : 1;
    } else if (c === '<' && /^<[A-Za-z][\w-]*>/.test(text.slice(i))) {
      const placeholder = /^<[A-Za-z][\w-]*>/.exec(text.slice(i))![0];
      word = (word ?? '') + placeholder;
      i += placeholder.length;
    } else if (c === '<' || c === '>' || c === '&') {
      // A redirection: an fd number before it belongs to it; `>&2`, `2>&1` need no target.
      if (word !== undefined && /^\d+$/.test(word)) word = undefined;
      else finishWord();
      const op = /^(&>>?|<<?|>>?|>\||>&|<&)/.exec(text.slice(i))![0];
      i += op.length;
      const dup = /^(\d+|-)/.exec(text.slice(i));
      if (op.endsWith('&') && dup) {
        i += dup[0].length;
      } else {
        while (text[i] === ' ') i++;
        redirect = op;
      }
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  finishWord();
  if (redirect !== undefined) return { simple: [], redirects, error: `a redirection (${redirect}) without its target` };
  if (lists.some((words) => words.length === 0) && lists.length > 1) {
    return { simple: [], redirects, error: 'an operator with no command on one side' };
  }
  return { simple: [...lists.filter((words) => words.length > 0), ...inner], redirects };
}

// --- read-only rule --------------------------------------------------------------------------------------------

/** The words after `docker` once the global options this allows (--context swarmlab) are taken off. */
function dockerArgs(words: string[]): string[] {
  if (words[1] === '--context') return words.slice(3);
  if (words[1]?.startsWith('--context=')) return words.slice(2);
  return words.slice(1);
}

const subcommand = (args: string[], list: string[]) =>
  list.find((entry) => {
    const parts = entry.split(' ');
    return parts.every((part, index) => args[index] === part);
  });

/** `docker exec [options] CONTAINER COMMAND...`: the container and the command. */
function execTarget(args: string[]): { container?: string; command: string[] } {
  const withValue = new Set(['-e', '--env', '-u', '--user', '-w', '--workdir', '--env-file', '--detach-keys']);
  let i = 1;
  while (i < args.length && args[i]!.startsWith('-')) i += withValue.has(args[i]!) ? 2 : 1;
  return { container: args[i], command: args.slice(i + 1) };
}

function dockerIsReadOnly(words: string[]): boolean {
  const args = dockerArgs(words);
  if (args[0] === 'exec') {
    const { container, command } = execTarget(args);
    // Into a node: its engine's reads and the node's own files; into a task: never assumed read-only.
    if (container && NODE_CONTAINER.test(container) && command[0]) {
      return command[0] === 'docker' ? dockerIsReadOnly(command) : simpleIsReadOnly(command);
    }
    return false;
  }
  const which = subcommand(args, READ_ONLY_DOCKER);
  if (!which) return false;
  if ((which === 'service logs' || which === 'logs') && args.some((arg) => arg === '-f' || arg === '--follow')) {
    return false;
  }
  if (which === 'stats' && !args.includes('--no-stream')) return false;
  return true;
}

function curlIsReadOnly(words: string[]): boolean {
  const get = words.includes('--get') || words.includes('-G');
  const sends = words.some((word) => /^(-d|--data(-\w+)?|-F|--form|-T|--upload-file)$/.test(word));
  const method = words.findIndex((word) => word === '-X' || word === '--request');
  const output = words.findIndex((word) => word === '-o' || word === '--output');
  return (
    (!sends || get) && (method < 0 || words[method + 1] === 'GET') && (output < 0 || words[output + 1] === '/dev/null')
  );
}

/** Whether one simple command only reads and ends by itself. */
export function simpleIsReadOnly(words: string[]): boolean {
  const [first = ''] = words;
  if (first === 'npm') return words[1] === 'run' && READ_ONLY_SCRIPTS.includes(words[2] ?? '');
  if (first === 'docker') return dockerIsReadOnly(words);
  if (first === 'curl') return curlIsReadOnly(words);
  if (first === 'tail') return !words.some((word) => word === '-f' || word === '-F' || word === '--follow');
  if (first === 'openssl') return ['s_client', 'x509'].includes(words[1] ?? '');
  return ['jq', 'grep', 'cat', 'df', 'dmesg'].includes(first);
}

// --- the checks ------------------------------------------------------------------------------------------------

export interface CheckContext {
  /** package.json's scripts. */
  scripts: Record<string, string>;
  /** A script's --help text; undefined when it has none to ask (not a `tsx scripts/...` command). */
  help: (name: string) => Promise<string | undefined>;
}

/** Whether `flag` (--name or -x) is named in a help text. */
export const helpNames = (help: string, flag: string) =>
  new RegExp(`(^|[^\\w-])${flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`).test(help);

async function checkNpm(words: string[], context: CheckContext): Promise<string[]> {
  let name: string | undefined;
  let rest: string[];
  if (words[1] === 'test') {
    name = 'test';
    rest = words.slice(2);
  } else if (words[1] === 'run') {
    name = words[2];
    rest = words.slice(3);
  } else return [`npm ${words[1] ?? ''}: write npm run <script> (or npm test)`];
  if (!name || name.startsWith('-')) return ['npm run without a script name'];
  if (!Object.hasOwn(context.scripts, name)) return [`npm run ${name}: package.json has no script "${name}"`];
  if (rest.length === 0) return [];
  if (rest[0] !== '--') return [`npm run ${name}: the script's arguments go after --`];
  const flags = rest
    .slice(1)
    .filter((word) => /^--?[A-Za-z]/.test(word))
    .map((word) => word.split('=')[0]!);
  if (flags.length === 0) return [];
  const help = await context.help(name);
  if (help === undefined) return [`npm run ${name}: its flags cannot be checked (its command is not tsx scripts/...)`];
  return flags
    .filter((flag) => !helpNames(help, flag))
    .map((flag) => `npm run ${name}: ${flag} is not a flag of the script (npm run ${name} -- --help)`);
}

function checkDocker(words: string[], where: 'host' | 'node'): string[] {
  const args = words.slice(1);
  if (where === 'host') {
    if (args[0] === '--context' || args[0]?.startsWith('--context=')) {
      const value = args[0] === '--context' ? args[1] : args[0].slice('--context='.length);
      if (value !== 'swarmlab') return [`docker --context ${value ?? ''}: the lab's context is swarmlab`];
      return checkDockerCommand(dockerArgs(words), 'lab');
    }
    if (args[0] === 'exec') {
      const { container, command } = execTarget(args);
      if (!container || !NODE_CONTAINER.test(container)) {
        return [
          `docker exec ${container ?? ''} reaches this machine's engine: write docker --context swarmlab exec ` +
            '(node1), or go through a node container (docker exec swarmlab-node<N> docker exec ...)',
        ];
      }
      return checkInNode(command);
    }
    return [
      "docker without --context swarmlab talks to this machine's engine, not the lab: write docker --context swarmlab ...",
    ];
  }
  if (args[0]?.startsWith('-')) return [`docker ${args[0]} inside a node: no global options there`];
  return checkDockerCommand(args, 'node');
}

function checkDockerCommand(args: string[], engine: 'lab' | 'node'): string[] {
  if (args.length === 0) return ['docker with no command'];
  const forbidden = Object.keys(FORBIDDEN_DOCKER).find((entry) => subcommand(args, [entry]));
  if (forbidden) return [`docker ${forbidden}: ${FORBIDDEN_DOCKER[forbidden]}`];
  if (engine === 'node' && ['service', 'stack', 'node', 'swarm', 'secret', 'config'].includes(args[0]!)) {
    return [`docker ${args[0]} on a node's engine: swarm commands go to the manager, docker --context swarmlab ...`];
  }
  if (args[0] === 'exec') {
    const { container, command } = execTarget(args);
    if (!container) return ['docker exec without a container'];
    if (command.length === 0) return [`docker exec ${container} without a command`];
    if (!Object.hasOwn(TASK_COMMANDS, command[0]!)) {
      return [`${command[0]} in a task's container: allowed there are ${Object.keys(TASK_COMMANDS).join(', ')}`];
    }
  }
  return [];
}

function checkInNode(command: string[]): string[] {
  const [first] = command;
  if (!first) return ['docker exec swarmlab-node<N> without a command'];
  if (first === 'docker') return checkDocker(command, 'node');
  if (Object.hasOwn(NODE_COMMANDS, first)) return [];
  return [`${first} in a node container: allowed there are docker, ${Object.keys(NODE_COMMANDS).join(', ')}`];
}

function checkCurl(words: string[]): string[] {
  const problems: string[] = [];
  const ca = words.indexOf('--cacert');
  if (ca < 0 || words[ca + 1] !== LAB_CA) problems.push(`curl without --cacert ${LAB_CA} (the lab CA)`);
  const urls = words.filter((word) => /^https?:\/\//.test(word));
  if (urls.length === 0 || urls.some((url) => !LAB_URL.test(url))) {
    problems.push('curl of a URL the lab does not serve: https://<name>.lab.localhost:8443/...');
  }
  if (words.some((word) => word === '-k' || word === '--insecure')) problems.push('curl --insecure: use the lab CA');
  return problems;
}

async function checkSimple(words: string[], context: CheckContext): Promise<string[]> {
  const [first = ''] = words;
  if (first === 'npm') return checkNpm(words, context);
  if (first === 'docker') return checkDocker(words, 'host');
  if (first === 'curl') return checkCurl(words);
  if (Object.hasOwn(HOST_COMMANDS, first)) return [];
  return [
    `unknown command "${first}": a runbook uses npm run, docker --context swarmlab, ${Object.keys(HOST_COMMANDS).join(', ')}`,
  ];
}

/** Everything wrong with the commands; none is fine. */
export async function checkCommands(commands: RunbookCommand[], context: CheckContext): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const command of commands) {
    const at = { file: command.file, line: command.line, command: command.text };
    if (command.syntax) {
      findings.push({ ...at, problem: `cannot be read as one command: ${command.syntax}` });
      continue;
    }
    for (const words of command.simple) {
      for (const problem of await checkSimple(words, context)) findings.push({ ...at, problem });
    }
  }
  return findings;
}

// --- the scripts' own help -------------------------------------------------------------------------------------

/** package.json's scripts. */
export function packageScripts(root = REPO_ROOT): Record<string, string> {
  return (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
}

/**
 * A help source for checkCommands: runs each `tsx scripts/...` script with --help once (its command's own arguments
 * kept: `tsx scripts/lab.ts status --help`), as `npm run <name> -- --help` would. `env` is the environment to run it
 * in (the help must not need a lab, and exits before reaching one).
 */
export function scriptHelp(
  scripts: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): (name: string) => Promise<string | undefined> {
  const cache = new Map<string, Promise<string | undefined>>();
  const tsx = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
  return (name) => {
    const command = scripts[name];
    const words = command?.trim().split(/\s+/) ?? [];
    if (words[0] !== 'tsx' || !words[1]?.startsWith('scripts/') || words.some((word) => /[;&|<>$`]/.test(word))) {
      return Promise.resolve(undefined);
    }
    let help = cache.get(name);
    if (!help) {
      help = $({
        cwd: REPO_ROOT,
        env,
        quiet: true,
        nothrow: true,
        timeout: '90s',
      })`${tsx} ${words.slice(1)} --help`.then((result) => {
        if (result.exitCode !== 0) {
          throw new Error(`npm run ${name} -- --help exited ${result.exitCode}: ${result.stderr.trim()}`);
        }
        return result.stdout;
      });
      cache.set(name, help);
    }
    return help;
  };
}
