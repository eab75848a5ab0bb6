// The lab's images: the catalogue (what is built, from which Dockerfile and context, how each is smoke-tested),
// building and tagging, and seeding the two base images every Dockerfile starts from (debian:bookworm-slim,
// node:24-bookworm-slim) on machines that cannot pull them. See docs/images.md.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { $, ProcessOutput, which, type ProcessPromise } from 'zx';
import { StopError } from './cli.js';
import { step } from './log.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const q = $({ quiet: true, cwd: ROOT });

// ---------------------------------------------------------------------------------------------------------------
// Commands: failures name the command, its exit code and the tail of its output; long ones show progress.

/** A command that failed: its message holds the command, the exit code and the last lines of its output. */
export class CommandError extends StopError {
  override name = 'CommandError';
  constructor(
    readonly cmd: string,
    readonly exitCode: number | null,
    readonly output: string,
    note = '',
  ) {
    const shown = cmd.replace(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g, '<$1>');
    super(
      `command failed (${exitCode === null ? 'killed: timed out' : `exit ${exitCode}`}): ${shown}\n${indent(tail(output, 20))}${note}`,
    );
  }
}

/** Without terminal colour codes (docker's legacy builder colours the output of RUN steps). */
const COLOUR_CODE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const plain = (text: string) => text.replace(COLOUR_CODE, '');
export const tail = (text: string, lines: number) => plain(text).trimEnd().split('\n').slice(-lines).join('\n');
export const indent = (text: string) => (text ? text.replace(/^/gm, '  | ') : '  | (no output)');
const lastLine = (text: string) =>
  plain(text)
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter(Boolean)
    .pop() ?? '';

/** Awaits a zx command; a failure becomes a CommandError. */
export async function run(p: ProcessPromise, note = ''): Promise<ProcessOutput> {
  try {
    return await p;
  } catch (error) {
    if (error instanceof ProcessOutput) throw new CommandError(p.cmd, error.exitCode, error.stdall, note);
    throw error;
  }
}

const PROGRESS_EVERY_MS = 10_000;

/** Like run(), printing the elapsed time and the latest output line every 10 s; all output goes to `logFile`. */
export async function runWithProgress(label: string, p: ProcessPromise, logFile?: string): Promise<ProcessOutput> {
  const started = performance.now();
  const log = logFile ? createWriteStream(logFile) : undefined;
  let last = '';
  const onData = (chunk: Buffer) => {
    log?.write(chunk);
    last = lastLine(String(chunk)) || last;
  };
  p.stdout.on('data', onData);
  p.stderr.on('data', onData);
  const timer = setInterval(() => {
    console.error(`  … ${label}: ${formatMs(performance.now() - started)}${last ? `  ${last.slice(0, 110)}` : ''}`);
  }, PROGRESS_EVERY_MS);
  try {
    return await run(p, logFile ? `\n  full log: ${path.relative(process.cwd(), logFile)}` : '');
  } finally {
    clearInterval(timer);
    await new Promise((resolve) => (log ? log.end(resolve) : resolve(undefined)));
  }
}

export const formatMs = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
/** Sizes as `docker images` prints them (decimal megabytes). */
export const formatSize = (bytes: number) => (bytes > 0 ? `${Math.round(bytes / 1e6)} MB` : '-');

/** Prints an aligned table with a title (stdout). */
export function printTable(title: string, header: string[], rows: string[][]) {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(row));
}

// ---------------------------------------------------------------------------------------------------------------
// Docker

/** Stops with the next step when the docker CLI or the engine is missing; returns the engine's version. */
export async function requireDocker(): Promise<string> {
  if (!(await which('docker', { nothrow: true }))) {
    throw new StopError('The docker CLI is missing. Install Docker (Debian: apt-get install docker.io).');
  }
  const info = await q`docker info --format ${'{{.ServerVersion}}'}`.nothrow().timeout('30s');
  if (info.exitCode !== 0 || !info.stdout.trim()) {
    throw new StopError(
      `The Docker engine does not answer (${lastLine(info.stderr) || 'docker info timed out'}).\n` +
        'Start it (systemctl start docker, or dockerd as root) or point DOCKER_HOST at one, then run this again.',
    );
  }
  return info.stdout.trim();
}

