// `npm run lab:hooks` (scripts/lab-hooks.ts, scripts/lib/git-hook.ts) in throwaway git repositories: the pre-push
// hook is installed idempotently, never overwrites or removes a hook it did not write, passes shellcheck, and a real
// `git push` makes it call /git/notifyCommit on an HTTPS server (a stand-in for Jenkins) that trusts a test CA.
import { createServer, type Server } from 'node:https';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_SUFFIX, HOOK_NAME, MARKER, renderHook } from '../lib/git-hook.js';
import { REPO_ROOT } from '../lib/paths.js';

const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
const LAB_HOOKS = path.join(REPO_ROOT, 'scripts/lab-hooks.ts');
const FOREIGN = '#!/bin/sh\necho "the team\'s own pre-push checks"\n';
let temp: string;

beforeAll(async () => {
  temp = await mkdtemp(path.join(tmpdir(), 'swarmlab-hooks-'));
});
afterAll(async () => {
  await rm(temp, { recursive: true, force: true });
});

/** git in `dir` with no user or system configuration. */
const gitIn = (dir: string) =>
  $({
    quiet: true,
    cwd: dir,
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: temp, GIT_DIR: undefined, GIT_WORK_TREE: undefined },
  });

async function newRepo(): Promise<string> {
  const repo = await mkdtemp(path.join(temp, 'repo-'));
  await gitIn(repo)`git init -q -b main`;
  return repo;
}

/** The command as an operator runs it; a later --ca in `args` wins over the default here. */
const labHooks = (repo: string, ...args: string[]) =>
  $({
    quiet: true,
    nothrow: true,
    env: { ...process.env, LAB_DIR: path.join(temp, 'lab') },
  })`${TSX} ${LAB_HOOKS} --repo ${repo} --ca /tmp/lab-ca.crt ${args}`;

const hookFile = (repo: string) => path.join(repo, '.git/hooks', HOOK_NAME);

describe('npm run lab:hooks', () => {
  it('when run in a repository, then it installs an executable pre-push hook that calls notifyCommit', async () => {
    const repo = await newRepo();

    const run = await labHooks(repo);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('lab:hooks: created');
    const hook = await readFile(hookFile(repo), 'utf8');
    expect(hook).toContain(MARKER);
    expect(hook).toContain("readonly jenkins_url='https://jenkins.lab.localhost:8443'");
    expect(hook).toContain("readonly ca_cert='/tmp/lab-ca.crt'");
    expect(hook).toContain('/git/notifyCommit');
    expect((await stat(hookFile(repo))).mode & 0o111).toBe(0o111);
  });

  it('when run twice, then the second run changes nothing and says so', async () => {
    const repo = await newRepo();
    await labHooks(repo);
    const before = await stat(hookFile(repo));

    const run = await labHooks(repo);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('already installed, nothing changed');
    expect((await stat(hookFile(repo))).mtimeMs).toBe(before.mtimeMs);
  });

  it('when run again with other settings, then it replaces its own hook', async () => {
    const repo = await newRepo();
    await labHooks(repo);

    const run = await labHooks(repo, '--jenkins-url', 'https://ci.example.test/', '--delay', '1');

    expect(run.stdout).toContain('lab:hooks: updated');
    const hook = await readFile(hookFile(repo), 'utf8');
    expect(hook).toContain("readonly jenkins_url='https://ci.example.test'");
    expect(hook).toContain("readonly delay_seconds='1'");
  });

  it('when a pre-push hook it did not write is there, then it refuses and leaves it as it is', async () => {
    const repo = await newRepo();
    await writeFile(hookFile(repo), FOREIGN, { mode: 0o755 });

    const run = await labHooks(repo);

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/exists and was not written by lab:hooks: left as it is[\s\S]*--force/);
    expect(await readFile(hookFile(repo), 'utf8')).toBe(FOREIGN);
  });

  it('when --force replaces a foreign hook, then it is kept as a backup and --uninstall puts it back', async () => {
    const repo = await newRepo();
    await writeFile(hookFile(repo), FOREIGN, { mode: 0o755 });

    const forced = await labHooks(repo, '--force');
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(await readFile(`${hookFile(repo)}${BACKUP_SUFFIX}`, 'utf8')).toBe(FOREIGN);
    expect(await readFile(hookFile(repo), 'utf8')).toContain(MARKER);

    const removed = await labHooks(repo, '--uninstall');
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('the hook it had replaced is back');
    expect(await readFile(hookFile(repo), 'utf8')).toBe(FOREIGN);
  });

  it('when --uninstall meets a hook it did not write, then it leaves it alone', async () => {
    const repo = await newRepo();
    await writeFile(hookFile(repo), FOREIGN, { mode: 0o755 });

    const run = await labHooks(repo, '--uninstall');

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('left alone');
    expect(await readFile(hookFile(repo), 'utf8')).toBe(FOREIGN);
  });

  it('when --uninstall meets its own hook, then the hook is removed', async () => {
    const repo = await newRepo();
    await labHooks(repo);

    const run = await labHooks(repo, '--uninstall');

    expect(run.stdout).toContain('lab:hooks --uninstall: removed');
    await expect(stat(hookFile(repo))).rejects.toThrow(/ENOENT/);
  });

  it('when the repository sets core.hooksPath, then the hook goes where git will run it', async () => {
    const repo = await newRepo();
    await gitIn(repo)`git config core.hooksPath .githooks`;

    const run = await labHooks(repo);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(await readFile(path.join(repo, '.githooks', HOOK_NAME), 'utf8')).toContain(MARKER);
  });

  it('when the folder is not a git repository, then it stops and says so', async () => {
    const run = await labHooks(await mkdtemp(path.join(temp, 'plain-')));

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/is not a git repository/);
  });

  it('when the hook is generated, then shellcheck passes it (quotes included)', async () => {
    const file = path.join(temp, 'pre-push');
    await writeFile(
      file,
      renderHook({
        jenkinsUrl: "https://jenkins.lab.localhost:8443/it's",
        caCert: '/home/op/My Lab/ca.crt',
        repoUrl: 'ssh://git@node1/srv/git/swarmlab.git',
        delaySeconds: 5,
      }),
    );

    const result = await $({ quiet: true, nothrow: true })`shellcheck --shell=bash --severity=style ${file}`;

    expect(result.stdout, result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });
});

