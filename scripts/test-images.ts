// `npm run test:images`: seeds the base images when missing, builds every image, and runs each image's smoke
// check (scripts/lib/images.ts) in containers on a bridge network made for the run and always removed. An image
// whose official base cannot be pulled here (Jenkins) is neither built nor checked: the summary lists it as not built.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { $ } from 'zx';
import { parseFlags, runCommand } from './lib/cli.js';
import { formatMs, formatSize, indent, printTable, requireDocker, run, tail } from './lib/docker.js';
import { NODE_BASE, seedBaseImages } from './lib/base-images.js';
import {
  buildImages,
  buildInfo,
  imageRef,
  notBuiltNote,
  selectImages,
  splitBuildable,
  type BuildResult,
  type ContainerSpec,
  type ImageSpec,
  type SmokeContext,
  withNeeds,
} from './lib/images.js';
import { step } from './lib/log.js';

const HELP = `
Usage: npm run test:images [-- --only <name,...>]

Seeds the base images when missing (npm run images:seed), builds the images (npm run images:build), then starts
each one in containers on a throwaway bridge network and checks it: healthy (its HEALTHCHECK) and answering as
it should. Containers, their volumes and the network are removed at the end, also on failure or Ctrl-C.
Prints a table (image, size, build time, smoke result); exits 1 on any failure, with the failing containers'
last log lines. An image built FROM an official upstream image that cannot be pulled here (jenkins) is not built
nor checked: listed as not built (not as passed), its configuration being checked by npm test; that alone does not
make the run fail.

Options:
  --only <names>  test only these images (comma-separated); the images their checks start are built too
  -h, --help      show this help
`;

const LABEL = 'swarmlab.test-images';
const CHECK_TIMEOUT_MS = 180_000;
const LOG_LINES = 30;
const q = $({ quiet: true });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A failed check; `containers` are the ones whose logs explain it. */
class SmokeFailure extends Error {
  constructor(
    message: string,
    readonly containers: string[] = [],
  ) {
    super(message);
  }
}

// The HTTP client of the checks: node's fetch in a container on the test network; prints {status, body}.
const HTTP_CLIENT = `
const [method, url, body, headers] = process.argv.slice(1);
fetch(url, { method, body: body || undefined, headers: JSON.parse(headers || '{}'), signal: AbortSignal.timeout(10000) })
  .then(async (response) => ({ status: response.status, body: await response.text() }))
  .catch((error) => ({ status: 0, body: String(error.cause ?? error) }))
  .then((result) => console.log(JSON.stringify(result)));`;

/** One test run: its network, its containers (named, labelled, removed at the end), its shared fixtures. */
class SmokeRun implements SmokeContext {
  readonly id = randomBytes(3).toString('hex');
  readonly network = `swarmlab-test-images-${this.id}`;
  subnet = '';
  /** Containers started by the check that runs now. */
  current: string[] = [];
  private readonly containers: string[] = [];
  private readonly fixtures = new Map<string, Promise<unknown>>();
  private readonly labels = ['--label', `${LABEL}=${this.id}`, '--label', `${LABEL}.pid=${process.pid}`];
  private secretsDir = '';
  private probe = '';

  constructor(private readonly tag: string) {}

  ref(name: string) {
    return imageRef(name, this.tag);
  }

  async setup() {
    await removeLeftovers();
    this.secretsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlab-test-images-'));
    await run(q`docker network create ${this.labels} ${this.network}`);
    const format = '{{(index .IPAM.Config 0).Subnet}}';
    this.subnet = (await run(q`docker network inspect --format ${format} ${this.network}`)).stdout.trim();
    this.probe = await this.start({
      name: 'http-client',
      image: NODE_BASE,
      command: ['node', '-e', 'setInterval(() => {}, 3_600_000)'],
    });
  }

