// The links of the repository's markdown files, checked as GitHub renders them: every relative link and image
// names a file or folder of the repository (resolved from the linking file's folder, never outside the root), every
// `#anchor` into a markdown file names one of its headings (GitHub's slugs), and no file names the notes the
// repository must not depend on. External links (http, https, mailto) are not fetched. No markdown library: fenced
// code blocks and inline code are blanked first, so an example in code is never taken for a link.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface LinkProblem {
  /** The markdown file, relative to the root (POSIX separators). */
  file: string;
  line: number;
  /** The link's target as written, or the name mentioned. */
  target: string;
  problem: 'missing' | 'outside' | 'anchor' | 'scheme' | 'mention';
  message: string;
}

export interface MarkdownLink {
  target: string;
  line: number;
  image: boolean;
}

/** Names no markdown file may mention: notes outside the repository, which a reader of it does not have. */
export const FORBIDDEN_MENTIONS = /\b(?:DESIGN|ENVIRONMENT|STYLE)\.md\b/g;

const EXTERNAL = /^(?:https?|mailto):/i;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const FENCE_OPEN = /^\s*(`{3,}|~{3,})(.*)$/;

/** The lines of a markdown text with its fenced code blocks blanked (the lines are kept, so numbers hold). */
export function withoutFencedCode(text: string): string[] {
  let fence: string | undefined;
  return text.split(/\r?\n/).map((line) => {
    if (fence !== undefined) {
      const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
      if (close.test(line)) fence = undefined;
      return '';
    }
    const open = FENCE_OPEN.exec(line);
    // An info string with a backtick cannot open a backtick fence (CommonMark): that line is inline code.
    if (open && !(open[1]!.startsWith('`') && open[2]!.includes('`'))) {
      fence = open[1]!;
      return '';
    }
    return line;
  });
}

/** The text with every inline code span (backticks included) turned into spaces; newlines are kept. */
export function withoutInlineCode(text: string): string {
  let out = '';
  let from = 0;
  const runs = /`+/g;
  let run: RegExpExecArray | null;
  while ((run = runs.exec(text)) !== null) {
    const start = run.index;
    const closing = new RegExp(`(?<!\`)\`{${run[0].length}}(?!\`)`, 'g');
    closing.lastIndex = start + run[0].length;
    const end = closing.exec(text);
    // A code span ends at its matching run, and never across a blank line (the paragraph ends there).
    if (!end || /\n[ \t]*\n/.test(text.slice(start, end.index))) continue;
    const stop = end.index + run[0].length;
    out += text.slice(from, start) + text.slice(start, stop).replace(/[^\n]/g, ' ');
    from = stop;
    runs.lastIndex = stop;
  }
  return out + text.slice(from);
}