/** The image's id, or undefined when there is no such image. */
export async function imageId(ref: string): Promise<string | undefined> {
  const result = await q`docker image inspect --format ${'{{.Id}}'} ${ref}`.nothrow();
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

export async function imageSize(ref: string): Promise<number> {
  return Number((await run(q`docker image inspect --format ${'{{.Size}}'} ${ref}`)).stdout.trim());
}

// ---------------------------------------------------------------------------------------------------------------
// Base images: pulled when a registry answers, otherwise made here (debootstrap; Node from the npm registry).

export const DEBIAN_BASE = 'debian:bookworm-slim';
export const NODE_BASE = 'node:24-bookworm-slim';
const SUITE = 'bookworm';
/** The official Node build for this machine, as an npm package, and its OpenSSL configuration's platform. */
const NODE_PLATFORM =
  process.arch === 'arm64' ? { arch: 'arm64', openssl: 'linux-aarch64' } : { arch: 'x64', openssl: 'linux-x86_64' };
const NODE_PACKAGE = `node-linux-${NODE_PLATFORM.arch}@24`;
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const DEFAULT_SECURITY_MIRROR = 'http://deb.debian.org/debian-security';
/** `docker pull` fails at once without a registry; a firewall that drops packets would make it hang: cut it. */
const PULL_TIMEOUT = '30s';

export interface SeedOptions {
  /** Never try `docker pull`: always make missing images locally. */
  offline: boolean;
  /** Make (or pull) the images again even when they exist. */
  force: boolean;
  /** The Debian mirror for debootstrap and the image's sources; default: the one the host's apt uses. */
  mirror?: string;
}

export interface SeedRow {
  image: string;
  status: 'kept' | 'pulled' | 'made';
  sizeBytes: number;
  ms: number;
  note: string;
}

/** Makes sure both base images exist: kept when present, else pulled, else made. Idempotent. */
export async function seedBaseImages(options: SeedOptions): Promise<SeedRow[]> {
  const debian = await step(`base image ${DEBIAN_BASE}`, () =>
    ensureBaseImage(DEBIAN_BASE, options, () => makeDebian(options.mirror)),
  );
  const node = await step(`base image ${NODE_BASE}`, () => ensureBaseImage(NODE_BASE, options, makeNode));
  return [debian, node];
}

async function ensureBaseImage(ref: string, options: SeedOptions, make: () => Promise<string>): Promise<SeedRow> {
  const started = performance.now();
  const row = async (status: SeedRow['status'], note: string): Promise<SeedRow> => ({
    image: ref,
    status,
    note,
    sizeBytes: await imageSize(ref),
    ms: performance.now() - started,
  });
  if (!options.force && (await imageId(ref))) return row('kept', 'present (--force makes it again)');
  if (!options.offline) {
    const pulled = await q`docker pull ${ref}`.nothrow().timeout(PULL_TIMEOUT);
    if (pulled.exitCode === 0) return row('pulled', 'from its registry');
    const why = pulled.exitCode === null ? `no answer within ${PULL_TIMEOUT}` : lastLine(pulled.stderr);
    console.error(`  cannot pull ${ref} (${why}): making it here`);
  }
  return row('made', await make());
}

/** The mirrors the host's apt uses (deb822 debian.sources, else sources.list), for the suite and its security. */
async function hostDebianMirrors(): Promise<{ main: string; security: string }> {
  const read = (file: string) => fs.readFile(file, 'utf8').catch(() => '');
  const found: { main?: string; security?: string } = {};
  for (const stanza of (await read('/etc/apt/sources.list.d/debian.sources')).split(/\n\s*\n/)) {
    const field = (name: string) =>
      new RegExp(`^${name}:[ \\t]*(.+)$`, 'im').exec(stanza.replace(/^#.*$/gm, ''))?.[1]?.trim().split(/\s+/) ?? [];
    const uri = field('URIs')[0];
    if (!uri || !field('Types').includes('deb')) continue;
    if (field('Suites').some((suite) => suite.endsWith('-security'))) found.security ??= uri;
    else found.main ??= uri;
  }
  for (const line of (await read('/etc/apt/sources.list')).split('\n')) {
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
    if (!match) continue;
    if (match[2]!.endsWith('-security')) found.security ??= match[1]!;
    else found.main ??= match[1]!;
  }
  return { main: found.main ?? DEFAULT_MIRROR, security: found.security ?? DEFAULT_SECURITY_MIRROR };
}

// What the official image's build (debuerreotype) leaves out of "slim" variants, and keeps in spite of that.
const SLIM_EXCLUDES = ['doc', 'groff', 'info', 'linda', 'lintian/overrides', 'locale', 'man'].map(
  (dir) => `/usr/share/${dir}/*`,
);
const SLIM_INCLUDES = [
  '/usr/share/doc/*/copyright',
  '/usr/share/locale/all_languages',
  '/usr/share/locale/currency/*',
  '/usr/share/locale/l10n/*',
  '/usr/share/locale/languages',
  '/usr/share/locale/locale.alias',
];
const globRegExp = (glob: string) => new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

/** The configuration files of the official image: quiet, lean apt and dpkg inside `docker build`. */
function minimizingConfig(mirrors: { main: string; security: string }): Record<string, string> {
  const clean =
    '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";';
  const sources = (uri: string, suites: string) =>
    `Types: deb\nURIs: ${uri}\nSuites: ${suites}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
  return {
    'usr/sbin/policy-rc.d': '#!/bin/sh\n# Services never start while packages install in a docker build.\nexit 101\n',
    'etc/dpkg/dpkg.cfg.d/docker-apt-speedup': 'force-unsafe-io\n',
    'etc/dpkg/dpkg.cfg.d/docker': [
      '# Slim, as the official image: no documentation, manual pages or translations.',
      ...SLIM_EXCLUDES.map((glob) => `path-exclude ${glob}`),
      ...SLIM_INCLUDES.map((glob) => `path-include ${glob}`),
      '',
    ].join('\n'),
    'etc/apt/apt.conf.d/docker-clean': `DPkg::Post-Invoke { ${clean} };\nAPT::Update::Post-Invoke { ${clean} };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n`,
    'etc/apt/apt.conf.d/docker-autoremove-suggests': 'Apt::AutoRemove::SuggestsImportant "false";\n',
    'etc/apt/apt.conf.d/docker-gzip-indexes': 'Acquire::GzipIndexes "true";\n',
    'etc/apt/apt.conf.d/docker-no-languages': 'Acquire::Languages "none";\n',
    'etc/apt/sources.list.d/debian.sources': `${sources(mirrors.main, `${SUITE} ${SUITE}-updates`)}\n${sources(mirrors.security, `${SUITE}-security`)}`,
  };
}

/** Every file (or symlink) below `dir`, depth first; directories after their contents. */
async function* walk(dir: string): AsyncGenerator<{ file: string; isDir: boolean }> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      yield* walk(file);
      yield { file, isDir: true };
    } else yield { file, isDir: false };
  }
}

/** Removes what the slim excludes name (but not what they include again) and what no image needs. */
async function slimRootfs(rootfs: string) {
  const includes = SLIM_INCLUDES.map(globRegExp);
  for (const glob of SLIM_EXCLUDES) {
    for await (const { file, isDir } of walk(path.join(rootfs, path.dirname(glob)))) {
      const inImage = `/${path.relative(rootfs, file)}`;
      if (isDir)
        await fs.rmdir(file).catch(() => undefined); // only when empty
      else if (!includes.some((include) => include.test(inImage))) await fs.rm(file);
    }
  }
  const emptyDir = async (rel: string, keep: string[] = []) => {
    const dir = path.join(rootfs, rel);
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if (!keep.includes(name)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
    }
  };
  const removeFiles = async (rel: string, pattern: RegExp) => {
    for await (const { file, isDir } of walk(path.join(rootfs, rel))) {
      if (!isDir && pattern.test(path.basename(file))) await fs.rm(file);
    }
  };
  await emptyDir('var/lib/apt/lists');
  await fs.mkdir(path.join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
  await emptyDir('var/cache/apt/archives', ['partial', 'lock']);
  await emptyDir('var/cache/apt/archives/partial');
  await removeFiles('var/cache/apt', /\.bin$/);
  await removeFiles('var/cache/debconf', /-old$/);
  await removeFiles('var/lib/dpkg', /-old$/);
  await removeFiles('var/log', /./);
  await emptyDir('tmp');
  await emptyDir('var/tmp');
  await fs.rm(path.join(rootfs, 'var/cache/ldconfig/aux-cache'), { force: true });
  // Docker mounts its own over these at run time: keep nothing of the host's.
  for (const rel of ['etc/hostname', 'etc/resolv.conf']) await fs.writeFile(path.join(rootfs, rel), '');
}

/** Removes a work directory, after unmounting what debootstrap may have left mounted inside it. */
async function removeWorkDir(dir: string) {
  const mountsInside = async () =>
    (await fs.readFile('/proc/self/mounts', 'utf8'))
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((mount) => mount.startsWith(`${dir}/`))
      .reverse();
  for (const mount of await mountsInside()) await q`umount -l ${mount}`.nothrow();
  if ((await mountsInside()).length > 0) {
    console.error(`  left ${dir} in place: something is still mounted inside it`);
    return;
  }
  await fs.rm(dir, { recursive: true, force: true });
}

async function ensureDebootstrap() {
  if (await which('debootstrap', { nothrow: true })) return;
  const install = 'apt-get update && apt-get install -y debootstrap';
  if (!(await fs.stat('/etc/debian_version').catch(() => undefined))) {
    throw new StopError(`debootstrap is missing: install it (Debian/Ubuntu: ${install}) and run this again.`);
  }
  await step('install debootstrap', async () => {
    await run(q`apt-get update`);
    await run(q({ env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get install -y debootstrap`);
  });
}

