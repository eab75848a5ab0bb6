// `npm run lab:hooks`: installs (or with --uninstall removes) the git hook that tells the lab's Jenkins about every
// push from the operator's repository, so the pipeline starts at once; SCM polling stays the fallback.
import path from 'node:path';
import { $ } from 'zx';
import { intFlag, parseFlags, runCommand } from './lib/cli.js';
import { HOOK_NAME, installHook, uninstallHook } from './lib/git-hook.js';
import { labUrl } from './lib/lab-context.js';
import { labPaths } from './lib/lab-secrets.js';
import { summary } from './lib/log.js';

const HELP = `
Usage: npm run lab:hooks [-- --repo <dir>] [--repo-url <url>] [--jenkins-url <url>] [--ca <file>] [--delay <s>]
                         [--force] | --uninstall

Installs a ${HOOK_NAME} hook in the repository you push from (default: this one): after each push it calls
Jenkins' /git/notifyCommit?url=<repository> (curl, with the lab CA), and the swarmlab job polls and builds. Git has no
hook that runs after a push, so the hook starts a detached notifier that waits --delay seconds first. Pushes are
never stopped by it; a lost notification is caught by the job's SCM polling (every 5 minutes).

Running it again replaces only its own hook. A ${HOOK_NAME} hook written by someone else is left alone unless you
give --force, which moves it to ${HOOK_NAME}.swarmlab-backup (--uninstall puts it back).

Options:
  --repo <dir>          the repository to install into (default: this repository)
  --repo-url <url>      the repository's URL as the Jenkins job knows it (SWARMLAB_GIT_URL in Jenkins; default:
                        the URL being pushed to)
  --jenkins-url <url>   default ${labUrl('jenkins')}
  --ca <file>           the CA that signed Jenkins' certificate (default: the lab CA, LAB_DIR/ca/ca.crt)
  --delay <s>           seconds the notifier waits for the push to land (default 5)
  --force               replace a ${HOOK_NAME} hook that lab:hooks did not write (kept as a backup)
  --uninstall           remove the hook (only when lab:hooks wrote it)
`;

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      // npm runs scripts from the package's folder; INIT_CWD is where the operator typed the command.
      repo: { type: 'string', default: process.env.INIT_CWD || process.cwd() },
      'repo-url': { type: 'string', default: '' },
      'jenkins-url': { type: 'string', default: labUrl('jenkins') },
      ca: { type: 'string', default: labPaths().tlsFiles.caCert },
      delay: { type: 'string', default: '5' },
      force: { type: 'boolean', default: false },
      uninstall: { type: 'boolean', default: false },
    },
    HELP,
  );
  const repo = path.resolve(flags.repo);
  if (flags.uninstall) {
    const { file, status } = await uninstallHook(repo);
    const said = {
      removed: 'removed',
      restored: 'removed; the hook it had replaced is back',
      absent: 'nothing to remove',
      foreign: 'left alone: lab:hooks did not write it',
    }[status];
    summary(`lab:hooks --uninstall: ${said}`, { hook: file });
    return;
  }
  const delaySeconds = intFlag('delay', flags.delay, 0, 120);
  const { file, status, backup } = await installHook(
    repo,
    { jenkinsUrl: flags['jenkins-url'], caCert: path.resolve(flags.ca), repoUrl: flags['repo-url'], delaySeconds },
    { force: flags.force },
  );
  const curl = await $({ quiet: true, nothrow: true })`command -v curl`;
  const gitDir = (await $({ quiet: true, cwd: repo })`git rev-parse --absolute-git-dir`).stdout.trim();
  summary(`lab:hooks: ${status === 'unchanged' ? 'already installed, nothing changed' : status}`, {
    hook: file,
    ...(backup && { 'earlier hook': `kept as ${backup}` }),
    notifies: `${flags['jenkins-url'].replace(/\/+$/, '')}/git/notifyCommit?url=${flags['repo-url'] || '<the URL pushed to>'}`,
    ...(curl.exitCode !== 0 && { warning: 'curl is missing: the hook needs it (apt-get install curl)' }),
    log: path.join(gitDir, 'swarmlab-notify.log'),
    remove: 'npm run lab:hooks -- --uninstall',
  });
}

await runCommand(main);
