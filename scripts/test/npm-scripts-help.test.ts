// Every npm script of ours answers `--help` as a user types it (`npm run <name> -- --help`): usage on stdout, exit 0,
// and nothing started or written: no step run, no file in LAB_DIR, no Docker, Vagrant or apt command called.
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lib/paths.js';

/** Scripts that are the tools' own commands (their --help is the tool's), or the install hook. */
const TOOL_SCRIPTS = ['postinstall', 'build', 'lint', 'format', 'typecheck', 'test', 'test:watch', 'test:e2e'];
/** Commands a --help must never run: each shim records its call and fails. */
const SHIMMED = ['docker', 'dockerd', 'vagrant', 'apt-get', 'wrk', 'git'];

const scripts = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')).scripts as Record<
  string,
  string
>;
const ours = Object.keys(scripts).filter((name) => !TOOL_SCRIPTS.includes(name));

let dir: string;
let labDir: string;
let calls: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-help-'));
  labDir = path.join(dir, 'lab');
  calls = path.join(dir, 'calls.log');
  const bin = path.join(dir, 'bin');
  await $`mkdir -p ${bin} ${labDir}`;
  for (const command of SHIMMED) {
    const shim = path.join(bin, command);
    await writeFile(shim, `#!/bin/sh\necho "${command} $*" >> '${calls}'\nexit 1\n`);
    await chmod(shim, 0o755);
  }
  env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    LAB_DIR: labDir,
    DOCKER_HOST: 'tcp://127.0.0.1:1',
    PATRONI_API_URL: '',
  };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run <script> -- --help', () => {
  it('when a script is added, then it is either ours (and checked below) or a tool named in TOOL_SCRIPTS', () => {
    expect(ours.length).toBeGreaterThan(30);
    for (const name of ours) expect(scripts[name], name).toMatch(/^(tsx scripts\/|npm run migrate -w api)/);
  });

  it.concurrent.each(ours)(
    'when %s is asked for help, then it prints its usage, exits 0 and starts nothing',
    async (name) => {
      const result = await $({
        cwd: REPO_ROOT,
        env,
        quiet: true,
        nothrow: true,
        timeout: '60s',
      })`npm run -s ${name} -- --help`;

      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^Usage: /);
      expect(result.stdout).toMatch(new RegExp(`npm run ${name}(?![\\w:-])`));
      expect(result.stderr, 'a step ran').not.toContain('▸');
      expect(await readdir(labDir), 'files written to LAB_DIR').toEqual([]);
      const called = await readFile(calls, 'utf8').catch(() => '');
      expect(called, 'commands a --help must not run').toBe('');
    },
    90_000,
  );
});