/** debootstrap --variant=minbase, slimmed and configured as the official image, imported as debian:bookworm-slim. */
async function makeDebian(mirrorFlag?: string): Promise<string> {
  if (process.getuid?.() !== 0) {
    throw new StopError(
      `Making ${DEBIAN_BASE} needs root (debootstrap makes device files and chroots): run it as root ` +
        `(sudo npm run images:seed), or load the image from a machine that can pull it.`,
    );
  }
  await ensureDebootstrap();
  const host = await hostDebianMirrors();
  const mirrors = { main: mirrorFlag ?? process.env.DEBIAN_MIRROR ?? host.main, security: host.security };
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlab-seed-debian-'));
  const rootfs = path.join(work, 'rootfs');
  try {
    await step(`debootstrap --variant=minbase ${SUITE} from ${mirrors.main}`, async () => {
      const bootstrapLog = path.join(rootfs, 'debootstrap/debootstrap.log');
      try {
        await runWithProgress('debootstrap', q`debootstrap --variant=minbase ${SUITE} ${rootfs} ${mirrors.main}`);
      } catch (error) {
        const details = await fs.readFile(bootstrapLog, 'utf8').catch(() => '');
        if (details) console.error(`debootstrap.log (last lines):\n${indent(tail(details, 15))}`);
        throw error;
      }
    });
    await step('slim and configure as the official image', async () => {
      await fs.rm(path.join(rootfs, 'etc/apt/sources.list'), { force: true });
      for (const [rel, text] of Object.entries(minimizingConfig(mirrors))) {
        const file = path.join(rootfs, rel);
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(file, text);
        await fs.chmod(file, rel.startsWith('usr/sbin/') ? 0o755 : 0o644);
      }
      await slimRootfs(rootfs);
    });
    await step(`import as ${DEBIAN_BASE}`, async () => {
      const archive = path.join(work, 'rootfs.tar');
      await run(q`tar --numeric-owner -C ${rootfs} -cf ${archive} .`);
      const message = `debootstrap --variant=minbase ${SUITE} ${mirrors.main} (npm run images:seed)`;
      await run(q`docker import --change ${'CMD ["bash"]'} --message ${message} ${archive} ${DEBIAN_BASE}`);
    });
    return `debootstrap ${SUITE} from ${mirrors.main}`;
  } finally {
    await removeWorkDir(work);
  }
}

