// The Jenkinsfile's shape, checked without a Groovy runtime (scripts/test/jenkins.test.ts): a small brace-aware
// reader of declarative pipelines (strings, GString ${...}, comments, nested blocks) and the house rules: every
// leaf stage has a timeout, every `sh` is `npm ci` or `npm run <a script package.json has>`, nothing else.

export interface Token {
  kind: 'word' | 'string' | 'punct' | 'newline';
  text: string;
  line: number;
}

/** A statement: `name`, `name(args)`, `name args...`, each maybe with a `{ body }`. */
export interface Node {
  name: string;
  args: Token[];
  body?: Node[];
  line: number;
  /** All of the statement's tokens, its body included. */
  tokens: Token[];
}

export class ParseError extends Error {
  override name = 'ParseError';
}

const PUNCT = new Set(['{', '}', '(', ')', '[', ']', ',', ':', ';']);

/** Reads a quoted string starting at `start`; returns its content and where it ends. GStrings may nest ${...}. */
function readString(source: string, start: number, line: number): { value: string; end: number; lines: number } {
  const triple = source.startsWith("'''", start) || source.startsWith('"""', start);
  const quote = triple ? source.slice(start, start + 3) : source[start]!;
  const interpolating = quote.startsWith('"');
  let i = start + quote.length;
  let value = '';
  let lines = 0;
  while (i < source.length) {
    if (source.startsWith(quote, i)) return { value, end: i + quote.length, lines };
    const char = source[i]!;
    if (char === '\n') {
      if (!triple) break;
      lines++;
    }
    if (char === '\\') {
      value += source.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (interpolating && source.startsWith('${', i)) {
      // ${ expression }: balanced braces, strings inside skipped.
      let depth = 0;
      let j = i + 1;
      for (; j < source.length; j++) {
        const inner = source[j]!;
        if (inner === "'" || inner === '"') {
          j = readString(source, j, line).end - 1;
        } else if (inner === '{') depth++;
        else if (inner === '}' && --depth === 0) break;
      }
      if (j >= source.length) break;
      value += source.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    value += char;
    i++;
  }
  throw new ParseError(`line ${line}: unterminated string`);
}

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < source.length) {
    const char = source[i]!;
    if (char === '\n') {
      tokens.push({ kind: 'newline', text: '\n', line });
      line++;
      i++;
    } else if (/\s/.test(char)) {
      i++;
    } else if (source.startsWith('//', i)) {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (source.startsWith('/*', i)) {
      const end = source.indexOf('*/', i + 2);
      if (end === -1) throw new ParseError(`line ${line}: unterminated comment`);
      line += (source.slice(i, end).match(/\n/g) ?? []).length;
      i = end + 2;
    } else if (char === "'" || char === '"') {
      const { value, end, lines } = readString(source, i, line);
      tokens.push({ kind: 'string', text: value, line });
      line += lines;
      i = end;
    } else if (PUNCT.has(char)) {
      tokens.push({ kind: 'punct', text: char, line });
      i++;
    } else {
      let j = i;
      while (
        j < source.length &&
        !/\s/.test(source[j]!) &&
        !PUNCT.has(source[j]!) &&
        source[j] !== "'" &&
        source[j] !== '"' &&
        !source.startsWith('//', j) &&
        !source.startsWith('/*', j)
      ) {
        j++;
      }
      tokens.push({ kind: 'word', text: source.slice(i, j), line });
      i = j;
    }
  }
  return tokens;
}

const CLOSE: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/** The index just past the bracket that closes the one at `start`. */
function closing(tokens: readonly Token[], start: number): number {
  const stack: string[] = [];
  for (let i = start; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== 'punct') continue;
    if (CLOSE[token.text]) stack.push(CLOSE[token.text]!);
    else if (token.text === ')' || token.text === ']' || token.text === '}') {
      if (stack.pop() !== token.text) throw new ParseError(`line ${token.line}: unexpected "${token.text}"`);
      if (stack.length === 0) return i + 1;
    }
  }
  throw new ParseError(`line ${tokens[start]!.line}: "${tokens[start]!.text}" is never closed`);
}