  private async create(spec: ContainerSpec): Promise<string> {
    const container = `swarmlab-test-${this.id}-${spec.name}`;
    const env = Object.entries(spec.env ?? {}).flatMap(([name, value]) => ['--env', `${name}=${value}`]);
    const mounts = (spec.mounts ?? []).flatMap((mount) => ['--volume', mount]);
    // The image's own health command, checked every 2 s rather than every 10 s: the same check, sooner.
    const healthcheck = await q`docker image inspect --format ${'{{json .Config.Healthcheck}}'} ${spec.image}`;
    const interval = healthcheck.stdout.trim() === 'null' ? [] : ['--health-interval', '2s'];
    await run(
      q`docker create --name ${container} --hostname ${spec.name} --network ${this.network} --network-alias ${spec.name} ${this.labels} ${interval} ${env} ${mounts} ${spec.image} ${spec.command ?? []}`,
    );
    this.containers.push(container);
    this.current.push(container);
    if (spec.secrets) {
      const dir = path.join(this.secretsDir, spec.name);
      await fs.mkdir(dir, { mode: 0o755 });
      await fs.chmod(dir, 0o755);
      for (const [name, value] of Object.entries(spec.secrets)) {
        await fs.writeFile(path.join(dir, name), value, { mode: 0o644 });
      }
      await run(q`docker cp ${`${dir}/.`} ${`${container}:/run/secrets`}`);
    }
    return container;
  }

  async start(spec: ContainerSpec) {
    const container = await this.create(spec);
    await run(q`docker start ${container}`);
    return container;
  }

  async runToEnd(spec: ContainerSpec, timeoutMs = 120_000) {
    const container = await this.create(spec);
    const result = await q`docker start --attach ${container}`.nothrow().timeout(timeoutMs);
    if (result.exitCode !== 0) {
      const how = result.exitCode === null ? `did not end within ${formatMs(timeoutMs)}` : `exited ${result.exitCode}`;
      throw new SmokeFailure(`${spec.name} ${how}`, [container]);
    }
    return result.stdout;
  }

  async waitHealthy(container: string, timeoutMs = 60_000) {
    const started = performance.now();
    const format = '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}';
    for (;;) {
      const [status, health] = (await run(q`docker inspect --format ${format} ${container}`)).stdout.trim().split(' ');
      if (health === 'healthy') return;
      if (status !== 'running')
        throw new SmokeFailure(`${container} stopped (${status}) before it was healthy`, [container]);
      if (health === 'unhealthy') {
        const log = await q`docker inspect --format ${'{{range .State.Health.Log}}{{.Output}}{{end}}'} ${container}`;
        throw new SmokeFailure(`${container} turned unhealthy: ${tail(log.stdout, 3) || 'no output'}`, [container]);
      }
      if (performance.now() - started > timeoutMs) {
        throw new SmokeFailure(
          `${container} not healthy after ${formatMs(timeoutMs)} (${health || 'no healthcheck'})`,
          [container],
        );
      }
      await sleep(1000);
    }
  }

  async http(method: string, url: string, body = '', headers: Record<string, string> = {}) {
    const result = await run(
      q`docker exec ${this.probe} node -e ${HTTP_CLIENT} ${method} ${url} ${body} ${JSON.stringify(headers)}`.timeout(
        '20s',
      ),
    );
    return JSON.parse(result.stdout) as { status: number; body: string };
  }

  once<T>(key: string, make: () => Promise<T>): Promise<T> {
    if (!this.fixtures.has(key)) this.fixtures.set(key, make());
    return this.fixtures.get(key) as Promise<T>;
  }

  /** Removes every container of the run with its anonymous volumes, the network and the secret files. */
  async cleanup() {
    if (this.containers.length > 0) await q`docker rm --force --volumes ${this.containers}`.nothrow();
    await q`docker network rm ${this.network}`.nothrow();
    if (this.secretsDir) await fs.rm(this.secretsDir, { recursive: true, force: true });
  }
}

/** Containers and networks of earlier runs whose process is gone (an interrupted run, a killed CI job). */
async function removeLeftovers() {
  const alive = (pid: string) => {
    try {
      return process.kill(Number(pid), 0);
    } catch {
      return false;
    }
  };
  const format = `{{.ID}} {{.Label "${LABEL}.pid"}}`;
  const stale = (out: string) =>
    out
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([id, pid]) => id && !(pid && alive(pid)))
      .map(([id]) => id!);
  const containers = stale((await run(q`docker ps --all --filter ${`label=${LABEL}`} --format ${format}`)).stdout);
  if (containers.length > 0) await run(q`docker rm --force --volumes ${containers}`);
  const networks = stale((await run(q`docker network ls --filter ${`label=${LABEL}`} --format ${format}`)).stdout);
  if (networks.length > 0) await run(q`docker network rm ${networks}`);
  if (containers.length + networks.length > 0) {
    console.error(
      `  removed ${containers.length} container(s) and ${networks.length} network(s) of an interrupted run`,
    );
  }
}