interface Packed {
  name: string;
  version: string;
  filename: string;
}

async function npmPack(specs: string[], dir: string): Promise<Packed[]> {
  const out = await runWithProgress(
    `npm pack ${specs.join(' ')}`,
    $({ quiet: true, cwd: dir })`npm pack ${specs} --json`,
  );
  return (JSON.parse(out.stdout) as Packed[]).map((packed) => ({
    ...packed,
    filename: path.join(dir, packed.filename),
  }));
}

async function extract(tarball: string, dir: string) {
  await fs.mkdir(dir, { recursive: true });
  await run(q`tar -xzf ${tarball} -C ${dir} --strip-components=1 --no-same-owner`);
}

// As the official image's docker-entrypoint.sh: `docker run IMAGE -e '...'` or `IMAGE script.js` runs node.
const NODE_ENTRYPOINT = `#!/usr/bin/env bash
# Runs the command when it is one, otherwise node with the arguments (as the official image does).
set -euo pipefail
if [[ \${1:-} == -* ]] || ! command -v "\${1:-}" >/dev/null 2>&1 || { [[ -f \${1:-} ]] && [[ ! -x \${1:-} ]]; }; then
  set -- node "$@"
fi
exec "$@"
`;

const nodeDockerfile = (versions: { node: string; npm: string; corepack: string }) => `\
# ${NODE_BASE}, made by npm run images:seed (scripts/lib/images.ts) where it cannot be pulled: the official Node
# build (npm package ${NODE_PACKAGE}) with npm ${versions.npm} and corepack ${versions.corepack} (what this release bundles),
# laid out as the official image: /usr/local/{bin,lib/node_modules,include,share}, user node (1000).
FROM ${DEBIAN_BASE}
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=${versions.node}
COPY local/ /usr/local/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
  && ln -s ../lib/node_modules/corepack/dist/corepack.js /usr/local/bin/corepack \\
  && ln -s node /usr/local/bin/nodejs \\
  && node --version && npm --version && npx --version && corepack --version \\
  && rm -rf /root/.npm /root/.cache /tmp/*
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
`;

/** The version a Node release bundles of a dependency, from the release's CHANGELOG (newest entry first). */
const bundledVersion = (changelog: string, dependency: string) =>
  new RegExp(`(?:upgrade|update) ${dependency} to (\\d+\\.\\d+\\.\\d+)`).exec(changelog)?.[1];

