// The log pipeline's configuration, checked without Loki or Alloy (their official images cannot be pulled here,
// see docs/monitoring.md "Logs"): monitoring/loki/loki.yml parsed as YAML and held to the lab's settings, and
// monitoring/alloy/config.alloy read by a small parser of Alloy's syntax (comments, strings, blocks, attributes;
// it checks structure and wiring, it does not evaluate Alloy). Where a rule can be run it is: the regular
// expressions that strip the stack prefix run on real Swarm names, and the API's own logger writes the line the
// collector and Grafana's requestId link read. Every check has a negative case: a copy with one mistake is refused.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../api/src/lib/logger.js';
import { accessLog } from '../../api/src/middleware/access-log.js';
import { REPO_ROOT } from '../lib/paths.js';

const LOKI_CONFIG = path.join(REPO_ROOT, 'monitoring/loki/loki.yml');
const ALLOY_CONFIG = path.join(REPO_ROOT, 'monitoring/alloy/config.alloy');
const DATASOURCES = path.join(REPO_ROOT, 'monitoring/grafana/provisioning/datasources/datasources.yml');

/** Where Alloy pushes, and where Grafana reads (the datasource uid `loki`). */
const LOKI_PUSH_URL = 'http://loki:3100/loki/api/v1/push';
const LOKI_URL = 'http://loki:3100';
const RETENTION_HOURS = 14 * 24;
/** Labels every line must carry (docs/monitoring.md "Logs"); the dashboards query service="api". */
const REQUIRED_LABELS = ['service', 'task', 'node', 'stream'];
const STACK_PREFIX_CASES = [
  { field: 'com.docker.swarm.service.name', label: 'service', name: 'swarmlab_api', expected: 'api' },
  {
    field: 'com.docker.swarm.service.name',
    label: 'service',
    name: 'swarmlab_node-exporter',
    expected: 'node-exporter',
  },
  { field: 'com.docker.swarm.task.name', label: 'task', name: 'swarmlab_api.2.k3x9q1', expected: 'api.2.k3x9q1' },
];

/** Replaces `from` (which must be there, so that a negative case never tests an unchanged copy). */
function mutate(text: string, from: string | RegExp, to: string): string {
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`the mutation found nothing to change: ${String(from)}`);
  return changed;
}

// --- Loki ---------------------------------------------------------------------------------------------------------

interface LokiConfig {
  auth_enabled?: boolean;
  server?: { http_listen_port?: number };
  common?: { path_prefix?: string; storage?: { filesystem?: { chunks_directory?: string } } };
  schema_config?: {
    configs?: { from: string; store: string; object_store: string; schema: string; index?: { period?: string } }[];
  };
  compactor?: { working_directory?: string; retention_enabled?: boolean; delete_request_store?: string };
  limits_config?: { retention_period?: string; allow_structured_metadata?: boolean };
  analytics?: { reporting_enabled?: boolean };
}