/** GitHub's anchor for a heading's text (github-slugger): lowercase, punctuation dropped, each space a hyphen. */
export function githubSlug(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** A heading's text as rendered: code spans' content kept, links and images reduced to their text, no markup. */
function headingText(source: string): string {
  return source
    .split(/(`+[^`]*?`+)/)
    .map((part, index) => {
      if (index % 2 === 1) return part.replace(/^`+|`+$/g, '');
      return part
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/<[^>]+>/g, '')
        .replace(/(?<![\p{L}\p{N}])_+|_+(?![\p{L}\p{N}])/gu, '')
        .replace(/\\(.)/g, '$1');
    })
    .join('');
}

const ATX = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const HTML_ID = /<[a-z][a-z0-9]*\b[^>]*?\s(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi;

/** Every anchor a markdown file offers: its headings' slugs (a repeated one gets -1, -2, ...) and HTML ids. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const occurrences = new Map<string, number>();
  for (const line of withoutFencedCode(markdown)) {
    const heading = ATX.exec(line);
    if (heading) {
      const original = githubSlug(headingText(heading[1] ?? ''));
      let slug = original;
      while (occurrences.has(slug)) {
        const next = occurrences.get(original)! + 1;
        occurrences.set(original, next);
        slug = `${original}-${next}`;
      }
      occurrences.set(slug, 0);
      anchors.add(slug);
    }
    for (const id of withoutInlineCode(line).matchAll(HTML_ID)) anchors.add(id[1] ?? id[2] ?? '');
  }
  return anchors;
}

// [text](target "title") and ![alt](target): the text may hold one level of brackets ([`x`](y) included).
const INLINE_LINK =
  /(!?)\[((?:\\.|[^[\]\\]|\[(?:\\.|[^[\]\\])*\])*)\]\(\s*(<[^<>\n]*>|(?:\\.|[^\s()\\]|\((?:\\.|[^\s()\\])*\))*)(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?\s*\)/g;
// [label]: target
const DEFINITION = /^ {0,3}\[(?:\\.|[^\]\\])+\]:[ \t]*(<[^<>\n]*>|\S+)/gm;
// <a href="..."> and <img src="...">
const HTML_LINK = /<(a|img|source)\b[^>]*?\s(href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi;

/** The links and images of a markdown text, outside code, with their line numbers. */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const text = withoutInlineCode(withoutFencedCode(markdown).join('\n'));
  const lineAt = (offset: number) => text.slice(0, offset).split('\n').length;
  const links: MarkdownLink[] = [];
  for (const match of text.matchAll(INLINE_LINK)) {
    links.push({ target: match[3]!.replace(/^<|>$/g, ''), line: lineAt(match.index), image: match[1] === '!' });
  }
  for (const match of text.matchAll(DEFINITION)) {
    links.push({ target: match[1]!.replace(/^<|>$/g, ''), line: lineAt(match.index), image: false });
  }
  for (const match of text.matchAll(HTML_LINK)) {
    links.push({
      target: match[3] ?? match[4] ?? '',
      line: lineAt(match.index),
      image: match[2]!.toLowerCase() === 'src',
    });
  }
  return links.sort((a, b) => a.line - b.line);
}

const decode = (value: string) => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

/**
 * Checks the markdown files among `files` (every file of the repository, relative to `root`, POSIX separators):
 * their relative links and images, their anchors into markdown files, and mentions of FORBIDDEN_MENTIONS.
 */
export async function checkMarkdownLinks(root: string, files: readonly string[]): Promise<LinkProblem[]> {
  const fileSet = new Set(files);
  const folders = new Set<string>(['.']);
  for (const file of files) {
    for (let dir = path.posix.dirname(file); dir !== '.'; dir = path.posix.dirname(dir)) folders.add(dir);
  }
  const markdownFiles = files.filter((file) => file.toLowerCase().endsWith('.md'));
  const texts = new Map<string, string>();
  for (const file of markdownFiles) texts.set(file, await readFile(path.join(root, file), 'utf8'));
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (file: string) => {
    let anchors = anchorCache.get(file);
    if (!anchors) anchorCache.set(file, (anchors = headingAnchors(texts.get(file) ?? '')));
    return anchors;
  };

  const problems: LinkProblem[] = [];
  for (const file of markdownFiles) {
    const text = texts.get(file)!;
    text.split(/\r?\n/).forEach((content, index) => {
      for (const mention of content.matchAll(FORBIDDEN_MENTIONS)) {
        problems.push({
          file,
          line: index + 1,
          target: mention[0],
          problem: 'mention',
          message: `mentions ${mention[0]}, which is not in the repository`,
        });
      }
    });
    for (const link of markdownLinks(text)) {
      const report = (problem: LinkProblem['problem'], message: string) =>
        problems.push({ file, line: link.line, target: link.target, problem, message });
      const what = link.image ? 'image' : 'link';
      if (EXTERNAL.test(link.target)) continue;
      if (SCHEME.test(link.target) || link.target.startsWith('//')) {
        report('scheme', `${what} ${link.target}: only relative links, http(s) and mailto are allowed`);
        continue;
      }
      const hash = link.target.indexOf('#');
      const targetPath = decode((hash === -1 ? link.target : link.target.slice(0, hash)).replace(/\?.*$/, ''));
      const anchor = hash === -1 ? undefined : decode(link.target.slice(hash + 1));
      let resolved = file;
      if (targetPath !== '') {
        resolved = targetPath.startsWith('/')
          ? path.posix.normalize(`.${targetPath}`)
          : path.posix.normalize(path.posix.join(path.posix.dirname(file), targetPath));
        resolved = resolved.replace(/\/+$/, '') || '.';
        if (resolved === '..' || resolved.startsWith('../')) {
          report('outside', `${what} ${link.target} points outside the repository (${resolved})`);
          continue;
        }
        if (!fileSet.has(resolved) && !folders.has(resolved)) {
          report('missing', `${what} ${link.target}: ${resolved} is not in the repository`);
          continue;
        }
      }
      if (anchor !== undefined && anchor !== '' && texts.has(resolved) && !anchorsOf(resolved).has(anchor)) {
        report('anchor', `${what} ${link.target}: ${resolved} has no heading with the anchor #${anchor}`);
      }
    }
  }
  return problems;
}

/** One line per problem, as an editor jumps to it: file:line: message. */
export const formatProblems = (problems: readonly LinkProblem[]) =>
  problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n');