/** FROM debian:bookworm-slim + Node 24 from the npm package node-linux-<arch>, + npm, npx and corepack. */
async function makeNode(): Promise<string> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlab-seed-node-'));
  try {
    const context = path.join(work, 'context');
    const local = path.join(context, 'local');
    const versions = await step(`npm pack ${NODE_PACKAGE}, npm, corepack`, async () => {
      const [node] = await npmPack([NODE_PACKAGE], work);
      const pkg = path.join(work, 'node');
      await extract(node!.filename, pkg);
      const changelog = await fs.readFile(path.join(pkg, 'CHANGELOG.md'), 'utf8').catch(() => '');
      const npmSpec = `npm@${bundledVersion(changelog, 'npm') ?? '11'}`;
      const corepackSpec = `corepack@${bundledVersion(changelog, 'corepack') ?? 'latest'}`;
      const [npm, corepack] = await npmPack([npmSpec, corepackSpec], work);
      for (const dir of ['bin', 'lib/node_modules', 'include', 'share/doc/node']) {
        await fs.mkdir(path.join(local, dir), { recursive: true });
      }
      await fs.rename(path.join(pkg, 'bin/node'), path.join(local, 'bin/node'));
      await fs.rename(path.join(pkg, 'include/node'), path.join(local, 'include/node'));
      await fs.cp(path.join(pkg, 'share'), path.join(local, 'share'), { recursive: true });
      await fs.copyFile(path.join(pkg, 'LICENSE'), path.join(local, 'share/doc/node/LICENSE'));
      // The build's OpenSSL headers hold a configuration for 21 platforms (60 MB); node-gyp here needs one.
      const archs = path.join(local, 'include/node/openssl/archs');
      for (const arch of await fs.readdir(archs).catch(() => [] as string[])) {
        if (arch !== NODE_PLATFORM.openssl) await fs.rm(path.join(archs, arch), { recursive: true });
      }
      await extract(npm!.filename, path.join(local, 'lib/node_modules/npm'));
      await extract(corepack!.filename, path.join(local, 'lib/node_modules/corepack'));
      await fs.writeFile(path.join(local, 'bin/docker-entrypoint.sh'), NODE_ENTRYPOINT, { mode: 0o755 });
      return { node: node!.version, npm: npm!.version, corepack: corepack!.version };
    });
    await fs.writeFile(path.join(context, 'Dockerfile'), nodeDockerfile(versions));
    await step(`docker build ${NODE_BASE}`, () =>
      runWithProgress(`build ${NODE_BASE}`, q`docker build --force-rm --tag ${NODE_BASE} ${context}`),
    );
    return `node ${versions.node}, npm ${versions.npm}, corepack ${versions.corepack}`;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Building: every project image, tagged swarmlab/<name>:<git-sha> and :latest-local, OCI labels from build args.

export const LOCAL_TAG = 'latest-local';
export const BUILD_LOG_DIR = path.join(ROOT, 'reports/images');

export interface BuildInfo {
  /** The commit (GIT_SHA, else git rev-parse HEAD, else "unknown"). */
  sha: string;
  /** The image tag: the first 12 characters of the commit, "-dirty" when tracked files have changes. */
  tag: string;
  buildDate: string;
  version: string;
  /** `git remote get-url origin`, without credentials; empty without a remote. */
  sourceUrl: string;
  /** PEM of the CAs this host adds to Debian's (a TLS-inspecting proxy's), for npm inside builds; often empty. */
  extraCaCerts: string;
}

/** EXTRA_CA_CERTS_FILE, else the certificates of /usr/local/share/ca-certificates (Debian's place for local CAs). */
async function extraCaCerts(): Promise<string> {
  const dir = '/usr/local/share/ca-certificates';
  const files = process.env.EXTRA_CA_CERTS_FILE
    ? [process.env.EXTRA_CA_CERTS_FILE]
    : (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]))
        .filter((name) => name.endsWith('.crt'))
        .sort()
        .map((name) => path.join(dir, name));
  const pems = await Promise.all(files.map((file) => fs.readFile(file, 'utf8')));
  const bundle = pems.map((pem) => pem.trim()).join('\n');
  // A build argument travels on the command line (at most 128 KiB): a whole CA bundle does not belong here.
  if (bundle.length > 100_000)
    throw new StopError(`${files.join(', ')}: over 100 kB of certificates; give only the extra CAs.`);
  return bundle;
}

/** What every build of this checkout is tagged and labelled with. */
export async function buildInfo(): Promise<BuildInfo> {
  const git = async (args: string[]) => {
    const result = await q`git ${args}`.nothrow();
    return result.exitCode === 0 ? result.stdout.trim() : undefined;
  };
  const sha = process.env.GIT_SHA || (await git(['rev-parse', 'HEAD'])) || 'unknown';
  const dirty = Boolean(await git(['status', '--porcelain', '--untracked-files=no']));
  const origin = (await git(['remote', 'get-url', 'origin'])) ?? '';
  const packageJson = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    sha,
    tag: sha === 'unknown' ? 'local' : `${sha.slice(0, 12)}${dirty && !process.env.GIT_SHA ? '-dirty' : ''}`,
    buildDate: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    version: packageJson.version,
    extraCaCerts: await extraCaCerts(),
    // git@host:org/repo.git → https://host/org/repo.git; https://user:token@host/... → https://host/...
    sourceUrl: origin.replace(/^[\w.-]+@([^:/]+):(?!\/)/, 'https://$1/').replace(/^(\w+:\/\/)[^/@]*@/, '$1'),
  };
}

export interface BuildResult {
  name: string;
  ref: string;
  sizeBytes: number;
  ms: number;
}

/** Builds one image; passes the build args its Dockerfile declares; the full output goes to reports/images/. */
export async function buildImage(spec: ImageSpec, info: BuildInfo, options: { noCache?: boolean } = {}) {
  const started = performance.now();
  const dockerfile = path.join(ROOT, spec.dockerfile);
  const values: Record<string, string> = {
    GIT_SHA: info.sha,
    BUILD_DATE: info.buildDate,
    VERSION: info.version,
    SOURCE_URL: info.sourceUrl || 'unknown',
    EXTRA_CA_CERTS: info.extraCaCerts,
  };
  const declared = new Set([...(await fs.readFile(dockerfile, 'utf8')).matchAll(/^ARG\s+(\w+)/gm)].map((m) => m[1]));
  const buildArgs = Object.entries(values)
    .filter(([name]) => declared.has(name))
    .flatMap(([name, value]) => ['--build-arg', `${name}=${value}`]);
  const ref = imageRef(spec.name, info.tag);
  const tags = ['--tag', ref, '--tag', imageRef(spec.name, LOCAL_TAG)];
  const cache = options.noCache ? ['--no-cache'] : [];
  await fs.mkdir(BUILD_LOG_DIR, { recursive: true });
  await runWithProgress(
    `build ${spec.name}`,
    q`docker build --force-rm --file ${dockerfile} ${tags} ${buildArgs} ${cache} ${path.join(ROOT, spec.context)}`,
    path.join(BUILD_LOG_DIR, `${spec.name}.build.log`),
  );
  return { name: spec.name, ref, sizeBytes: await imageSize(ref), ms: performance.now() - started };
}