describe('the pre-push hook, on a real push', () => {
  let server: Server;
  let port: number;
  let ca: string;
  const requests: string[] = [];

  beforeAll(async () => {
    ca = path.join(temp, 'jenkins.crt');
    const key = path.join(temp, 'jenkins.key');
    await $({
      quiet: true,
    })`openssl req -x509 -newkey rsa:2048 -nodes -keyout ${key} -out ${ca} -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1`;
    server = createServer({ key: await readFile(key), cert: await readFile(ca) }, (req, res) => {
      requests.push(req.url ?? '');
      res.end('Scheduled polling of swarmlab\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('when the operator pushes, then Jenkins is asked to poll the pushed-to repository and the push succeeds', async () => {
    const remote = await mkdtemp(path.join(temp, 'remote-'));
    await gitIn(remote)`git init -q --bare`;
    const repo = await newRepo();
    const git = gitIn(repo);
    await git`git -c user.name=op -c user.email=op@lab.localhost commit -q --allow-empty -m change`;
    await git`git remote add origin ${remote}`;
    const installed = await labHooks(repo, '--jenkins-url', `https://127.0.0.1:${port}`, '--ca', ca, '--delay', '0');
    expect(installed.exitCode, installed.stderr).toBe(0);

    const pushed = await git`git push -q origin main`;

    expect(pushed.exitCode).toBe(0);
    const deadline = Date.now() + 10_000;
    while (requests.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(requests).toHaveLength(1);
    const request = new URL(requests[0]!, 'https://jenkins');
    expect(request.pathname).toBe('/git/notifyCommit');
    expect(request.searchParams.get('url')).toBe(remote);
    const log = await readFile(path.join(repo, '.git/swarmlab-notify.log'), 'utf8');
    expect(log).toContain(`notifyCommit url=${remote}: Scheduled polling of swarmlab`);
    expect((await git`git ls-remote ${remote} main`).stdout).toContain((await git`git rev-parse HEAD`).stdout.trim());
  });

  it('when Jenkins does not answer, then the push still succeeds and the log says polling will catch it', async () => {
    const remote = await mkdtemp(path.join(temp, 'remote-'));
    await gitIn(remote)`git init -q --bare`;
    const repo = await newRepo();
    const git = gitIn(repo);
    await git`git -c user.name=op -c user.email=op@lab.localhost commit -q --allow-empty -m change`;
    await git`git remote add origin ${remote}`;
    await labHooks(repo, '--jenkins-url', 'https://127.0.0.1:9', '--delay', '0');

    const pushed = await git`git push -q origin main`;

    expect(pushed.exitCode).toBe(0);
    const logFile = path.join(repo, '.git/swarmlab-notify.log');
    const deadline = Date.now() + 10_000;
    let log = '';
    while (!log.includes('SCM polling') && Date.now() < deadline) {
      log = await readFile(logFile, 'utf8').catch(() => '');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(log).toContain('failed (SCM polling will pick the push up)');
  });
});
