// The git hook that `npm run lab:hooks` installs in the operator's repository: on every push it tells Jenkins to
// poll the repository (/git/notifyCommit), so the pipeline starts within seconds instead of at the next SCM poll.
// Installing is idempotent and only ever replaces or removes the hook this file wrote (a marker line says so).
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { $ } from 'zx';
import { StopError } from './cli.js';
import { readIfExists } from './private-files.js';

export const HOOK_NAME = 'pre-push';
export const MARKER = 'swarmlab-managed-hook';
export const BACKUP_SUFFIX = '.swarmlab-backup';
const EXECUTABLE = 0o755;

export interface HookSettings {
  /** Jenkins' base URL, e.g. https://jenkins.lab.localhost:8443 */
  jenkinsUrl: string;
  /** The CA certificate curl trusts for Jenkins (the lab CA). */
  caCert: string;
  /** The repository's URL as the Jenkins job knows it; empty: the URL being pushed to. */
  repoUrl: string;
  /** How long the notifier waits for the push to land before it notifies. */
  delaySeconds: number;
}

/** A bash single-quoted word: safe for any value. */
const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** The hook's text: bash, shellcheck-clean, settings baked in. */
export function renderHook(settings: HookSettings): string {
  return `#!/usr/bin/env bash
# ${MARKER}: written by \`npm run lab:hooks\` (swarmlab); re-run it to change the settings,
# \`npm run lab:hooks -- --uninstall\` to remove it. Edits here are overwritten.
#
# Tells Jenkins about every push. Git has no hook that runs after a push on the pushing side (post-receive runs in
# the repository pushed to), so this is a pre-push hook: it runs just before git sends the objects, and starts a
# detached notifier that waits a few seconds (the push has landed by then) and calls
# GET <jenkins>/git/notifyCommit?url=<repository>: the git plugin then polls every job on that repository and
# builds when it has new commits. A notification that is lost (Jenkins down, a push slower than the wait) is caught
# by the job's SCM polling fallback (H/5 * * * *). The hook never stops a push: it always exits 0.
set -euo pipefail

readonly jenkins_url=${shellQuote(settings.jenkinsUrl.replace(/\/+$/, ''))}
readonly ca_cert=${shellQuote(settings.caCert)}
# Empty: the URL being pushed to (git passes it as the second argument).
readonly repo_url=${shellQuote(settings.repoUrl)}
readonly delay_seconds=${shellQuote(String(settings.delaySeconds))}

notify_jenkins() {
  local url=$1
  sleep "$delay_seconds"
  printf '%s notifyCommit url=%s: ' "$(date -u +%FT%TZ)" "$url"
  if curl --silent --show-error --fail --max-time 10 --cacert "$ca_cert" \\
    --get --data-urlencode "url=$url" "$jenkins_url/git/notifyCommit"; then
    printf '\\n'
  else
    printf 'failed (SCM polling will pick the push up)\\n'
  fi
}

main() {
  local remote_url=\${2:-}
  local url=\${repo_url:-$remote_url}
  # git writes the refs being pushed to stdin; nothing here needs them.
  cat >/dev/null
  if [[ -z $url ]]; then
    return 0
  fi
  local log
  log="$(git rev-parse --absolute-git-dir)/swarmlab-notify.log"
  # Detached: the push goes on at once; the notifier writes to the log.
  (notify_jenkins "$url" </dev/null >>"$log" 2>&1 &)
  return 0
}

main "$@" || true
`;
}

export const isOurs = (text: string) => text.includes(MARKER);

/** The folder git runs hooks from in `repo` (core.hooksPath or .git/hooks, worktrees included). */
export async function hooksDir(repo: string): Promise<string> {
  // git prints the folder relative to `repo` (a relative core.hooksPath included), or absolute.
  const result = await $({ quiet: true, cwd: repo, nothrow: true })`git rev-parse --git-path hooks`;
  if (result.exitCode !== 0) {
    throw new StopError(`${repo} is not a git repository (${result.stderr.trim()}). Give --repo <dir>.`);
  }
  return path.resolve(repo, result.stdout.trim());
}

export type InstallStatus = 'created' | 'updated' | 'unchanged' | 'replaced';

/** Writes the hook; a hook that is not ours is refused, or with `force` kept as <hook>.swarmlab-backup. */
export async function installHook(
  repo: string,
  settings: HookSettings,
  options: { force?: boolean } = {},
): Promise<{ file: string; status: InstallStatus; backup?: string }> {
  const dir = await hooksDir(repo);
  const file = path.join(dir, HOOK_NAME);
  const content = renderHook(settings);
  const existing = await readIfExists(file);
  if (existing === content) {
    await chmod(file, EXECUTABLE);
    return { file, status: 'unchanged' };
  }
  let backup: string | undefined;
  if (existing !== undefined && !isOurs(existing)) {
    if (!options.force) {
      throw new StopError(
        `${file} exists and was not written by lab:hooks: left as it is.\n` +
          `Merge it by hand, or run again with --force to move it to ${HOOK_NAME}${BACKUP_SUFFIX} (--uninstall puts it back).`,
      );
    }
    backup = `${file}${BACKUP_SUFFIX}`;
    if ((await readIfExists(backup)) !== undefined) {
      throw new StopError(`${backup} exists already: move it away first, then run again with --force.`);
    }
    await rename(file, backup);
  }
  await mkdir(dir, { recursive: true });
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, content, { mode: EXECUTABLE });
  await chmod(temp, EXECUTABLE);
  await rename(temp, file);
  const status = backup ? 'replaced' : existing === undefined ? 'created' : 'updated';
  return { file, status, ...(backup && { backup }) };
}

export type UninstallStatus = 'removed' | 'restored' | 'absent' | 'foreign';

/** Removes the hook when it is ours (and puts back the one --force moved aside); a foreign hook is left alone. */
export async function uninstallHook(repo: string): Promise<{ file: string; status: UninstallStatus }> {
  const file = path.join(await hooksDir(repo), HOOK_NAME);
  const existing = await readIfExists(file);
  if (existing === undefined) return { file, status: 'absent' };
  if (!isOurs(existing)) return { file, status: 'foreign' };
  await rm(file);
  const backup = `${file}${BACKUP_SUFFIX}`;
  if ((await readIfExists(backup)) !== undefined) {
    await rename(backup, file);
    return { file, status: 'restored' };
  }
  return { file, status: 'removed' };
}