export const imageRef = (name: string, tag: string) => `swarmlab/${name}:${tag}`;

/** Builds the images one after the other (each a named step with progress); stops at the first failure. */
export async function buildImages(specs: ImageSpec[], info: BuildInfo, options: { noCache?: boolean } = {}) {
  const results: BuildResult[] = [];
  for (const spec of specs) {
    results.push(await step(`build ${imageRef(spec.name, info.tag)}`, () => buildImage(spec, info, options)));
  }
  return results;
}

/** The base images must exist: they come from images:seed (or a registry). */
export async function requireBaseImages(specs: ImageSpec[]) {
  const needed = new Set<string>();
  for (const spec of specs) {
    const dockerfile = await fs.readFile(path.join(ROOT, spec.dockerfile), 'utf8');
    const stages = new Set<string>();
    for (const match of dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)) {
      if (!stages.has(match[1]!)) needed.add(match[1]!); // FROM <an earlier stage> is no image
      if (match[2]) stages.add(match[2]);
    }
  }
  const missing: string[] = [];
  for (const ref of needed) if (!(await imageId(ref))) missing.push(ref);
  if (missing.length > 0) {
    throw new StopError(`Base image(s) missing: ${missing.join(', ')}. Make them with: npm run images:seed`);
  }
}

/** The specs with the images their smoke checks need, in catalogue order. */
export const withNeeds = (specs: ImageSpec[]) =>
  IMAGES.filter((spec) => specs.some((wanted) => wanted === spec || wanted.needs?.includes(spec.name)));

/** The catalogue entries named by --only (comma-separated), in catalogue order; all without it. */
export function selectImages(only: string | undefined): ImageSpec[] {
  if (!only) return IMAGES;
  const names = only
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !IMAGES.some((spec) => spec.name === name));
  if (unknown.length > 0 || names.length === 0) {
    throw new StopError(
      `--only: unknown image(s) ${unknown.join(', ') || '(none given)'}. Images: ${IMAGES.map((s) => s.name).join(', ')}`,
    );
  }
  return IMAGES.filter((spec) => names.includes(spec.name));
}

// ---------------------------------------------------------------------------------------------------------------
// Smoke checks: each image started in containers on a throwaway bridge network (scripts/test-images.ts).

export interface ContainerSpec {
  /** Short name: the container's host name and network alias. */
  name: string;
  /** A full image reference (ctx.ref(name) for an image under test). */
  image: string;
  env?: Record<string, string>;
  /** Files put in /run/secrets/<name> (mode 644) before the container starts, as Docker secrets would be. */
  secrets?: Record<string, string>;
  /** docker run -v values. */
  mounts?: string[];
  command?: string[];
}

export interface SmokeContext {
  /** The subnet of the test network (for pg_hba). */
  subnet: string;
  /** The reference of a catalogue image under test. */
  ref(name: string): string;
  /** Creates the container on the test network, copies its secrets in, starts it; returns its container name. */
  start(spec: ContainerSpec): Promise<string>;
  /** Runs a container to its end; throws with its last output lines when it exits non-zero. */
  runToEnd(spec: ContainerSpec, timeoutMs?: number): Promise<string>;
  /** Waits for the container's healthcheck to pass; throws when it turns unhealthy, exits or times out. */
  waitHealthy(container: string, timeoutMs?: number): Promise<void>;
  /** An HTTP request from a container on the test network. */
  http(method: string, url: string, body?: string): Promise<{ status: number; body: string }>;
  /** Runs `make` once per key; later calls share its result (fixtures several checks use). */
  once<T>(key: string, make: () => Promise<T>): Promise<T>;
}

export interface ImageSpec {
  name: string;
  /** Relative to the repository root, as is the context. */
  dockerfile: string;
  context: string;
  /** Other images the smoke check starts (built with this one by test:images --only). */
  needs?: string[];
  /** Starts the image and proves it works; returns what was checked, in a few words. */
  smoke: (ctx: SmokeContext) => Promise<string>;
}

/** Fails with `message` unless `ok`. */
function expect(ok: boolean, message: string) {
  if (!ok) throw new Error(message);
}

async function expectHttp(ctx: SmokeContext, method: string, url: string, status: number, body?: RegExp) {
  const response = await ctx.http(method, url);
  expect(
    response.status === status && (!body || body.test(response.body)),
    `${method} ${url}: expected ${status}${body ? ` and a body matching ${body}` : ''}, got ${response.status} ${response.body.slice(0, 200)}`,
  );
}

