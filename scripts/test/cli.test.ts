import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { intFlag, parseFlags, StopError } from '../lib/cli.js';
import { fillTemplate } from '../lib/load.js';
import { REPO_ROOT } from '../lib/paths.js';

describe('parseFlags', () => {
  it('when the flags are known, then their values are returned', () => {
    const flags = parseFlags(['--port', '4000'], { port: { type: 'string' } }, 'help');

    expect(flags).toEqual({ port: '4000' });
  });

  it('when a flag is unknown, then it stops with the flag named and a pointer to --help', () => {
    const parse = () => parseFlags(['--prot', '4000'], { port: { type: 'string' } }, 'help');

    expect(parse).toThrow(StopError);
    expect(parse).toThrow(/--prot[\s\S]*See --help/);
  });
});

describe('intFlag', () => {
  it.each(['0', '65536', '3.5', 'abc', ''])('when the value is %j, then it stops naming the flag and range', (raw) => {
    expect(() => intFlag('port', raw, 1, 65_535)).toThrow(/--port must be a whole number from 1 to 65535/);
  });

  it('when the value is in range, then it is a number', () => {
    expect(intFlag('port', '3000', 1, 65_535)).toBe(3000);
  });
});

describe('fillTemplate', () => {
  it('when a path holds {userId}, then each request gets an id within the range', () => {
    const ids = Array.from({ length: 200 }, () =>
      Number(
        fillTemplate('/v1/users/{userId}', { userIds: { min: 5, max: 7 } }, '')
          .split('/')
          .at(-1),
      ),
    );

    expect(new Set(ids)).toEqual(new Set([5, 6, 7]));
  });

  it('when a body holds {seq}, then it is replaced by the given value', () => {
    expect(fillTemplate('{"email":"bench-{seq}@lab.localhost"}', {}, 'r1-42')).toBe(
      '{"email":"bench-r1-42@lab.localhost"}',
    );
  });
});

describe('requireDocker', () => {
  // A docker CLI older than 23 on PATH (Debian 12's docker.io is 20.10): the lab's commands stop before any work.
  it('when the docker CLI is older than 23, then npm run backup:list stops naming the version and what to install', async () => {
    const bin = await mkdtemp(path.join(tmpdir(), 'swarmlab-old-docker-'));
    try {
      await writeFile(path.join(bin, 'docker'), '#!/bin/sh\n[ "$1" = version ] && echo 20.10.24 && exit 0\nexit 1\n');
      await chmod(path.join(bin, 'docker'), 0o755);
      const run = await $({
        cwd: REPO_ROOT,
        nothrow: true,
        quiet: true,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
      })`npx tsx scripts/backup-list.ts`;
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toMatch(/This docker CLI is 20\.10\.24; the lab needs 23 or later[\s\S]*docker-ce-cli/);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  }, 60_000);
});
