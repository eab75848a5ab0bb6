// A real Pushgateway for tests: Debian's prometheus-pushgateway on a free 127.0.0.1 port, and reading back what
// a job pushed.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { requireDebianTools } from './debian-tools.js';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Pushgateway {
  url: string;
  metrics(): Promise<string>;
  stop(): void;
}

/** Starts a Pushgateway and waits until it is ready (15 s at most). */
export async function startPushgateway(): Promise<Pushgateway> {
  await requireDebianTools({ 'prometheus-pushgateway': 'prometheus-pushgateway' });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const gateway = spawn('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
    stdio: 'ignore',
  });
  const handle = {
    url,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    stop: () => void gateway.kill(),
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return handle;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  handle.stop();
  throw new Error(`prometheus-pushgateway did not answer on ${url} within 15 s`);
}

/** The value of `name{labels...}` pushed by `job`, as the Pushgateway serves it (it adds job and instance). */
export function pushedValue(
  metrics: string,
  name: string,
  job: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of metrics.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (found.job !== job) continue;
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}
