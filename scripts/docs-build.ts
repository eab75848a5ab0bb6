// `npm run docs:build`: the specification as a PDF. Renders docs/diagrams/*.dot to SVG beside them (Graphviz),
// docs/specifications.md to HTML (marked) with docs/specifications.css and the diagrams inlined, and prints it to
// docs/specifications.pdf with Debian's headless Chromium. Chromium stamps dates in every PDF, so outputs are not
// byte for byte reproducible: each one records the sha256 of its sources instead (an SVG in a comment, the PDF on its
// last line), which tells whether a committed output is up to date (--check, scripts/test/docs-build.test.ts).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Marked, type Token, type Tokens } from 'marked';
import { $ } from 'zx';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { requireDebianTools } from './lib/debian-tools.js';
import { step, summary } from './lib/log.js';
import { REPO_ROOT } from './lib/paths.js';
import { launchChromium } from './lib/screenshots.js';

const HELP = `
Usage: npm run docs:build [-- --out <dir>] [--force] [--check]

Builds the specification from its sources:
  docs/diagrams/*.dot      → docs/diagrams/*.svg (Graphviz dot), each beside its source
  docs/specifications.md   → docs/specifications.pdf (A4), with docs/specifications.css, a table of contents and the
                             diagrams inlined, printed by headless Chromium
Each output records the sha256 of its sources (an SVG in a comment, the PDF on its last line); an output that is
already up to date is left as it is. Commit the SVGs and the PDF with their sources.

Options:
  --out <dir>  write <dir>/diagrams/*.svg and <dir>/specifications.pdf instead of into docs/
  --force      rebuild every output, even those up to date
  --check      write nothing: exit 1 when an output (in docs/, or --out) is missing or older than its sources

Needs Debian's graphviz, chromium and poppler-utils (installed when missing, as root; else the apt-get line to run).
`;

/** Bump when the way the HTML or the PDF is made changes, so that every committed PDF counts as out of date. */
const FORMAT = 'swarmlab docs:build 1';
const DOCS = path.join(REPO_ROOT, 'docs');
const DIAGRAMS = path.join(DOCS, 'diagrams');
const SOURCE = path.join(DOCS, 'specifications.md');
const STYLESHEET = path.join(DOCS, 'specifications.css');
const PDF_NAME = 'specifications.pdf';
/** Wider than this (in points, the unit of dot's SVG) and wider than tall: a diagram gets a landscape page. */
const LANDSCAPE_ABOVE_PT = 740;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
/** A path as the messages show it: from the repository's root when inside it, else absolute. */
const relative = (file: string) => {
  const inside = path.relative(REPO_ROOT, file);
  return inside.startsWith('..') || path.isAbsolute(inside) ? file : inside.split(path.sep).join('/');
};
const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// ── What each output is made from ──────────────────────────────────────────────────────────────────────────────

/** What an SVG is made from: the format and the sha256 of its .dot (`sha256sum` gives the same). */
const svgIdentity = (hash: string) => `${FORMAT}: source sha256 ${hash}`;
const svgStamp = (hash: string, dot: string) => `<!-- ${svgIdentity(hash)} (${relative(dot)}) -->`;
const SVG_STAMP = /<!-- (swarmlab docs:build \d+: source sha256 [0-9a-f]{64}) /;
/** The PDF's last line: the sha256 of every source, read back from the PDF's text with pdftotext. */
const PDF_STAMP = /Sources sha256:\s*([0-9a-f]{64})/;

async function diagramSources(): Promise<string[]> {
  if (!existsSync(DIAGRAMS)) return [];
  return (await readdir(DIAGRAMS))
    .filter((name) => name.endsWith('.dot'))
    .sort()
    .map((name) => path.join(DIAGRAMS, name));
}

/** One hash of the PDF's sources: the format, the markdown, the stylesheet and every diagram's source. */
async function sourcesHash(dots: string[]): Promise<{ hash: string; files: string[] }> {
  const files = [SOURCE, STYLESHEET, ...dots];
  const hash = createHash('sha256').update(`${FORMAT}\n`);
  for (const file of files) hash.update(`${relative(file)}\0${sha256(await readFile(file))}\n`);
  return { hash: hash.digest('hex'), files: files.map(relative) };
}

