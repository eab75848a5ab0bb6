// Every shell script (images, provisioning, CI) passes shellcheck and every YAML file yamllint (.yamllint.yml).
// Files are found through git, so a new one is checked without being listed here.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireDebianTools } from '../lib/debian-tools.js';
import { REPO_ROOT } from '../lib/paths.js';

const q = $({ quiet: true, cwd: REPO_ROOT, nothrow: true });
const TOOLS = { shellcheck: 'shellcheck', yamllint: 'yamllint' } as const;

const requireTool = (tool: keyof typeof TOOLS) => requireDebianTools({ [tool]: TOOLS[tool] });

async function tracked(...patterns: string[]) {
  const { stdout } = await q`git ls-files -- ${patterns}`;
  return stdout.split('\n').filter(Boolean);
}

beforeAll(async () => {
  await requireTool('shellcheck');
  await requireTool('yamllint');
}, 300_000);

describe('shell scripts', () => {
  it('every one passes shellcheck', async () => {
    const scripts = [...(await tracked('*.sh')), '.ci/run'];
    expect(scripts.length).toBeGreaterThanOrEqual(5);
    const result = await q`shellcheck --format=gcc ${scripts}`;
    expect(result.stdout, result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('a script with a classic mistake is refused (the check can fail)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-lint-'));
    try {
      await writeFile(path.join(dir, 'bad.sh'), '#!/usr/bin/env bash\nrm -rf $1/*\n');
      expect((await q`shellcheck ${path.join(dir, 'bad.sh')}`).exitCode).not.toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('YAML files', () => {
  it('every one passes yamllint', async () => {
    const files = await tracked('*.yml', '*.yaml');
    expect(files.length).toBeGreaterThanOrEqual(8);
    const result = await q`yamllint --strict -f parsable -c .yamllint.yml ${files}`;
    expect(result.stdout, result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('a file with a duplicated key is refused (the check can fail)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-lint-'));
    try {
      await writeFile(path.join(dir, 'bad.yml'), 'services:\n  api: {}\n  api: {}\n');
      expect((await q`yamllint -c .yamllint.yml ${path.join(dir, 'bad.yml')}`).exitCode).not.toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
