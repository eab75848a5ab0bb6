// `npm run images:build`: builds every image of the lab (the catalogue in scripts/lib/images.ts), tagged
// swarmlab/<name>:<git-sha> and swarmlab/<name>:latest-local, with OCI labels; reports size and build time. An image
// whose official base cannot be pulled here (Jenkins) is not built, and the summary says so.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseFlags, runCommand } from './lib/cli.js';
import { formatMs, formatSize, printTable, requireDocker } from './lib/docker.js';
import {
  BUILD_LOG_DIR,
  buildImages,
  buildInfo,
  IMAGES,
  LOCAL_TAG,
  notBuiltNote,
  requireBaseImages,
  selectImages,
  splitBuildable,
} from './lib/images.js';

const HELP = `
Usage: npm run images:build [-- --only <name,...>] [--no-cache]

Builds each image, tagged swarmlab/<name>:<git-sha> (12 characters, "-dirty" when tracked files changed) and
swarmlab/<name>:${LOCAL_TAG}, with the build args GIT_SHA, BUILD_DATE, VERSION and SOURCE_URL (git remote
origin) that fill the OCI labels. Full build output: reports/images/<name>.build.log.
The base images come from npm run images:seed (or a registry). An image built FROM an official upstream image
(jenkins: jenkins/jenkins) is built only where that image is present or can be pulled; otherwise it is listed as
not built (its configuration is checked by npm test), and the exit status is still 0.

Images: ${IMAGES.map((spec) => spec.name).join(', ')}

Options:
  --only <names>  build only these (comma-separated)
  --no-cache      build every layer again
  -h, --help      show this help

Environment:
  GIT_SHA  the commit to tag and label with (default: git rev-parse HEAD)
`;

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    { only: { type: 'string' }, 'no-cache': { type: 'boolean', default: false } },
    HELP,
  );
  const specs = selectImages(flags.only);
  const started = performance.now();
  await requireDocker();
  const { build, notBuilt } = await splitBuildable(specs);
  for (const spec of notBuilt) console.error(`${spec.name}: ${notBuiltNote(spec)}`);
  await requireBaseImages(build);
  const info = await buildInfo();
  const results = await buildImages(build, info, { noCache: flags['no-cache'] });
  printTable(
    `Images built (tags ${info.tag} and ${LOCAL_TAG}, ${formatMs(performance.now() - started)} in all)`,
    ['image', 'size', 'build time'],
    [
      ...results.map((result) => [result.ref, formatSize(result.sizeBytes), formatMs(result.ms)]),
      ...notBuilt.map((spec) => [`swarmlab/${spec.name}`, '-', 'NOT BUILT']),
    ],
  );
  console.log(`\n${results.length} built, ${notBuilt.length} not built`);
  for (const spec of notBuilt) console.log(`${spec.name}: ${notBuiltNote(spec)}`);
  console.log(`\nBuild logs: ${path.relative(process.cwd(), BUILD_LOG_DIR)}/. Next: npm run test:images`);
}

await runCommand(main);