interface SmokeResult {
  spec: ImageSpec;
  ok: boolean;
  note: string;
  ms: number;
  containers: string[];
}

async function smoke(ctx: SmokeRun, spec: ImageSpec): Promise<SmokeResult> {
  const started = performance.now();
  ctx.current = [];
  let timer: NodeJS.Timeout | undefined;
  const limitMs = spec.smokeTimeoutMs ?? CHECK_TIMEOUT_MS;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SmokeFailure(`timed out after ${formatMs(limitMs)}`)), limitMs);
  });
  try {
    const note = await step(`smoke ${spec.name}`, () => Promise.race([spec.smoke(ctx), timeout]));
    return { spec, ok: true, note, ms: performance.now() - started, containers: [] };
  } catch (error) {
    if (stopping) return new Promise<never>(() => {}); // the signal handler exits once the containers are gone
    const named = error instanceof SmokeFailure ? error.containers : [];
    const message = (error as Error).message.split('\n')[0]!;
    return {
      spec,
      ok: false,
      note: message,
      ms: performance.now() - started,
      containers: [...new Set([...ctx.current, ...named])],
    };
  } finally {
    clearTimeout(timer);
  }
}

async function printLogs(results: SmokeResult[]) {
  for (const result of results.filter((r) => !r.ok)) {
    console.log(`\n✗ ${result.spec.name}: ${result.note}`);
    for (const container of result.containers) {
      const logs = await q`docker logs --tail ${LOG_LINES} ${container}`.nothrow();
      console.log(`  last ${LOG_LINES} log lines of ${container}:\n${indent(logs.stdall.trimEnd())}`);
    }
  }
}

/** Set on SIGINT/SIGTERM: the containers are being removed, the checks stop. */
let stopping = false;

async function main() {
  const flags = parseFlags(process.argv.slice(2), { only: { type: 'string' } }, HELP);
  const started = performance.now();
  const engine = await requireDocker();
  await step('base images', () => seedBaseImages({ offline: false, force: false }));
  // Images whose official base cannot be pulled here are neither built nor checked.
  const { build: buildable, notBuilt } = await splitBuildable(withNeeds(selectImages(flags.only)));
  for (const spec of notBuilt) console.error(`${spec.name}: ${notBuiltNote(spec)}`);
  const specs = selectImages(flags.only).filter((spec) => !notBuilt.includes(spec));
  const info = await buildInfo();
  const builds = new Map<string, BuildResult>();
  for (const result of await buildImages(buildable, info)) builds.set(result.name, result);

  const ctx = new SmokeRun(info.tag);
  const interrupted = (signal: NodeJS.Signals) => {
    stopping = true;
    console.error(`\n${signal}: removing the test containers`);
    void ctx.cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const results: SmokeResult[] = [];
  try {
    await step(`test network ${ctx.network}`, () => ctx.setup());
    for (const spec of specs) if (!stopping) results.push(await smoke(ctx, spec));
    if (!stopping) await printLogs(results);
  } finally {
    await step('remove test containers and network', () => ctx.cleanup());
  }

  printTable(
    `Images under test (tag ${info.tag}, Docker ${engine}, ${formatMs(performance.now() - started)} in all)`,
    ['image', 'size', 'build time', 'smoke', 'result'],
    [
      ...results.map((result) => {
        const build = builds.get(result.spec.name)!;
        return [
          result.spec.name,
          formatSize(build.sizeBytes),
          formatMs(build.ms),
          formatMs(result.ms),
          `${result.ok ? 'ok' : 'FAILED'}: ${result.note}`,
        ];
      }),
      ...notBuilt.map((spec) => [spec.name, '-', '-', '-', 'NOT BUILT (official base not pullable here)']),
    ],
  );
  const failed = results.filter((result) => !result.ok);
  console.log(`\n${results.length - failed.length} passed, ${failed.length} failed, ${notBuilt.length} not built`);
  for (const spec of notBuilt) console.log(`${spec.name}: ${notBuiltNote(spec)}`);
  // Not built for want of an official image is reported, not a failure.
  if (failed.length > 0) process.exitCode = 1;
}

await runCommand(main);