/** Parses statements from `start` up to the `}` that closes the block (or the end); returns them and that index. */
function parseStatements(tokens: Token[], start: number, inBlock: boolean): { nodes: Node[]; end: number } {
  const nodes: Node[] = [];
  let i = start;
  while (i < tokens.length) {
    const token = tokens[i]!;
    if (token.kind === 'newline' || token.text === ';') {
      i++;
      continue;
    }
    if (token.kind === 'punct' && token.text === '}') {
      if (!inBlock) throw new ParseError(`line ${token.line}: unexpected "}"`);
      return { nodes, end: i };
    }
    const first = i;
    const node: Node = { name: token.kind === 'word' ? token.text : '', args: [], line: token.line, tokens: [] };
    i++;
    if (node.name && tokens[i]?.text === '(' && tokens[i]!.kind === 'punct') {
      const end = closing(tokens, i);
      node.args = tokens.slice(i + 1, end - 1);
      i = end;
    } else if (!node.name) {
      node.args = [token];
    }
    // The rest of the statement, to the end of the line (brackets may span lines), or a { body }.
    while (i < tokens.length) {
      const next = tokens[i]!;
      if (next.kind === 'newline' || next.text === ';') break;
      if (next.kind === 'punct' && next.text === '}') break;
      if (next.kind === 'punct' && next.text === '{') {
        const inner = parseStatements(tokens, i + 1, true);
        node.body = inner.nodes;
        i = inner.end + 1;
        break;
      }
      if (next.kind === 'punct' && (next.text === '(' || next.text === '[')) {
        const end = closing(tokens, i);
        node.args.push(...tokens.slice(i, end));
        i = end;
        continue;
      }
      node.args.push(next);
      i++;
    }
    node.tokens = tokens.slice(first, i);
    nodes.push(node);
  }
  if (inBlock) throw new ParseError('a "{" is never closed');
  return { nodes, end: i };
}

export function parseGroovy(source: string): Node[] {
  return parseStatements(tokenize(source), 0, false).nodes;
}

// --- queries ----------------------------------------------------------------------------------------------------

export const child = (node: Node | undefined, name: string) => node?.body?.find((inner) => inner.name === name);
export const childrenNamed = (node: Node | undefined, name: string) =>
  node?.body?.filter((inner) => inner.name === name) ?? [];

/** Every node under `nodes`, depth first. */
export function* walk(nodes: readonly Node[]): Generator<Node> {
  for (const node of nodes) {
    yield node;
    if (node.body) yield* walk(node.body);
  }
}

const firstString = (tokens: readonly Token[]) => tokens.find((token) => token.kind === 'string')?.text;

/** A stage's name: the string in `stage('name')`. */
export const stageName = (stage: Node) => firstString(stage.args) ?? '(unnamed)';

export interface ShStep {
  /** The shell script, when it is a string literal. */
  script: string | undefined;
  line: number;
}

/** Every `sh` step in the file: `sh 'x'`, `sh "x"`, `sh('x')`, `sh(script: 'x', ...)`, wherever it stands. */
export const shSteps = (source: string) => shStepsIn(tokenize(source));

/** The `sh` steps among `tokens`. */
export function shStepsIn(tokens: readonly Token[]): ShStep[] {
  const steps: ShStep[] = [];
  for (const [i, token] of tokens.entries()) {
    if (token.kind !== 'word' || token.text !== 'sh') continue;
    const next = tokens[i + 1];
    if (next?.kind === 'string') {
      steps.push({ script: next.text, line: token.line });
    } else if (next?.kind === 'punct' && next.text === '(') {
      const args = tokens.slice(i + 2, closing(tokens, i + 1) - 1);
      const named = args.findIndex((arg, k) => arg.text === 'script' && args[k + 1]?.text === ':');
      const value = named === -1 ? args[0] : args[named + 2];
      steps.push({ script: value?.kind === 'string' ? value.text : undefined, line: token.line });
    } else {
      steps.push({ script: undefined, line: token.line });
    }
  }
  return steps;
}

export interface StageInfo {
  /** Names from the top: ['checks', 'lint']. */
  path: string[];
  hasTimeout: boolean;
  hasSteps: boolean;
}

