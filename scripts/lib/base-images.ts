// The two base images every Dockerfile starts from (debian:bookworm-slim, node:24-bookworm-slim): pulled when a
// registry answers, otherwise made here (debootstrap; Node from the npm registry). See docs/images.md.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { $, which } from 'zx';
import { StopError } from './cli.js';
import { step } from './log.js';
import { imageId, imageSize, indent, lastLine, run, runWithProgress, tail } from './docker.js';
import { REPO_ROOT as ROOT } from './paths.js';

const q = $({ quiet: true, cwd: ROOT });

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