/** Hours in a Prometheus-style duration (336h, 14d, 2w); NaN when it is not one. */
function hours(duration: string | undefined): number {
  const units: Record<string, number> = { m: 1 / 60, h: 1, d: 24, w: 24 * 7 };
  const parts = [...(duration ?? '').matchAll(/(\d+)(m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== duration) return NaN;
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * units[unit!]!, 0);
}

/** What the lab requires of Loki's configuration (docs/monitoring.md "Logs"); each problem is one sentence. */
function lokiProblems(doc: LokiConfig): string[] {
  const problems: string[] = [];
  // Loki's defaults are auth on and reports on: both must be said.
  if (doc.auth_enabled !== false) problems.push('auth_enabled must be false: Alloy and Grafana send no tenant');
  if (doc.analytics?.reporting_enabled !== false) problems.push('analytics.reporting_enabled must be false');
  if (doc.server?.http_listen_port !== 3100) problems.push(`server.http_listen_port must be 3100 (${LOKI_URL})`);

  const retention = hours(doc.limits_config?.retention_period);
  if (retention !== RETENTION_HOURS) {
    problems.push(`limits_config.retention_period is ${doc.limits_config?.retention_period}: must be 336h (14 days)`);
  }
  if (doc.compactor?.retention_enabled !== true) problems.push('compactor.retention_enabled must be true');
  if (!doc.compactor?.delete_request_store) problems.push('compactor.delete_request_store is required with retention');

  const schemas = [...(doc.schema_config?.configs ?? [])].sort((a, b) => String(a.from).localeCompare(String(b.from)));
  const current = schemas.at(-1);
  if (current?.store !== 'tsdb' || current.schema !== 'v13') {
    problems.push(`the current schema is ${current?.store}/${current?.schema}, not tsdb/v13 (structured metadata)`);
  }
  if (current?.index?.period !== '24h') problems.push('the index period must be 24h (the compactor retains by day)');
  if (doc.limits_config?.allow_structured_metadata !== true) {
    problems.push('limits_config.allow_structured_metadata must be true (requestId)');
  }

  // Everything on the volume loki-data, mounted at /loki.
  const onVolume = (dir: string | undefined) => dir === '/loki' || (dir ?? '').startsWith('/loki/');
  for (const [key, dir] of [
    ['common.path_prefix', doc.common?.path_prefix],
    ['common.storage.filesystem.chunks_directory', doc.common?.storage?.filesystem?.chunks_directory],
    ['compactor.working_directory', doc.compactor?.working_directory],
  ] as const) {
    if (!onVolume(dir)) problems.push(`${key} is ${dir}, not under /loki (the volume loki-data)`);
  }
  return problems;
}

describe('Loki (monitoring/loki/loki.yml)', () => {
  const text = readFileSync(LOKI_CONFIG, 'utf8');
  const doc = parse(text) as LokiConfig;

  it('when loki.yml is parsed, then it keeps 14 days through the compactor, on schema v13 tsdb, with structured metadata', () => {
    expect(doc.limits_config?.retention_period).toBe('336h');
    expect(doc.compactor).toMatchObject({ retention_enabled: true, delete_request_store: 'filesystem' });
    expect(doc.schema_config?.configs?.at(-1)).toMatchObject({
      store: 'tsdb',
      schema: 'v13',
      object_store: 'filesystem',
    });
    expect(doc.limits_config?.allow_structured_metadata).toBe(true);
    expect(doc).toMatchObject({ auth_enabled: false, analytics: { reporting_enabled: false } });
    expect(lokiProblems(doc)).toEqual([]);
  });

  it('when loki.yml is read, then its header says what it is, which image reads it and where it is mounted', () => {
    const header = text
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .join('\n');
    expect(header).toMatch(/grafana\/loki/);
    expect(header).toContain('/etc/loki/local-config.yaml');
    expect(header).toContain('loki-data');
  });

  it.each<[string, (copy: LokiConfig) => void, RegExp]>([
    [
      'retention is 30 days',
      (copy) => (copy.limits_config!.retention_period = '720h'),
      /retention_period is 720h: must be 336h/,
    ],
    ['retention is not a duration', (copy) => (copy.limits_config!.retention_period = '14 days'), /retention_period/],
    [
      'the compactor does not apply retention',
      (copy) => (copy.compactor!.retention_enabled = false),
      /retention_enabled/,
    ],
    [
      'the delete request store is missing',
      (copy) => delete copy.compactor!.delete_request_store,
      /delete_request_store/,
    ],
    ['the schema is v12', (copy) => (copy.schema_config!.configs!.at(-1)!.schema = 'v12'), /not tsdb\/v13/],
    ['the index is boltdb-shipper', (copy) => (copy.schema_config!.configs!.at(-1)!.store = 'boltdb-shipper'), /tsdb/],
    ['the index period is a week', (copy) => (copy.schema_config!.configs!.at(-1)!.index = { period: '168h' }), /24h/],
    ['structured metadata is refused', (copy) => (copy.limits_config!.allow_structured_metadata = false), /structured/],
    ['auth is on', (copy) => (copy.auth_enabled = true), /auth_enabled/],
    ['auth is left to the default', (copy) => delete copy.auth_enabled, /auth_enabled/],
    ['analytics are left to the default', (copy) => delete copy.analytics, /analytics/],
    ['Loki listens on 3101', (copy) => (copy.server!.http_listen_port = 3101), /3100/],
    ['data lives outside the volume', (copy) => (copy.common!.path_prefix = '/tmp/loki'), /path_prefix.*\/loki/],
  ])('when %s in a copy of loki.yml, then the check refuses it', (_, change, expected) => {
    const copy = structuredClone(doc);
    change(copy);
    expect(lokiProblems(copy).join('\n')).toMatch(expected);
  });
});

// --- Alloy's syntax -----------------------------------------------------------------------------------------------

interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct' | 'newline';
  value: string;
  line: number;
}
interface Attribute {
  name: string;
  value: Token[];
  line: number;
}
interface Block {
  name: string;
  label?: string;
  attributes: Attribute[];
  blocks: Block[];
  line: number;
}