/** Leaf stages (those with steps), including the ones inside `parallel` and nested `stages`. */
export function leafStages(stages: Node | undefined, parents: string[] = []): StageInfo[] {
  const found: StageInfo[] = [];
  for (const stage of childrenNamed(stages, 'stage')) {
    const path = [...parents, stageName(stage)];
    const nested = child(stage, 'parallel') ?? child(stage, 'stages');
    if (nested) {
      found.push(...leafStages(nested, path));
      continue;
    }
    const steps = child(stage, 'steps');
    const timeoutOption = child(child(stage, 'options'), 'timeout') !== undefined;
    const timeoutBlock = steps?.body?.some((node) => node.name === 'timeout' && node.body) ?? false;
    found.push({ path, hasTimeout: timeoutOption || timeoutBlock, hasSteps: steps !== undefined });
  }
  return found;
}

// --- the rules --------------------------------------------------------------------------------------------------

const SHELL_OPERATORS = /&&|\|\||[;|`\n<>]|\$\(/;

/** Why `script` is not an allowed sh step (undefined when it is): `npm ci [flags]` or `npm run <script> [-- args]`. */
export function shProblem(script: string | undefined, scripts: ReadonlySet<string>): string | undefined {
  if (script === undefined) return 'is not a string literal, so it cannot be checked';
  const command = script.trim();
  if (SHELL_OPERATORS.test(command)) return `"${command}" is more than one command`;
  if (/^npm ci(\s+--?[\w-]+)*$/.test(command)) return undefined;
  const run = /^npm run ([\w:.-]+)(\s|$)/.exec(command);
  if (!run) return `"${command}" is not npm ci or npm run <script>`;
  if (!scripts.has(run[1]!)) return `"${command}": package.json has no script "${run[1]}"`;
  const rest = command.slice(run[0].length).trim();
  if (rest !== '' && !/^--(\s|$)/.test(rest)) return `"${command}": arguments for the script go after --`;
  return undefined;
}

/** What is wrong with a declarative Jenkinsfile by the house rules; empty when nothing is. */
export function checkJenkinsfile(source: string, scripts: ReadonlySet<string>): string[] {
  let nodes: Node[];
  try {
    nodes = parseGroovy(source);
  } catch (error) {
    return [`does not parse: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  const pipelines = nodes.filter((node) => node.name === 'pipeline' && node.body);
  const others = nodes.filter((node) => !(node.name === 'pipeline' && node.body));
  if (pipelines.length !== 1) problems.push(`has ${pipelines.length} pipeline { } blocks, not one`);
  for (const node of others) problems.push(`line ${node.line}: "${node.name}" outside pipeline { }`);
  const pipeline = pipelines[0];
  if (!pipeline) return problems;

  for (const section of ['agent', 'options', 'stages', 'post']) {
    if (!child(pipeline, section)) problems.push(`pipeline has no ${section}`);
  }
  const options = child(pipeline, 'options');
  for (const option of ['timeout', 'disableConcurrentBuilds', 'buildDiscarder']) {
    if (options && !child(options, option)) problems.push(`pipeline options have no ${option}()`);
  }

  const stages = leafStages(child(pipeline, 'stages'));
  if (stages.length === 0) problems.push('pipeline has no stage with steps');
  for (const stage of stages) {
    const name = stage.path.join(' › ');
    if (!stage.hasSteps) problems.push(`stage "${name}" has no steps`);
    if (!stage.hasTimeout) problems.push(`stage "${name}" has no timeout`);
  }

  for (const step of shSteps(source)) {
    const problem = shProblem(step.script, scripts);
    if (problem) problems.push(`line ${step.line}: sh ${problem}`);
  }

  const always = child(child(pipeline, 'post'), 'always');
  const junit = always?.body?.find((node) => node.name === 'junit');
  if (!junit || !junit.args.some((token) => token.kind === 'string' && token.text === 'reports/junit.xml')) {
    problems.push('post { always } does not publish reports/junit.xml with junit');
  }
  if (!always?.body?.some((node) => node.name === 'cleanWs')) problems.push('post { always } does not cleanWs()');
  const rollsBack = [...walk([pipeline])]
    .filter((node) => node.name === 'failure')
    .some((failure) =>
      shStepsIn(failure.tokens).some((step) => /^npm run rollback(\s+--\s.*)?$/.test(step.script?.trim() ?? '')),
    );
  if (!rollsBack) problems.push("no post { failure } runs sh 'npm run rollback'");
  return problems;
}
