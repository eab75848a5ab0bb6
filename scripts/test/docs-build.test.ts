// `npm run docs:build` (scripts/docs-build.ts) for real: Graphviz, Chromium and poppler from Debian, into a temporary
// folder. The PDF must carry every section title and figure caption of docs/specifications.md, the architecture SVG
// every node and the main services, and the committed PDF and SVGs must have been made from the current sources.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { requireDebianTools } from '../lib/debian-tools.js';
import { REPO_ROOT } from '../lib/paths.js';

const DOCS = path.join(REPO_ROOT, 'docs');
const SOURCE = path.join(DOCS, 'specifications.md');
const docsBuild = (...args: string[]) =>
  $({ cwd: REPO_ROOT, quiet: true, nothrow: true })`npm run --silent docs:build -- ${args}`;

/** pdftotext's text with ligatures unfolded and every run of white space one space. */
async function pdfText(pdf: string): Promise<string> {
  const { stdout } = await $({ quiet: true })`pdftotext -enc UTF-8 ${pdf} -`;
  return stdout.normalize('NFKC').replace(/\s+/g, ' ');
}

/** The text a reader sees of a line of markdown: no code spans, emphasis or link targets. */
const plain = (markdown: string) =>
  markdown
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .replace(/(^|\s)_|_(\s|$)/g, '$1$2')
    .replace(/\s+/g, ' ')
    .trim();

/** The headings of a markdown file, outside fenced code. */
function headingsOf(markdown: string): string[] {
  let fenced = false;
  const headings: string[] = [];
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (heading) headings.push(plain(heading[1]!));
  }
  return headings;
}

/** Each diagram the markdown shows, with the caption line that follows it. */
function figuresOf(markdown: string): { svg: string; caption: string }[] {
  const lines = markdown.split('\n');
  const figures: { svg: string; caption: string }[] = [];
  lines.forEach((line, i) => {
    const image = /^!\[[^\]]*\]\((diagrams\/[\w-]+\.svg)\)\s*$/.exec(line.trim());
    if (!image) return;
    const caption = lines.slice(i + 1).find((next) => next.trim() !== '') ?? '';
    figures.push({ svg: image[1]!, caption: plain(caption) });
  });
  return figures;
}

const svgStamp = async (file: string) =>
  /<!-- (swarmlab docs:build \d+: source sha256 [0-9a-f]{64}) /.exec(await readFile(file, 'utf8'))?.[1];
const pdfStamp = async (file: string) => /Sources sha256: ([0-9a-f]{64})/.exec(await pdfText(file))?.[1];
/** The text of an SVG's <text> elements, one space between them (dot writes "-" as &#45;). */
const svgText = async (file: string) =>
  [...(await readFile(file, 'utf8')).matchAll(/<text[^>]*>([^<]*)<\/text>/g)]
    .map((match) => match[1]!)
    .join(' ')
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

let temp: string;
let out: string;
let build: Awaited<ReturnType<typeof docsBuild>>;
let dots: string[];

beforeAll(async () => {
  await requireDebianTools({
    dot: 'graphviz',
    chromium: 'chromium',
    pdftotext: 'poppler-utils',
    pdfinfo: 'poppler-utils',
  });
  temp = await mkdtemp(path.join(tmpdir(), 'swarmlab-docs-test-'));
  out = path.join(temp, 'out');
  dots = (await readdir(path.join(DOCS, 'diagrams'))).filter((name) => name.endsWith('.dot')).sort();
  build = await docsBuild('--out', out);
}, 600_000);

afterAll(async () => {
  if (temp) await rm(temp, { recursive: true, force: true });
});