class AlloySyntaxError extends Error {}

/** Alloy's tokens: `//` and block comments dropped, "..." (JSON escapes) and `...` strings, balanced brackets. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const open: { char: string; line: number }[] = [];
  const closes: Record<string, string> = { '}': '{', ']': '[', ')': '(' };
  let line = 1;
  let i = 0;
  const fail = (message: string, at = line): never => {
    throw new AlloySyntaxError(`line ${at}: ${message}`);
  };
  const word = /[A-Za-z_][A-Za-z0-9_]*/y;
  const number = /[0-9][0-9.]*/y;
  while (i < text.length) {
    const char = text[i]!;
    if (char === '\n') {
      tokens.push({ kind: 'newline', value: char, line });
      line += 1;
      i += 1;
    } else if (/\s/.test(char)) {
      i += 1;
    } else if (text.startsWith('//', i)) {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) fail('a /* comment is never closed');
      line += (text.slice(i, end).match(/\n/g) ?? []).length;
      i = end + 2;
    } else if (char === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\n') fail('a string is not closed on its line');
        j += text[j] === '\\' ? 2 : 1;
      }
      if (j >= text.length) fail('a string is never closed');
      const literal = text.slice(i, j + 1);
      let value = '';
      try {
        value = JSON.parse(literal) as string;
      } catch {
        fail(`an escape this check does not know in ${literal}`);
      }
      tokens.push({ kind: 'string', value, line });
      i = j + 1;
    } else if (char === '`') {
      const end = text.indexOf('`', i + 1);
      if (end === -1) fail('a `raw string` is never closed');
      const value = text.slice(i + 1, end);
      tokens.push({ kind: 'string', value, line });
      line += (value.match(/\n/g) ?? []).length;
      i = end + 1;
    } else if (((word.lastIndex = i), word.test(text))) {
      tokens.push({ kind: 'ident', value: text.slice(i, word.lastIndex), line });
      i = word.lastIndex;
    } else if (((number.lastIndex = i), number.test(text))) {
      tokens.push({ kind: 'number', value: text.slice(i, number.lastIndex), line });
      i = number.lastIndex;
    } else if ('{}[]()=,.:+-*/%!<>&|?'.includes(char)) {
      if ('{[('.includes(char)) open.push({ char, line });
      if ('}])'.includes(char)) {
        const top = open.pop() ?? fail(`${char} closes nothing`);
        if (top.char !== closes[char]) fail(`${char} closes the ${top.char} opened on line ${top.line}`);
      }
      tokens.push({ kind: 'punct', value: char, line });
      i += 1;
    } else {
      fail(`unexpected character ${JSON.stringify(char)}`);
    }
  }
  const unclosed = open.at(-1);
  if (unclosed) fail(`the ${unclosed.char} opened here is never closed`, unclosed.line);
  return tokens;
}

/** The file as blocks (`name "label" { ... }`) and attributes (`name = expression`), nested. */
function parseAlloy(text: string): Block {
  const tokens = tokenize(text);
  let i = 0;
  const fail = (message: string, at: Token | undefined): never => {
    throw new AlloySyntaxError(`line ${at?.line ?? 'end'}: ${message}`);
  };
  const body = (block: Block, closing: boolean): Block => {
    for (;;) {
      while (tokens[i]?.kind === 'newline') i += 1;
      const start = tokens[i];
      if (!start) return closing ? fail(`block ${block.name} is never closed`, start) : block;
      if (start.value === '}' && start.kind === 'punct') {
        if (!closing) fail('} closes nothing', start);
        i += 1;
        return block;
      }
      if (start.kind !== 'ident') fail(`expected a block or an attribute, found ${start.value}`, start);
      let name = start.value;
      i += 1;
      while (tokens[i]?.value === '.' && tokens[i + 1]?.kind === 'ident') {
        name += `.${tokens[i + 1]!.value}`;
        i += 2;
      }
      if (tokens[i]?.value === '=') {
        i += 1;
        const value: Token[] = [];
        let depth = 0;
        for (; i < tokens.length; i += 1) {
          const token = tokens[i]!;
          if (depth === 0 && (token.kind === 'newline' || (token.kind === 'punct' && token.value === '}'))) break;
          if (token.kind === 'punct' && '{[('.includes(token.value)) depth += 1;
          if (token.kind === 'punct' && '}])'.includes(token.value)) depth -= 1;
          value.push(token);
        }
        if (value.length === 0) fail(`${name} = has no value`, start);
        block.attributes.push({ name, value, line: start.line });
        continue;
      }
      const label = tokens[i]?.kind === 'string' ? tokens[i]!.value : undefined;
      if (label !== undefined) i += 1;
      if (tokens[i]?.value !== '{') fail(`${name} is neither an attribute (=) nor a block ({)`, start);
      i += 1;
      block.blocks.push(body({ name, label, attributes: [], blocks: [], line: start.line }, true));
    }
  };
  return body({ name: '', attributes: [], blocks: [], line: 1 }, false);
}