const recordedSvgIdentity = async (file: string) =>
  existsSync(file) ? (SVG_STAMP.exec(await readFile(file, 'utf8'))?.[1] ?? 'none') : 'missing';

async function recordedPdfHash(file: string): Promise<string> {
  if (!existsSync(file)) return 'missing';
  const text = await $({ quiet: true, nothrow: true })`pdftotext -enc UTF-8 ${file} -`;
  return PDF_STAMP.exec(text.stdout)?.[1] ?? 'none';
}

// ── Diagrams ───────────────────────────────────────────────────────────────────────────────────────────────────

async function renderDiagram(dot: string, svg: string, hash: string): Promise<void> {
  const run = await $({ quiet: true, nothrow: true })`dot -Tsvg ${dot}`;
  if (run.exitCode !== 0) throw new StopError(`dot could not render ${relative(dot)}:\n${run.stderr.trim()}`);
  // Warnings (a spline dot routes badly) are not errors, but say so.
  if (run.stderr.trim()) console.error(`  dot on ${relative(dot)}: ${run.stderr.trim().split('\n').join('\n  ')}`);
  // dot writes a label's spans as separate <text>s, one starting with a space: browsers drop it unless told not to.
  const stamped = run.stdout.replace(/<svg(?=[\s>])/, `${svgStamp(hash, dot)}\n<svg xml:space="preserve"`);
  await mkdir(path.dirname(svg), { recursive: true });
  await writeFile(svg, stamped);
}