/** Retries `check` every second until it passes or `timeoutMs` is over (then throws its last error). */
async function eventually(check: () => Promise<void>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

const PG_SECRETS = [
  'PG_SUPERUSER_PASSWORD',
  'PG_REPLICATION_PASSWORD',
  'PG_REWIND_PASSWORD',
  'PATRONI_RESTAPI_PASSWORD',
  'MIGRATOR_PASSWORD',
  'APP_PASSWORD',
  'READONLY_PASSWORD',
  'BACKUP_PASSWORD',
  'MONITORING_PASSWORD',
] as const;
type PgPasswords = Record<(typeof PG_SECRETS)[number], string>;

/** One etcd member: etcd:2379. */
const etcdFixture = (ctx: SmokeContext) =>
  ctx.once('etcd', async () => {
    const etcd = await ctx.start({
      name: 'etcd',
      image: ctx.ref('etcd'),
      env: { ETCD_INITIAL_CLUSTER: 'etcd=http://etcd:2380' },
    });
    await ctx.waitHealthy(etcd);
    return 'etcd:2379';
  });

/** A one-member Patroni cluster on that etcd: leader pg1, the lab's roles made by post-bootstrap. */
const databaseFixture = (ctx: SmokeContext) =>
  ctx.once('database', async () => {
    const etcd = await etcdFixture(ctx);
    const passwords = Object.fromEntries(
      PG_SECRETS.map((name) => [name, randomBytes(18).toString('hex')]),
    ) as PgPasswords;
    const pg = await ctx.start({
      name: 'pg1',
      image: ctx.ref('postgres'),
      env: {
        PATRONI_ETCD3_HOSTS: etcd,
        LAB_NETWORK: ctx.subnet,
        ...Object.fromEntries(PG_SECRETS.map((name) => [`${name}_FILE`, `/run/secrets/${name.toLowerCase()}`])),
      },
      secrets: Object.fromEntries(PG_SECRETS.map((name) => [name.toLowerCase(), passwords[name]])),
    });
    await ctx.waitHealthy(pg, 120_000);
    return { host: 'pg1', passwords };
  });

/** The db-router in front of pg1 (member2 named but absent, as while a replica is down). */
const routerFixture = (ctx: SmokeContext) =>
  ctx.once('db-router', async () => {
    const database = await databaseFixture(ctx);
    const router = await ctx.start({
      name: 'db-router',
      image: ctx.ref('db-router'),
      env: { PG_MEMBER1_HOST: database.host, PG_MEMBER2_HOST: 'pg2' },
    });
    await ctx.waitHealthy(router);
    // The leader backend marks pg1 UP after two successful checks of Patroni's /primary.
    await eventually(async () => {
      const stats = await ctx.http('GET', 'http://db-router:8404/stats;csv');
      const member1 = stats.body.split('\n').find((line) => line.startsWith('leader,member1,'));
      expect(
        member1?.split(',')[17] === 'UP',
        `db-router: leader/member1 is not UP: ${member1 ?? stats.body.slice(0, 200)}`,
      );
    });
    return { ...database, host: 'db-router' };
  });

/** Every image the project builds, in build (and smoke-check) order: what others need comes first. */
export const IMAGES: ImageSpec[] = [
  {
    name: 'etcd',
    dockerfile: 'postgres/etcd/Dockerfile',
    context: 'postgres/etcd',
    smoke: async (ctx) => {
      await etcdFixture(ctx);
      await expectHttp(ctx, 'GET', 'http://etcd:2379/health', 200, /"health":"true"/);
      return 'healthy, /health true';
    },
  },
  {
    name: 'postgres',
    dockerfile: 'postgres/Dockerfile',
    context: 'postgres',
    needs: ['etcd'],
    smoke: async (ctx) => {
      await databaseFixture(ctx);
      await expectHttp(ctx, 'GET', 'http://pg1:8008/primary', 200);
      return 'healthy, Patroni leader';
    },
  },
  {
    name: 'db-router',
    dockerfile: 'postgres/db-router/Dockerfile',
    context: 'postgres/db-router',
    needs: ['etcd', 'postgres'],
    smoke: async (ctx) => {
      await routerFixture(ctx);
      return 'healthy, leader backend UP';
    },
  },
  {
    name: 'api',
    dockerfile: 'api/Dockerfile',
    context: '.',
    needs: ['etcd', 'postgres', 'db-router'],
    smoke: async (ctx) => {
      const db = await routerFixture(ctx);
      const url = (role: string, password: string) => `postgresql://${role}:${password}@${db.host}:5432/swarmlab`;
      await ctx.runToEnd({
        name: 'api-migrate',
        image: ctx.ref('api'),
        env: { MIGRATION_DATABASE_URL_FILE: '/run/secrets/migration_database_url' },
        secrets: { migration_database_url: url('migrator', db.passwords.MIGRATOR_PASSWORD) },
        command: ['node', 'dist/migrate.js'],
      });
      const api = await ctx.start({
        name: 'api',
        image: ctx.ref('api'),
        env: { DATABASE_URL_FILE: '/run/secrets/database_url', JWT_SECRET_FILE: '/run/secrets/jwt_secret' },
        secrets: {
          database_url: url('app', db.passwords.APP_PASSWORD),
          jwt_secret: randomBytes(32).toString('hex'),
        },
      });
      await ctx.waitHealthy(api);
      await expectHttp(ctx, 'GET', 'http://api:3000/healthz', 200);
      await expectHttp(ctx, 'GET', 'http://api:3000/readyz', 200);
      return 'migrated through db-router; /healthz, /readyz 200';
    },
  },
  {
    name: 'prometheus',
    dockerfile: 'monitoring/prometheus/Dockerfile',
    context: 'monitoring/prometheus',
    smoke: async (ctx) => {
      await ctx.waitHealthy(await ctx.start({ name: 'prometheus', image: ctx.ref('prometheus') }));
      await expectHttp(ctx, 'GET', 'http://prometheus:9090/-/ready', 200);
      return 'healthy, ready';
    },
  },
  {
    name: 'alertmanager',
    dockerfile: 'monitoring/alertmanager/Dockerfile',
    context: 'monitoring/alertmanager',
    smoke: async (ctx) => {
      await ctx.waitHealthy(await ctx.start({ name: 'alertmanager', image: ctx.ref('alertmanager') }));
      await expectHttp(ctx, 'GET', 'http://alertmanager:9093/api/v2/status', 200, /"cluster"/);
      return 'healthy, API answers';
    },
  },
  {
    name: 'pushgateway',
    dockerfile: 'monitoring/pushgateway/Dockerfile',
    context: 'monitoring/pushgateway',
    smoke: async (ctx) => {
      await ctx.waitHealthy(await ctx.start({ name: 'pushgateway', image: ctx.ref('pushgateway') }));
      const pushed = await ctx.http('POST', 'http://pushgateway:9091/metrics/job/smoke', 'swarmlab_smoke 1\n');
      expect(pushed.status === 200, `push: expected 200, got ${pushed.status} ${pushed.body.slice(0, 200)}`);
      await expectHttp(ctx, 'GET', 'http://pushgateway:9091/metrics', 200, /swarmlab_smoke\{[^}]*job="smoke"[^}]*\} 1/);
      return 'healthy, push then scrape';
    },
  },
  {
    name: 'node-exporter',
    dockerfile: 'monitoring/node-exporter/Dockerfile',
    context: 'monitoring/node-exporter',
    smoke: async (ctx) => {
      await ctx.waitHealthy(await ctx.start({ name: 'node-exporter', image: ctx.ref('node-exporter') }));
      await expectHttp(ctx, 'GET', 'http://node-exporter:9100/metrics', 200, /^node_cpu_seconds_total/m);
      return 'healthy, node metrics';
    },
  },
  {
    name: 'postgres-exporter',
    dockerfile: 'monitoring/postgres-exporter/Dockerfile',
    context: 'monitoring/postgres-exporter',
    needs: ['etcd', 'postgres'],
    smoke: async (ctx) => {
      const db = await databaseFixture(ctx);
      const exporter = await ctx.start({
        name: 'postgres-exporter',
        image: ctx.ref('postgres-exporter'),
        env: {
          DATA_SOURCE_URI: `${db.host}:5432/postgres?sslmode=disable`,
          DATA_SOURCE_USER: 'monitoring',
          DATA_SOURCE_PASS_FILE: '/run/secrets/monitoring_password',
        },
        secrets: { monitoring_password: db.passwords.MONITORING_PASSWORD },
      });
      await ctx.waitHealthy(exporter);
      await expectHttp(ctx, 'GET', 'http://postgres-exporter:9187/metrics', 200, /^pg_up 1$/m);
      return 'healthy, pg_up 1 as monitoring';
    },
  },
  {
    name: 'registry',
    dockerfile: 'lab/registry/Dockerfile',
    context: 'lab/registry',
    smoke: async (ctx) => {
      await ctx.waitHealthy(await ctx.start({ name: 'registry', image: ctx.ref('registry') }));
      await expectHttp(ctx, 'GET', 'http://registry:5000/v2/_catalog', 200, /"repositories"/);
      return 'healthy, catalog answers';
    },
  },
  {
    name: 'docker-socket-proxy',
    dockerfile: 'traefik/socket-proxy/Dockerfile',
    context: 'traefik/socket-proxy',
    smoke: async (ctx) => {
      const proxy = await ctx.start({
        name: 'docker-socket-proxy',
        image: ctx.ref('docker-socket-proxy'),
        mounts: ['/var/run/docker.sock:/var/run/docker.sock:ro'],
      });
      await ctx.waitHealthy(proxy);
      const base = 'http://docker-socket-proxy:2375';
      await expectHttp(ctx, 'GET', `${base}/version`, 200, /"ApiVersion"/);
      await expectHttp(ctx, 'GET', `${base}/v1.41/networks`, 200, /"Name"/);
      await expectHttp(ctx, 'POST', `${base}/containers/create`, 403);
      await expectHttp(ctx, 'POST', `${base}/v1.41/services/create`, 403);
      await expectHttp(ctx, 'DELETE', `${base}/v1.41/networks/bridge`, 403);
      await expectHttp(ctx, 'GET', `${base}/containers/json`, 403);
      return 'GET /version 200; POST, DELETE, /containers 403';
    },
  },
];