const attribute = (block: Block | undefined, name: string) => block?.attributes.find((a) => a.name === name)?.value;
const stringsIn = (tokens: Token[] | undefined) =>
  (tokens ?? []).filter((t) => t.kind === 'string').map((t) => t.value);
/** The single string an expression is, if it is one. */
const stringOf = (tokens: Token[] | undefined) => {
  const meaningful = (tokens ?? []).filter((token) => token.kind !== 'newline');
  return meaningful.length === 1 && meaningful[0]!.kind === 'string' ? meaningful[0]!.value : undefined;
};

/** Dotted references in an expression: `loki.process.containers.receiver`, `sys.env`. */
function referencesIn(tokens: Token[] | undefined): string[] {
  const found: string[] = [];
  const list = tokens ?? [];
  for (let i = 0; i < list.length; i += 1) {
    if (list[i]!.kind !== 'ident' || list[i - 1]?.value === '.') continue;
    let reference = list[i]!.value;
    while (list[i + 1]?.value === '.' && list[i + 2]?.kind === 'ident') {
      reference += `.${list[i + 2]!.value}`;
      i += 2;
    }
    if (reference.includes('.')) found.push(reference);
  }
  return found;
}

/** The entries of an object expression `{ key = value, ... }` (keys as identifiers or strings). */
function entriesOf(tokens: Token[] | undefined): Map<string, Token[]> {
  const entries = new Map<string, Token[]>();
  const list = (tokens ?? []).filter((token) => token.kind !== 'newline');
  if (list[0]?.value !== '{') return entries;
  let i = 1;
  while (i < list.length - 1) {
    const key = list[i]!;
    if (list[i + 1]?.value !== '=') break;
    i += 2;
    const value: Token[] = [];
    let depth = 0;
    for (; i < list.length - 1; i += 1) {
      const token = list[i]!;
      if (depth === 0 && token.value === ',' && token.kind === 'punct') break;
      if (token.kind === 'punct' && '{[('.includes(token.value)) depth += 1;
      if (token.kind === 'punct' && '}])'.includes(token.value)) depth -= 1;
      value.push(token);
    }
    entries.set(key.value, value);
    if (list[i]?.value === ',') i += 1;
  }
  return entries;
}

// --- what the lab requires of config.alloy ------------------------------------------------------------------------

interface Stage {
  block: Block;
  /** Position among the process's top-level stages (a match's inner stages share the match's). */
  index: number;
  /** The LogQL selector of the stage.match it sits in. */
  selector?: string;
}

/**
 * The lab's rules for config.alloy. `apiFields` are the keys of a real API log line: what the API stage reads must
 * be among them. The service and task rules are run: their regular expression (RE2's `(?P<name>...)`, the only RE2
 * syntax it uses that JavaScript spells differently) is applied to real Swarm names.
 */
