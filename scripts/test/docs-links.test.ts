// The documentation stands alone: every relative link and image of every markdown file names a file of the
// repository, every anchor a heading, nothing points outside the repository or at notes it does not hold.
// Files are found through git (tracked, or new and not ignored), so a new page is checked without being listed here.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { describe, expect, it } from 'vitest';
import {
  checkMarkdownLinks,
  FORBIDDEN_MENTIONS,
  formatProblems,
  githubSlug,
  headingAnchors,
  markdownLinks,
} from '../lib/markdown-links.js';
import { REPO_ROOT } from '../lib/paths.js';

const q = $({ quiet: true, cwd: REPO_ROOT });

/** Every file of the repository: tracked, or new and not ignored (a page not yet committed is checked too). */
async function repositoryFiles(): Promise<string[]> {
  const { stdout } = await q`git ls-files -z --cached --others --exclude-standard`;
  return stdout
    .split('\0')
    .filter((file) => file !== '' && !file.split('/').includes('node_modules'))
    .filter((file) => existsSync(path.join(REPO_ROOT, file)));
}

describe('the links of the repository', () => {
  it('when every markdown file is read, then every relative link and image resolves inside the repository, every anchor names a heading, and no file mentions notes outside it', async () => {
    const files = await repositoryFiles();
    const markdown = files.filter((file) => file.endsWith('.md'));
    expect(markdown).toContain('README.md');
    expect(markdown).toContain('docs/decisions.md');
    const problems = await checkMarkdownLinks(REPO_ROOT, files);
    expect(formatProblems(problems)).toBe('');
  });

  it('when any file of the repository is read (code, configs, scripts), then none names notes outside it', async () => {
    const own = ['scripts/test/docs-links.test.ts', 'scripts/lib/markdown-links.ts'];
    const found: string[] = [];
    for (const file of (await repositoryFiles()).filter((name) => !own.includes(name) && !name.endsWith('.md'))) {
      const text = await readFile(path.join(REPO_ROOT, file), 'utf8').catch(() => '');
      if (text.includes('\0')) continue; // binary: a PDF, an image
      text.split('\n').forEach((line, i) => {
        if (new RegExp(FORBIDDEN_MENTIONS.source).test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('when the README and the docs are read, then they link to each other (the checker sees their links)', async () => {
    const files = await repositoryFiles();
    const readme = markdownLinks(await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8'));
    expect(readme.map((link) => link.target)).toContain('docs/decisions.md');
    let anchored = 0;
    for (const file of files.filter((name) => name.startsWith('docs/') && name.endsWith('.md'))) {
      const links = markdownLinks(await readFile(path.join(REPO_ROOT, file), 'utf8'));
      anchored += links.filter((link) => link.target.includes('#')).length;
    }
    expect(anchored).toBeGreaterThanOrEqual(5);
  });
});

describe('anchors', () => {
  it("when headings carry code, punctuation and repeats, then their anchors are GitHub's", () => {
    const anchors = headingAnchors(
      [
        '# Design decisions',
        '## Deploy (`npm run deploy`)',
        "### The lab state: the pipeline deploys with the operator's secrets",
        '## CI/CD in Jenkins, every stage an npm script',
        '## No IPVS: DNS round robin and host-mode ports',
        '## Notes',
        '## Notes',
        '## `LAB_DIR` and [a link](x.md)',
        '```sh',
        '# not a heading: a comment in a code block',
        '```',
        '<a id="custom-anchor"></a>',
      ].join('\n'),
    );
    expect([...anchors]).toEqual([
      'design-decisions',
      'deploy-npm-run-deploy',
      'the-lab-state-the-pipeline-deploys-with-the-operators-secrets',
      'cicd-in-jenkins-every-stage-an-npm-script',
      'no-ipvs-dns-round-robin-and-host-mode-ports',
      'notes',
      'notes-1',
      'lab_dir-and-a-link',
      'custom-anchor',
    ]);
    expect(githubSlug('Docker-in-Docker nodes')).toBe('docker-in-docker-nodes');
  });

  it('when links sit in code blocks or inline code, then they are not taken for links', () => {
    const links = markdownLinks(
      [
        'See [the lab](docs/lab.md#nodes) and ![a picture](docs/x.png "title").',
        'Not a link: `[x](nowhere.md)`, nor ``[y](nowhere.md)``.',
        '```md',
        '[z](nowhere.md)',
        '```',
        '[text that wraps',
        'over two lines](docs/api.md)',
        '[`code` in the text](<docs/with space.md>)',
      ].join('\n'),
    );
    expect(links).toEqual([
      { target: 'docs/lab.md#nodes', line: 1, image: false },
      { target: 'docs/x.png', line: 1, image: true },
      { target: 'docs/api.md', line: 6, image: false },
      { target: 'docs/with space.md', line: 8, image: false },
    ]);
  });
});

describe('the checker can fail', () => {
  it('when a folder holds a broken link, a link outside it, a missing image, a wrong anchor and a mention of outside notes, then each is reported, and nothing else', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-links-'));
    try {
      const root = path.join(dir, 'repo');
      await mkdir(path.join(root, 'docs'), { recursive: true });
      await writeFile(path.join(dir, 'outside.md'), '# Outside\n');
      await writeFile(
        path.join(root, 'README.md'),
        [
          '# Readme',
          '',
          'Good: [docs](docs/a.md), [a heading](docs/a.md#first-part), [here](#readme), [the folder](docs/),',
          '[the web](https://example.com/missing), [mail](mailto:ops@lab.localhost).',
          'Broken: [missing](docs/missing.md).',
          'Outside: [up](../outside.md).',
          'Image: ![diagram](docs/diagram.png).',
          'Anchor: [wrong](docs/a.md#no-such-part).',
          'See DESIGN.md for why.',
          '',
          '```md',
          '[in a code block](docs/nowhere.md)',
          '```',
          '',
          'And `[in inline code](docs/nowhere.md)`.',
        ].join('\n'),
      );
      await writeFile(path.join(root, 'docs/a.md'), '# A\n\n## First part\n\nBack to [the readme](../README.md).\n');
      const problems = await checkMarkdownLinks(root, ['README.md', 'docs/a.md']);
      expect(problems.map(({ line, problem, target }) => ({ line, problem, target }))).toEqual([
        { line: 9, problem: 'mention', target: 'DESIGN.md' },
        { line: 5, problem: 'missing', target: 'docs/missing.md' },
        { line: 6, problem: 'outside', target: '../outside.md' },
        { line: 7, problem: 'missing', target: 'docs/diagram.png' },
        { line: 8, problem: 'anchor', target: 'docs/a.md#no-such-part' },
      ]);
      expect(formatProblems(problems)).toContain('README.md:6: link ../outside.md points outside the repository');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
