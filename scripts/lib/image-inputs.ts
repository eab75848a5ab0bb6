// What an image is built from, as one hash. It covers the Dockerfile, every file of the build context that its
// .dockerignore lets through, the build arguments that reach the image's content, and the registry digests of its
// pulled base images.
// Why: an image's tag in the lab registry is its content (deploy-plan.ts contentTag). A rebuild on another Docker
// engine gives new layers, even from the same files, and so a new tag, and every service would roll. The operator's
// deploys build on the operator's engine, the pipeline's on node1's. So deploy also tags what it pushes
// i-<input hash>, and an engine that finds that tag in the registry deploys the image already there instead of
// building it again.
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { $ } from 'zx';
import { REPO_ROOT } from './paths.js';

// CommonJS (module.exports = the factory) whose types declare an ES default export: required as it is.
const dockerignore = createRequire(import.meta.url)(
  '@balena/dockerignore',
) as typeof import('@balena/dockerignore').default;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The registry tag that names an image by its inputs. */
export const inputTag = (hash: string) => `i-${hash.slice(0, 24)}`;

/**
 * The build arguments a Dockerfile uses outside LABEL instructions: those change what runs (ENV GIT_SHA, a RUN that
 * reads EXTRA_CA_CERTS). One used only in labels (BUILD_DATE, the revision label) changes no content.
 */
export function contentBuildArgs(dockerfile: string): string[] {
  const instructions = dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const declared = instructions.flatMap((line) => /^ARG\s+(\w+)/i.exec(line)?.[1] ?? []);
  const used = instructions.filter((line) => !/^(ARG|LABEL)\s/i.test(line));
  return [...new Set(declared)]
    .filter((name) => used.some((line) => new RegExp(`\\$(\\{${name}\\b|${name}\\b)`).test(line)))
    .sort();
}

/** The context's files that reach the build (relative paths, sorted), as docker applies the context's .dockerignore. */
export async function contextFiles(context: string): Promise<string[]> {
  const rules = await readFile(path.join(context, '.dockerignore'), 'utf8').catch(() => '');
  const ignore = dockerignore().add(rules.split(/\r?\n/));
  // Without exceptions (!pattern) an ignored folder holds nothing that reaches the build: it is not walked.
  const prune = !rules.split(/\r?\n/).some((line) => line.trim().startsWith('!'));
  const files: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(path.join(context, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!(prune && ignore.ignores(rel))) await walk(rel);
      } else if (!ignore.ignores(rel)) files.push(rel);
    }
  };
  await walk('');
  return files.sort();
}

export interface ImageInputs {
  /** Relative to the repository. */
  dockerfile: string;
  context: string;
  /** The build arguments' values (those the Dockerfile uses for content count). */
  buildArgs: Readonly<Record<string, string>>;
  /** Base image → its registry digest, when it was pulled (an image made on this engine has none). */
  baseDigests: Readonly<Record<string, string>>;
}

/** The hash of everything the image is built from (see the top of this file). */
export async function imageInputHash(inputs: ImageInputs, root: string = REPO_ROOT): Promise<string> {
  const dockerfile = await readFile(path.join(root, inputs.dockerfile), 'utf8');
  const context = path.join(root, inputs.context);
  const lines = [`dockerfile ${inputs.dockerfile} ${sha256(dockerfile)}`];
  for (const name of contentBuildArgs(dockerfile)) lines.push(`arg ${name} ${sha256(inputs.buildArgs[name] ?? '')}`);
  for (const [base, digest] of Object.entries(inputs.baseDigests).sort()) lines.push(`base ${base} ${digest}`);
  for (const file of await contextFiles(context)) {
    const full = path.join(context, file);
    const info = await lstat(full);
    // A symbolic link reaches the build as a link (docker does not follow it): its target is what counts.
    if (info.isSymbolicLink()) lines.push(`link ${file} ${await readlink(full)}`);
    else lines.push(`file ${file} ${(info.mode & 0o111) !== 0 ? 'x' : '-'} ${sha256(await readFile(full))}`);
  }
  return sha256(lines.join('\n'));
}

/** The registry digests of the pulled base images (`docker image inspect` RepoDigests); none for images made here. */
export async function baseDigests(bases: readonly string[]): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const base of bases) {
    const inspect = await $({
      quiet: true,
    })`docker image inspect --format ${'{{json .RepoDigests}}'} ${base}`.nothrow();
    const repoDigests = inspect.exitCode === 0 ? (JSON.parse(inspect.stdout) as string[] | null) : null;
    const digest = repoDigests?.map((ref) => ref.split('@')[1]).find(Boolean);
    if (digest) digests[base] = digest;
  }
  return digests;
}