function alloyProblems(text: string, apiFields: ReadonlySet<string>): string[] {
  let root: Block;
  try {
    root = parseAlloy(text);
  } catch (error) {
    if (error instanceof AlloySyntaxError) return [`syntax: ${error.message}`];
    throw error;
  }
  const problems: string[] = [];
  const components = (name: string) => root.blocks.filter((block) => block.name === name);
  const component = (name: string, label: string | undefined) => components(name).find((b) => b.label === label);
  /** Labels of the `kind` components an expression references as <kind>.<label>.<field>. */
  const targets = (tokens: Token[] | undefined, kind: string, field: string) =>
    referencesIn(tokens).flatMap((reference) => {
      const match = new RegExp(`^${kind.replaceAll('.', '\\.')}\\.(\\w+)\\.${field}$`).exec(reference);
      return match ? [match[1]!] : [];
    });

  // Files: the json-file logs of every container on the node.
  const paths = components('local.file_match')
    .flatMap((block) => stringsIn(attribute(block, 'path_targets')))
    .filter((value) => value.startsWith('/'));
  if (!paths.includes('/var/lib/docker/containers/*/*-json.log')) {
    problems.push(`local.file_match: no path_targets on /var/lib/docker/containers/*/*-json.log (found ${paths})`);
  }

  // Wiring: file_match → loki.source.file → loki.process → loki.write.
  const sources = components('loki.source.file');
  if (sources.length === 0) problems.push('no loki.source.file component');
  const processes: Block[] = [];
  for (const source of sources) {
    const matched = targets(attribute(source, 'targets'), 'local.file_match', 'targets');
    if (!matched.some((label) => component('local.file_match', label))) {
      problems.push(`loki.source.file "${source.label}": targets is not a local.file_match's targets`);
    }
    const forwarded = targets(attribute(source, 'forward_to'), 'loki.process', 'receiver')
      .map((label) => component('loki.process', label))
      .filter((block) => block !== undefined);
    if (forwarded.length === 0) problems.push(`loki.source.file "${source.label}": forward_to names no loki.process`);
    processes.push(...forwarded);
  }
  const processor = processes[0];
  if (!processor) return problems;
  const writes = targets(attribute(processor, 'forward_to'), 'loki.write', 'receiver')
    .map((label) => component('loki.write', label))
    .filter((block) => block !== undefined);
  if (writes.length === 0) problems.push(`loki.process "${processor.label}": forward_to names no loki.write`);
  for (const write of writes) {
    const urls = write.blocks.filter((b) => b.name === 'endpoint').map((b) => stringOf(attribute(b, 'url')));
    if (!urls.includes(LOKI_PUSH_URL)) {
      problems.push(`loki.write "${write.label}": endpoint url ${urls}, not ${LOKI_PUSH_URL}`);
    }
  }

  // The stages, in order, with the ones inside stage.match.
  const stages: Stage[] = [];
  processor.blocks.forEach((block, index) => {
    stages.push({ block, index });
    if (block.name === 'stage.match') {
      const selector = stringOf(attribute(block, 'selector'));
      for (const inner of block.blocks) stages.push({ block: inner, index, selector });
    }
  });
  /** The stages of that name that run on every line (outside any stage.match). */
  const named = (name: string) => stages.filter((stage) => stage.block.name === name && stage.selector === undefined);
  /** name → source of every entry of a stage's `values` (an empty source means the same name). */
  const valuesOf = (stage: Stage) =>
    [...entriesOf(attribute(stage.block, 'values'))].map(([name, value]) => ({
      name,
      source: stringOf(value) || name,
      value,
      stage,
    }));
  /** The extracted name a top-level stage.json gives to the envelope field `field`. */
  const envelope = (field: string) =>
    named('stage.json').flatMap((stage) =>
      [...entriesOf(attribute(stage.block, 'expressions'))]
        .filter(([key, value]) => (stringOf(value) || key).replaceAll('"', '') === field)
        .map(([key]) => key),
    )[0];

  // Labels set on every line, and labels set anywhere (some only inside a stage.match).
  const labels = [...named('stage.labels'), ...named('stage.static_labels')].flatMap(valuesOf);
  const allLabels = stages
    .filter((stage) => ['stage.labels', 'stage.static_labels'].includes(stage.block.name))
    .flatMap(valuesOf);
  for (const name of REQUIRED_LABELS) {
    if (!labels.some((label) => label.name === name)) problems.push(`no ${name} label on every line`);
  }
  for (const label of allLabels.filter((l) => /^request_?id$/i.test(l.name))) {
    problems.push(`${label.name} is a label: one stream per request (use structured metadata)`);
  }

  // node: the node's hostname, given by the stack as NODE_HOSTNAME.
  const node = labels.find((label) => label.name === 'node');
  if (node && !(referencesIn(node.value).includes('sys.env') && stringsIn(node.value).includes('NODE_HOSTNAME'))) {
    problems.push('the node label is not sys.env("NODE_HOSTNAME")');
  }

  // service and task: the Swarm labels of the envelope without the stack prefix, checked on real names.
  for (const { field, label: name, name: swarmName, expected } of STACK_PREFIX_CASES) {
    const label = labels.find((l) => l.name === name);
    if (!label) continue;
    const extracted = envelope(`attrs.${field}`);
    if (!extracted) {
      problems.push(`no stage.json reads attrs."${field}" from the json-file envelope`);
      continue;
    }
    let value: string | undefined = label.source === extracted ? swarmName : undefined;
    for (const stage of named('stage.regex')) {
      if (stringOf(attribute(stage.block, 'source')) !== extracted) continue;
      const expression = stringOf(attribute(stage.block, 'expression')) ?? '';
      const groups = new RegExp(expression.replaceAll('(?P<', '(?<')).exec(swarmName)?.groups ?? {};
      if (groups[label.source] !== undefined) value = groups[label.source];
    }
    if (value !== expected) problems.push(`the ${name} of ${swarmName} would be ${value}, not ${expected}`);
  }

  // stream, time, and the line itself from the envelope.
  const stream = labels.find((label) => label.name === 'stream');
  if (stream && stream.source !== envelope('stream')) problems.push("the stream label is not the envelope's stream");
  const time = envelope('time');
  if (!named('stage.timestamp').some((s) => time && stringOf(attribute(s.block, 'source')) === time)) {
    problems.push("no stage.timestamp reads the envelope's time (lines would be stamped when read)");
  }
  const line = envelope('log');
  const output = named('stage.output').find((s) => line && stringOf(attribute(s.block, 'source')) === line);
  if (!output) problems.push("no stage.output of the envelope's log: Loki would store the json-file envelope");

  // The API: level as a label, requestId as structured metadata, from fields the API writes.
  const isApiSelector = (selector: string | undefined) => /^\{\s*service\s*=\s*"api"\s*\}$/.test(selector ?? '');
  const apiMatches = stages.filter(
    (s) => s.block.name === 'stage.match' && isApiSelector(stringOf(attribute(s.block, 'selector'))),
  );
  const api = stages.filter((s) => isApiSelector(s.selector));
  if (apiMatches.length === 0) problems.push('no stage.match on {service="api"}');
  const serviceLabel = labels.find((label) => label.name === 'service');
  for (const { index } of apiMatches) {
    if (serviceLabel && serviceLabel.stage.index > index) {
      problems.push('the API stage runs before the service label is set: it never matches');
    }
    if (output && output.index > index) {
      problems.push('the API stage runs before stage.output: it parses the envelope, not the API line');
    }
  }
  const apiExtracted = new Map<string, string>();
  for (const stage of api.filter((s) => s.block.name === 'stage.json')) {
    for (const [key, value] of entriesOf(attribute(stage.block, 'expressions'))) {
      const field = stringOf(value) || key;
      if (!apiFields.has(field)) problems.push(`the API stage reads ${field}, which the API's log lines do not have`);
      apiExtracted.set(key, field);
    }
  }
  const apiValues = (name: string) => api.filter((s) => s.block.name === name).flatMap(valuesOf);
  const level = apiValues('stage.labels').find((l) => l.name === 'level');
  if (apiExtracted.get(level?.source ?? '') !== 'level') problems.push('the API lines get no level label');
  const metadata = apiValues('stage.structured_metadata').find((m) => m.name === 'requestId');
  if (apiExtracted.get(metadata?.source ?? '') !== 'requestId') {
    problems.push('the API lines get no requestId structured metadata');
  }
  return [...new Set(problems)];
}