describe('npm run docs:build', () => {
  it('when --help is given, then it prints its usage and exits 0 without writing anything', async () => {
    const help = path.join(temp, 'help');

    const run = await docsBuild('--help', '--out', help);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Usage: npm run docs:build/m);
    expect(run.stdout).toContain('--out <dir>');
    expect(existsSync(help)).toBe(false);
  }, 120_000);

  it('when it builds into a folder, then it writes an SVG per diagram and the PDF, and says so', async () => {
    expect(build.exitCode, build.stderr).toBe(0);
    expect(dots).toContain('architecture.dot');
    for (const dot of dots) expect(existsSync(path.join(out, 'diagrams', dot.replace(/\.dot$/, '.svg')))).toBe(true);
    expect(build.stderr).toContain('✓ print');
    expect(build.stdout).toMatch(/Specification built in [\d.]+ s/);
    expect(build.stdout).toMatch(/specifications\.pdf\s+written, \d+ pages, \d+ KB/);
    const pdf = await stat(path.join(out, 'specifications.pdf'));
    expect(pdf.size).toBeGreaterThan(20_000);
    expect(pdf.size).toBeLessThan(1_000_000);
  }, 120_000);

  it('when the PDF is read as text, then every section title and every figure caption of the markdown is in it', async () => {
    const markdown = await readFile(SOURCE, 'utf8');
    const headings = headingsOf(markdown);
    const figures = figuresOf(markdown);
    expect(headings.length).toBeGreaterThanOrEqual(11);
    expect(figures.map((figure) => figure.svg)).toContain('diagrams/architecture.svg');
    expect(figures.every((figure) => figure.caption.startsWith('Figure'))).toBe(true);

    const text = await pdfText(path.join(out, 'specifications.pdf'));

    const missing = [...headings, ...figures.map((figure) => figure.caption)].filter((title) => !text.includes(title));
    expect(missing).toEqual([]);
    // Each numbered section twice: in the contents and as the section's own title.
    const sections = headings.filter((heading) => /^\d+\. /.test(heading));
    expect(sections.length).toBeGreaterThanOrEqual(10);
    expect(sections.filter((title) => text.split(title).length - 1 < 2)).toEqual([]);
  }, 120_000);

  it('when the architecture SVG is read, then it names the three nodes and the main services', async () => {
    const text = await svgText(path.join(out, 'diagrams', 'architecture.svg'));

    for (const name of ['node1 (manager)', 'node2 (worker)', 'node3 (worker)']) expect(text).toContain(name);
    for (const service of [
      'traefik',
      'api',
      'db-router',
      'postgres1',
      'postgres2',
      'etcd1',
      'etcd2',
      'etcd3',
      'backup',
      'prometheus',
      'alertmanager',
      'remediator',
      'mailsink',
      'jenkins',
      'lab registry',
    ]) {
      expect(text).toContain(service);
    }
    for (const port of ['8443', '8080', '2376', '5000']) expect(text).toContain(port);
  }, 120_000);

  it('when the committed PDF and SVGs are compared with a fresh build, then they were made from the same sources', async () => {
    const committed = (await readdir(path.join(DOCS, 'diagrams'))).filter((name) => name.endsWith('.svg')).sort();
    expect(committed).toEqual(dots.map((dot) => dot.replace(/\.dot$/, '.svg')));
    const fresh = await pdfStamp(path.join(out, 'specifications.pdf'));
    expect(fresh).toMatch(/^[0-9a-f]{64}$/);
    const stale = 'out of date: run npm run docs:build and commit the result';

    expect(await pdfStamp(path.join(DOCS, 'specifications.pdf')), `docs/specifications.pdf ${stale}`).toBe(fresh);
    for (const svg of committed) {
      const expected = await svgStamp(path.join(out, 'diagrams', svg));
      expect(expected).toBeDefined();
      expect(await svgStamp(path.join(DOCS, 'diagrams', svg)), `docs/diagrams/${svg} ${stale}`).toBe(expected);
    }
    const check = await docsBuild('--check');
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
  }, 120_000);

  it('when it runs again on outputs made from the same sources, then it keeps them as they are', async () => {
    const pdf = path.join(out, 'specifications.pdf');
    const before = (await stat(pdf)).mtimeMs;

    const again = await docsBuild('--out', out);

    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/specifications\.pdf\s+up to date, kept/);
    expect((await stat(pdf)).mtimeMs).toBe(before);
  }, 120_000);

  it('when an output was made from other sources, then --check names it and exits 1', async () => {
    const svg = path.join(out, 'diagrams', 'architecture.svg');
    const text = await readFile(svg, 'utf8');
    await writeFile(svg, text.replace(/source sha256 [0-9a-f]{64}/, `source sha256 ${'0'.repeat(64)}`));

    const check = await docsBuild('--check', '--out', out);

    expect(check.exitCode).toBe(1);
    expect(check.stdout).toMatch(/architecture\.svg\s+OUT OF DATE/);
    expect(check.stderr).toContain('Run npm run docs:build and commit them.');
  }, 120_000);
});
