// A real Prometheus (Debian's, as in scripts/test/grafana.test.ts) loaded with a known history: the series are
// written as OpenMetrics, turned into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`, and the
// server started on them (no scrape jobs, no rules: the data is exactly what the test fed).
// promtool re-reads its whole input for every 2-hour block it writes, so the history is split into one file per
// UTC day (days are whole blocks) and the files are converted in parallel: a week of the API's histogram takes
// a few seconds instead of half a minute.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { requireDebianTools } from '../../../../scripts/lib/debian-tools.js';
import { freePort } from '../../../../scripts/lib/pg-cluster.js';

export type Labels = Record<string, string>;

/** One fed series: its value at each time (Unix seconds) on its grid, or undefined where it does not exist. */
export interface FedSeries {
  name: string;
  labels: Labels;
  /** Seconds between samples (a multiple of the history's base step). */
  interval: number;
  value: (t: number) => number | undefined;
}

export interface History {
  /** Unix seconds, inclusive; both multiples of 60. */
  from: number;
  to: number;
  series: FedSeries[];
}

export interface TestPrometheus {
  url: string;
  /** The basic auth password of user prometheus that it asks every caller for, as the lab's does. */
  password: string;
  stop(): Promise<void>;
}

/** The password of the test Prometheus and its bcrypt hash (htpasswd -nbBC 10), fixed: no tool needed to make it. */
export const TEST_PROMETHEUS_PASSWORD = 'test-password';
const TEST_PROMETHEUS_HASH = '$2y$10$8CRzgzmm4S9DQ/Op9Acr5e0.QN50oOS93OeIXLaOWnc3S963bBdvy';

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const seriesText = (series: FedSeries) => {
  const labels = Object.entries(series.labels)
    .map(([key, value]) => `${key}="${escapeLabel(value)}"`)
    .join(',');
  return labels ? `${series.name}{${labels}}` : series.name;
};

/** The history as OpenMetrics files, one per UTC day, samples in time order. */
async function writeOpenMetrics(history: History, dir: string): Promise<string[]> {
  const texts = history.series.map(seriesText);
  const days = new Map<number, string[]>();
  for (let t = history.from; t <= history.to; t += 60) {
    const day = Math.floor(t / 86_400);
    let lines = days.get(day);
    if (!lines) days.set(day, (lines = []));
    history.series.forEach((series, index) => {
      if ((t - history.from) % series.interval !== 0) return;
      const value = series.value(t);
      if (value !== undefined) lines!.push(`${texts[index]} ${value} ${t}`);
    });
  }
  const files: string[] = [];
  for (const [day, lines] of days) {
    if (lines.length === 0) continue;
    const file = path.join(dir, `day-${day}.om`);
    lines.push('# EOF', '');
    await writeFile(file, lines.join('\n'));
    files.push(file);
  }
  return files;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr}`)),
    );
  });
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

/** Starts Prometheus on 127.0.0.1 with `history` backfilled (or empty), behind basic auth as in the lab. */
export async function startPrometheus(history?: History): Promise<TestPrometheus> {
  await requireDebianTools({ prometheus: 'prometheus', promtool: 'prometheus' });
  const workDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-report-prom-'));
  const dataDir = path.join(workDir, 'data');
  await mkdir(dataDir);
  let child: ChildProcess | undefined;
  let log = '';
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    if (history) {
      const inputDir = path.join(workDir, 'openmetrics');
      await mkdir(inputDir);
      const files = await writeOpenMetrics(history, inputDir);
      await inParallel(files, availableParallelism(), (file) =>
        run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', file, dataDir]),
      );
      await rm(inputDir, { recursive: true });
    }
    const port = await freePort();
    const config = path.join(workDir, 'prometheus.yml');
    // JSON is YAML. No scrape jobs: nothing but the fed history (and no `up`).
    await writeFile(config, JSON.stringify({ global: { scrape_interval: '15s', evaluation_interval: '15s' } }));
    const webConfig = path.join(workDir, 'web.yml');
    await writeFile(webConfig, JSON.stringify({ basic_auth_users: { prometheus: TEST_PROMETHEUS_HASH } }));
    child = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${dataDir}`,
        // Keep the backfilled weeks: the default 15 days would be enough, but retention must never bite a test.
        '--storage.tsdb.retention.time=90d',
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.config.file=${webConfig}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (
        await fetch(`${url}/-/ready`, {
          headers: {
            authorization: `Basic ${Buffer.from(`prometheus:${TEST_PROMETHEUS_PASSWORD}`).toString('base64')}`,
          },
        }).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (child.exitCode !== null) throw new Error(`prometheus exited:\n${log}`);
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 30 s:\n${log.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { url, password: TEST_PROMETHEUS_PASSWORD, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