/** An SVG ready to sit in the HTML: no prolog, its ids prefixed (two diagrams share dot's ids), sized by CSS. */
function inlineSvg(svg: string, name: string): { markup: string; width: number; height: number } {
  const start = svg.indexOf('<svg');
  if (start < 0) throw new StopError(`diagrams/${name}.svg holds no <svg> element.`);
  const markup = svg
    .slice(start)
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/\bid="/g, `id="${name}-`)
    .replace(/(<svg[^>]*?)\s+width="([\d.]+)pt"\s+height="([\d.]+)pt"/, '$1');
  const size = /\swidth="([\d.]+)pt"\s+height="([\d.]+)pt"/.exec(svg.slice(start));
  return { markup, width: Number(size?.[1] ?? 0), height: Number(size?.[2] ?? 0) };
}

// ── HTML ───────────────────────────────────────────────────────────────────────────────────────────────────────

/** GitHub's anchor for a heading's text, so that the markdown's #links work in the PDF too. */
function slugger() {
  const seen = new Map<string, number>();
  return (text: string) => {
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return count === 0 ? base : `${base}-${count}`;
  };
}

const isSpace = (token: Token | undefined) => token?.type === 'space';

/** A paragraph that is one image of docs/diagrams/<name>.svg, and nothing else. */
function diagramImage(token: Token | undefined): Tokens.Image | undefined {
  if (token?.type !== 'paragraph') return undefined;
  const inline = (token as Tokens.Paragraph).tokens.filter((t) => !(t.type === 'text' && t.raw.trim() === ''));
  const [only] = inline;
  return inline.length === 1 && only?.type === 'image' && /^diagrams\/[\w-]+\.svg$/.test((only as Tokens.Image).href)
    ? (only as Tokens.Image)
    : undefined;
}

/** A paragraph that is all emphasis: the caption of the figure just before it. */
function captionOf(token: Token | undefined): Tokens.Em | undefined {
  if (token?.type !== 'paragraph') return undefined;
  const inline = (token as Tokens.Paragraph).tokens;
  return inline.length === 1 && inline[0]?.type === 'em' ? (inline[0] as Tokens.Em) : undefined;
}

interface Rendered {
  html: string;
  title: string;
  headings: { depth: number; text: string }[];
  figures: { name: string; caption: string }[];
}

async function renderHtml(markdown: string, svgDir: string, stamp: string, css: string): Promise<Rendered> {
  const slug = slugger();
  const headings: Rendered['headings'] = [];
  const figures: Rendered['figures'] = [];
  const marked = new Marked({
    gfm: true,
    renderer: {
      heading({ tokens, depth }) {
        const text = this.parser.parseInline(tokens, this.parser.textRenderer);
        headings.push({ depth, text });
        return `<h${depth} id="${slug(text)}">${this.parser.parseInline(tokens)}</h${depth}>\n`;
      },
      link({ href, tokens }) {
        const label = this.parser.parseInline(tokens);
        if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#')) {
          return `<a href="${escapeHtml(href)}">${label}</a>`;
        }
        // A file of the repository: named by its path, which a reader of the PDF can open in a checkout.
        const target = relative(path.resolve(DOCS, href.split('#')[0] ?? ''));
        const plain = this.parser.parseInline(tokens, this.parser.textRenderer);
        const shown = plain === href || plain === target || plain === path.basename(target);
        return shown
          ? `<span class="file">${label}</span>`
          : `${label} <span class="file">(${escapeHtml(target)})</span>`;
      },
    },
  });

  const tokens = marked.lexer(markdown);
  const blocks: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const image = diagramImage(tokens[i]);
    if (!image) {
      blocks.push(tokens[i]!);
      continue;
    }
    const name = path.basename(image.href, '.svg');
    const svgFile = path.join(svgDir, `${name}.svg`);
    if (!existsSync(svgFile)) throw new StopError(`${relative(SOURCE)} shows ${image.href}, which has no .dot source.`);
    const svg = inlineSvg(await readFile(svgFile, 'utf8'), name);
    let next = i + 1;
    while (isSpace(tokens[next])) next++;
    const em = captionOf(tokens[next]);
    const caption = em ? marked.parseInline(em.text) : '';
    if (em) i = next;
    figures.push({ name, caption: em ? em.text : '' });
    const landscape = svg.width > LANDSCAPE_ABOVE_PT && svg.width > svg.height;
    const figure =
      `<figure class="diagram${landscape ? ' landscape' : ''}" role="img" aria-label="${escapeHtml(image.text)}">` +
      `<div class="canvas">${svg.markup}</div>${caption ? `<figcaption>${caption}</figcaption>` : ''}</figure>\n`;
    blocks.push({ type: 'html', raw: figure, text: figure, block: true, pre: false } as Tokens.HTML);
  }

  // The title (the first heading) and what precedes the first section, then the contents, then the sections.
  const firstSection = blocks.findIndex((token) => token.type === 'heading' && (token as Tokens.Heading).depth === 2);
  const split = firstSection < 0 ? blocks.length : firstSection;
  const head = marked.parser(blocks.slice(0, split));
  const body = marked.parser(blocks.slice(split));
  const title = headings.find((heading) => heading.depth === 1)?.text ?? 'Specification';
  const sections = headings.filter((heading) => heading.depth === 2);
  const reslug = slugger();
  const ids = new Map(headings.map((heading) => [heading, reslug(heading.text)]));
  const contents = sections
    .map((heading) => `<li><a href="#${ids.get(heading)}">${escapeHtml(heading.text)}</a></li>`)
    .join('\n');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
${css}
</style>
</head>
<body>
${head}
<nav class="contents"><p class="contents-title">Contents</p><ul>
${contents}
</ul></nav>
${body}
<p class="colophon">Made by <code>npm run docs:build</code> from ${escapeHtml(relative(SOURCE))},
${escapeHtml(relative(STYLESHEET))} and docs/diagrams/*.dot. Sources sha256:<br>${stamp}</p>
</body>
</html>
`;
  return { html, title, headings, figures };
}

// ── PDF ────────────────────────────────────────────────────────────────────────────────────────────────────────

async function printPdf(htmlFile: string, pdf: string, title: string): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
    await page.evaluate('document.fonts.ready.then(() => true)');
    await mkdir(path.dirname(pdf), { recursive: true });
    await page.pdf({
      path: pdf,
      preferCSSPageSize: true,
      printBackground: true,
      outline: true,
      displayHeaderFooter: true,
      headerTemplate: '<span></span>',
      footerTemplate:
        "<div style=\"width:100%;font:7pt 'DejaVu Sans',sans-serif;color:#777;padding:0 12mm;display:flex;" +
        `justify-content:space-between"><span>${escapeHtml(title)}</span>` +
        '<span><span class="pageNumber"></span> / <span class="totalPages"></span></span></div>',
    });
  } finally {
    await browser.close();
  }
}