// --- the API's own log line ---------------------------------------------------------------------------------------

/** One access-log line, written by the API's logger and access-log middleware for GET /v1/users/:id. */
async function apiAccessLine(): Promise<string> {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'http', service: 'swarmlab-api', stream });
  const res = Object.assign(new EventEmitter(), {
    locals: { requestId: 'req-7f3a9c', route: '/v1/users/:id' },
    writableFinished: true,
    statusCode: 200,
    getHeader: () => '42',
  });
  const req = { method: 'GET', path: '/v1/users/7', ip: '10.0.3.7' };
  accessLog(logger)(req as never, res as never, () => undefined);
  res.emit('close');
  for (let wait = 0; chunks.length === 0 && wait < 100; wait += 1) await new Promise((r) => setTimeout(r, 10));
  const line = chunks.join('').split('\n')[0];
  if (!line) throw new Error('the API logger wrote nothing');
  return line;
}

describe('Grafana Alloy (monitoring/alloy/config.alloy)', () => {
  const text = readFileSync(ALLOY_CONFIG, 'utf8');
  let apiLine = '';
  let apiFields: Set<string> = new Set();

  beforeAll(async () => {
    apiLine = await apiAccessLine();
    apiFields = new Set(Object.keys(JSON.parse(apiLine) as object));
  });

  it('when the API logs a request, then its line has the fields the collector, the dashboards and Grafana read', () => {
    const line = JSON.parse(apiLine) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'http', requestId: 'req-7f3a9c', route: '/v1/users/:id', method: 'GET' });
    // The API dashboard's link: {service="api"} | json | route = `...` | durationMs > $slow_ms.
    expect(typeof line.durationMs).toBe('number');
    // Grafana's derived field finds the request id in the raw line, which is what Alloy sends as the log line.
    const loki = (parse(readFileSync(DATASOURCES, 'utf8')) as { datasources: DataSource[] }).datasources.find(
      (source) => source.uid === 'loki',
    );
    const field = loki?.jsonData?.derivedFields?.find((derived) => derived.name === 'requestId');
    expect(new RegExp(field!.matcherRegex).exec(apiLine)?.[1]).toBe('req-7f3a9c');
  });

  it('when config.alloy is parsed, then it has the components, labels and API stage the lab needs', () => {
    expect(alloyProblems(text, apiFields)).toEqual([]);
    const root = parseAlloy(text);
    expect(root.blocks.map((block) => `${block.name}${block.label ? ` "${block.label}"` : ''}`)).toEqual([
      'logging',
      'local.file_match "containers"',
      'loki.source.file "containers"',
      'loki.process "containers"',
      'loki.write "loki"',
    ]);
  });

  it('when config.alloy is read, then its header says what it is, which image reads it and where it is mounted', () => {
    const header = text
      .split('\n')
      .filter((line) => line.startsWith('//'))
      .join('\n');
    expect(header).toMatch(/grafana\/alloy/);
    expect(header).toContain('/etc/alloy/config.alloy');
    expect(header).toContain('/var/lib/docker/containers');
  });

  /** The stage.output block, to move it. */
  const OUTPUT = /\n {2}stage\.output \{\n {4}source = "log"\n {2}\}\n/;
  const outputBlock = OUTPUT.exec(text)?.[0] ?? '';
  /** The API's stage.match with its comment, and where the service label is set, to move one before the other. */
  const API_MATCH = /\n {2}\/\/ The API writes[\s\S]*?\n {2}stage\.match \{[\s\S]*?\n {2}\}\n/;
  const apiMatchBlock = API_MATCH.exec(text)?.[0] ?? '';
  const SERVICE_LABELS = '\n  stage.labels {\n    values = {\n      "service"';

  it.each<[string, (copy: string) => string, RegExp]>([
    ['a closing brace is missing', (t) => mutate(t, /}\s*$/, ''), /syntax: .*never closed/],
    ['a brace closes a bracket', (t) => mutate(t, '["filename"]', '["filename"}'), /syntax: .*closes the \[/],
    ['a string is not closed', (t) => mutate(t, `"${LOKI_PUSH_URL}"`, `"${LOKI_PUSH_URL}`), /syntax: .*string/],
    [
      'a block has two labels',
      (t) => mutate(t, 'loki.write "loki" {', 'loki.write "loki" "x" {'),
      /neither an attribute/,
    ],
    [
      "the files are not the containers' logs",
      (t) => mutate(t, '/var/lib/docker/containers/*/*-json.log', '/var/log/*.log'),
      /no path_targets on \/var\/lib\/docker\/containers/,
    ],
    [
      'the source forwards to no process',
      (t) => mutate(t, 'loki.process.containers.receiver', 'loki.process.other.receiver'),
      /forward_to names no loki\.process/,
    ],
    [
      'the process forwards to no writer',
      (t) => mutate(t, 'loki.write.loki.receiver', 'loki.write.remote.receiver'),
      /forward_to names no loki\.write/,
    ],
    ['Alloy pushes elsewhere', (t) => mutate(t, LOKI_PUSH_URL, 'http://loki:3100/api/prom/push'), /endpoint url/],
    ['the node label is gone', (t) => mutate(t, '"node" = sys.env', '"host" = sys.env'), /no node label/],
    ['the node is a constant', (t) => mutate(t, 'sys.env("NODE_HOSTNAME")', '"node1"'), /NODE_HOSTNAME/],
    ['the task label is gone', (t) => mutate(t, /\n\s*"task" {4}= "task",/, ''), /no task label/],
    ['the stream label is gone', (t) => mutate(t, /\n\s*"stream" {2}= "stream",/, ''), /no stream label/],
    [
      'the service keeps the stack prefix',
      (t) => mutate(t, '"^(?:swarmlab_)?(?P<service>.+)$"', '"^(?P<service>.+)$"'),
      /the service of swarmlab_api would be swarmlab_api, not api/,
    ],
    [
      'the task rule reads the service name',
      (t) => mutate(t, /source\s*= "swarm_task"/, 'source = "swarm_service"'),
      /the task of swarmlab_api\.2\.k3x9q1 would be/,
    ],
    [
      'the Swarm service name is not read',
      (t) => mutate(t, 'attrs.\\"com.docker.swarm.service.name\\"', 'attrs.service'),
      /no stage\.json reads attrs\."com\.docker\.swarm\.service\.name"/,
    ],
    [
      'requestId becomes a label',
      (t) => mutate(t, '"level" = "level",', '"level" = "level",\n        "requestId" = "requestId",'),
      /requestId is a label/,
    ],
    [
      'requestId is not structured metadata',
      (t) => mutate(t, /"requestId" = "requestId",(\s*}\s*}\s*})/, '"traceId" = "requestId",$1'),
      /no requestId structured metadata/,
    ],
    [
      'the API stage reads a field the API does not write',
      (t) => mutate(t, '"level"     = "level"', '"level"     = "severity"'),
      /reads severity, which the API's log lines do not have/,
    ],
    [
      'the API stage matches the prefixed service name',
      (t) => mutate(t, '{service=\\"api\\"}', '{service=\\"swarmlab_api\\"}'),
      /no stage\.match on \{service="api"\}/,
    ],
    [
      'the API stage runs on the envelope',
      (t) => mutate(mutate(t, OUTPUT, '\n'), '\n  // The file path', `${outputBlock}\n  // The file path`),
      /runs before stage\.output/,
    ],
    [
      'the API stage runs before the service label exists',
      (t) => mutate(mutate(t, API_MATCH, '\n'), SERVICE_LABELS, `${apiMatchBlock}${SERVICE_LABELS}`),
      /runs before the service label is set/,
    ],
    ['lines are stamped when read', (t) => mutate(t, 'source = "time"', 'source = "now"'), /stage\.timestamp/],
    ['the envelope is stored as the line', (t) => mutate(t, OUTPUT, '\n'), /no stage\.output of the envelope/],
  ])('when %s in a copy of config.alloy, then the check refuses it', (_, change, expected) => {
    expect(alloyProblems(change(text), apiFields).join('\n')).toMatch(expected);
  });
});

// --- Grafana's side -----------------------------------------------------------------------------------------------

interface DataSource {
  name: string;
  uid: string;
  type: string;
  url: string;
  jsonData?: { derivedFields?: { name: string; matcherRegex: string; datasourceUid?: string; url: string }[] };
}

describe("Grafana's Loki datasource (read-only check)", () => {
  it('when Grafana reads datasources.yml, then Loki is uid loki at http://loki:3100 and requestId links to the API stream', () => {
    const { datasources } = parse(readFileSync(DATASOURCES, 'utf8')) as { datasources: DataSource[] };
    const loki = datasources.find((source) => source.type === 'loki');
    expect(loki).toMatchObject({ uid: 'loki', url: LOKI_URL });
    const requestId = loki?.jsonData?.derivedFields?.find((field) => field.name === 'requestId');
    expect(requestId?.datasourceUid).toBe('loki');
    // The stream the collector labels service="api", filtered on the field it keeps per line.
    expect(requestId?.url).toMatch(/^\{service="api"\} .*requestId = /);
  });
});
