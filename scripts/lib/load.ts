// HTTP load for bench:api with autocannon, in a child process: the load must not share an event loop with
// the servers it measures. runLoad() forks this file; the child runs one job and sends back the figures.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export interface LoadJob {
  /** Origin of the server, e.g. http://127.0.0.1:41234. */
  origin: string;
  method: 'GET' | 'POST';
  /** `{userId}` becomes a random id from `userIds` on each request. */
  path: string;
  headers?: Record<string, string>;
  /** `{seq}` becomes a value unique to each request. */
  body?: string;
  userIds?: { min: number; max: number };
  connections: number;
  durationSeconds: number;
  /** Requests per second over all connections, paced; as fast as the server answers when left out. */
  rate?: number;
  /** Load before the measured run, not counted. */
  warmUpSeconds?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  /** Latency percentiles of 2xx answers, in milliseconds. */
  p50: number;
  p99: number;
  /** Answers that were not 2xx, plus connection errors and timeouts. */
  failures: number;
}

/** Fills the placeholders of a path or body; `seq` makes each created email unique across runs. */
export function fillTemplate(template: string, job: Pick<LoadJob, 'userIds'>, seq: string) {
  const { min, max } = job.userIds ?? { min: 1, max: 1 };
  return template
    .replaceAll('{seq}', seq)
    .replaceAll('{userId}', () => String(min + Math.floor(Math.random() * (max - min + 1))));
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** Runs `job` in a child process; `signal` stops it (the child has its own process group, so Ctrl-C does not). */
export async function runLoad(job: LoadJob, signal?: AbortSignal): Promise<LoadResult> {
  signal?.throwIfAborted();
  const child = fork(THIS_FILE, [], { execArgv: ['--import', import.meta.resolve('tsx')], detached: true });
  const stop = () => child.kill();
  signal?.addEventListener('abort', stop);
  let result: LoadResult | undefined;
  child.once('message', (message) => (result = message as LoadResult));
  child.send(job);
  try {
    const [code] = await once(child, 'close'); // after the last message, and after the child is gone
    signal?.throwIfAborted();
    if (code !== 0 || !result) throw new Error(`the load generator failed (exit code ${code}); see its output above`);
    return result;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}

// The subset of autocannon used here (it ships no types).
interface AutocannonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonInstance extends PromiseLike<{ requests: { average: number }; errors: number; timeouts: number }> {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (options: Record<string, unknown>) => AutocannonInstance;

function percentile(sorted: number[], q: number) {
  return sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! : Number.NaN;
}

async function generate(job: LoadJob): Promise<LoadResult> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  let seq = 0;
  const request: AutocannonRequest = {
    method: job.method,
    path: job.path,
    headers: { ...job.headers, ...(job.body ? { 'content-type': 'application/json' } : {}) },
    setupRequest: (req) => ({
      ...req,
      path: fillTemplate(job.path, job, ''),
      ...(job.body ? { body: fillTemplate(job.body, job, `${run}-${++seq}`) } : {}),
    }),
  };
  // autocannon's overallRate gives each connection its share per second, sent back to back at the top of
  // the second: with all connections in step, the server would see them all at once for half of each second.
  // So a paced run is one instance per connection, started 1/n s apart; a max run is one instance.
  const lanes = job.rate ? Math.min(job.connections, job.rate) : 1;
  const latencies: number[] = [];
  let failures = 0;
  const results = await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      if (job.rate) await sleep((lane * 1000) / lanes);
      const instance = autocannon({
        url: job.origin,
        requests: [request],
        duration: job.durationSeconds,
        ...(job.rate
          ? { connections: 1, overallRate: Math.floor(job.rate / lanes) + (lane < job.rate % lanes ? 1 : 0) }
          : { connections: job.connections }),
        ...(job.warmUpSeconds ? { warmup: { connections: job.connections, duration: job.warmUpSeconds } } : {}),
      });
      instance.on('response', (_client, status, _bytes, ms) => {
        if (status >= 200 && status < 300) latencies.push(ms);
        else failures++;
      });
      return instance;
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: results.reduce((sum, result) => sum + result.requests.average, 0),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    failures: results.reduce((sum, result) => sum + result.errors + result.timeouts, failures),
  };
}

if (process.argv[1] === THIS_FILE && process.send) {
  const [job] = (await once(process, 'message')) as [LoadJob];
  process.send(await generate(job), () => process.disconnect());
}