const pagesOf = async (pdf: string) =>
  /^Pages:\s+(\d+)/m.exec((await $({ quiet: true, nothrow: true })`pdfinfo ${pdf}`).stdout)?.[1] ?? '?';
const kb = async (file: string) => `${Math.round((await stat(file)).size / 1024)} KB`;

// ── The command ────────────────────────────────────────────────────────────────────────────────────────────────

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
    },
    HELP,
  );
  if (flags.check && flags.force) throw new StopError('--check writes nothing: it takes no --force.');
  const started = performance.now();
  const out = path.resolve(flags.out ?? DOCS);
  const svgDir = path.join(out, 'diagrams');
  const pdf = path.join(out, PDF_NAME);
  for (const file of [SOURCE, STYLESHEET]) {
    if (!existsSync(file)) throw new StopError(`${relative(file)} is missing: it is a source of the specification.`);
  }

  await step('tools: dot (graphviz), chromium, pdftotext and pdfinfo (poppler-utils)', () =>
    requireDebianTools({ dot: 'graphviz', chromium: 'chromium', pdftotext: 'poppler-utils', pdfinfo: 'poppler-utils' }),
  );
  const dots = await diagramSources();
  const sources = await sourcesHash(dots);
  const report: Record<string, string> = {};
  const stale: string[] = [];
  let rendered = 0;

  for (const dot of dots) {
    const svg = path.join(svgDir, `${path.basename(dot, '.dot')}.svg`);
    const hash = sha256(await readFile(dot));
    const upToDate = (await recordedSvgIdentity(svg)) === svgIdentity(hash);
    if (flags.check) {
      report[relative(svg)] = upToDate ? 'up to date' : `OUT OF DATE (source ${relative(dot)})`;
      if (!upToDate) stale.push(relative(svg));
    } else if (upToDate && !flags.force) {
      report[relative(svg)] = 'up to date, kept';
    } else {
      await step(`render ${relative(dot)} → ${relative(svg)}`, () => renderDiagram(dot, svg, hash));
      rendered++;
      report[relative(svg)] = `written, ${await kb(svg)}`;
    }
  }

  const pdfUpToDate = (await recordedPdfHash(pdf)) === sources.hash;
  if (flags.check) {
    report[relative(pdf)] = pdfUpToDate ? 'up to date' : 'OUT OF DATE';
    if (!pdfUpToDate) stale.push(relative(pdf));
    summary(`Specification outputs checked in ${Math.round(performance.now() - started)} ms`, report);
    if (stale.length > 0) {
      throw new StopError(`\n${stale.join(', ')}: older than their sources. Run npm run docs:build and commit them.`);
    }
    return;
  }

  // A diagram drawn again goes into the PDF again, even when its source did not change (a newer Graphviz).
  if (pdfUpToDate && !flags.force && rendered === 0) {
    report[relative(pdf)] = 'up to date, kept';
  } else {
    const work = await mkdtemp(path.join(tmpdir(), 'swarmlab-docs-'));
    try {
      const [markdown, css] = await Promise.all([readFile(SOURCE, 'utf8'), readFile(STYLESHEET, 'utf8')]);
      const html = await step(`render ${relative(SOURCE)} to HTML`, () =>
        renderHtml(markdown, svgDir, sources.hash, css),
      );
      const htmlFile = path.join(work, 'specifications.html');
      await writeFile(htmlFile, html.html);
      await step(`print ${relative(pdf)} with headless Chromium`, () => printPdf(htmlFile, pdf, html.title));
      report[relative(pdf)] = `written, ${await pagesOf(pdf)} pages, ${await kb(pdf)}`;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  report['sources sha256'] = `${sources.hash} (${sources.files.join(', ')})`;
  summary(`Specification built in ${((performance.now() - started) / 1000).toFixed(1)} s`, report);
}

await runCommand(main);
