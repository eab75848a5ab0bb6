// A real Pushgateway for tests: Debian's prometheus-pushgateway on a free 127.0.0.1 port, and reading back what
// a job pushed. With `basicAuth`, it asks every caller for the lab's user and a fixed test password, as the lab's
// does (monitoring/web-auth).
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireDebianTools } from './debian-tools.js';

/** The test Pushgateway's user and password, and the password's bcrypt hash (htpasswd -nbBC 10), fixed. */
export const TEST_PUSHGATEWAY_USER = 'pushgateway';
const TEST_PUSHGATEWAY_PASSWORD = 'test-password';
const TEST_PUSHGATEWAY_HASH = '$2y$10$8CRzgzmm4S9DQ/Op9Acr5e0.QN50oOS93OeIXLaOWnc3S963bBdvy';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Pushgateway {
  url: string;
  /** With basicAuth: a file holding the password (as the lab's secret), and the header that carries it. */
  passwordFile?: string;
  authorization?: string;
  metrics(): Promise<string>;
  stop(): void;
}

/** Starts a Pushgateway and waits until it is ready (15 s at most). */
export async function startPushgateway(options: { basicAuth?: boolean } = {}): Promise<Pushgateway> {
  await requireDebianTools({ 'prometheus-pushgateway': 'prometheus-pushgateway' });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [`--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'];
  let dir: string | undefined;
  let auth: Pick<Pushgateway, 'passwordFile' | 'authorization'> = {};
  if (options.basicAuth) {
    dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-pushgateway-'));
    const webConfig = path.join(dir, 'web.yml');
    await writeFile(webConfig, `basic_auth_users:\n  ${TEST_PUSHGATEWAY_USER}: '${TEST_PUSHGATEWAY_HASH}'\n`);
    // Readable by jobs that run as another OS user (backup-job runs as postgres): a test password.
    await chmod(dir, 0o755);
    const passwordFile = path.join(dir, 'pushgateway_password');
    await writeFile(passwordFile, `${TEST_PUSHGATEWAY_PASSWORD}\n`, { mode: 0o644 });
    args.push(`--web.config.file=${webConfig}`);
    const credentials = Buffer.from(`${TEST_PUSHGATEWAY_USER}:${TEST_PUSHGATEWAY_PASSWORD}`).toString('base64');
    auth = { passwordFile, authorization: `Basic ${credentials}` };
  }
  const gateway = spawn('prometheus-pushgateway', args, { stdio: 'ignore' });
  const headers = auth.authorization ? { authorization: auth.authorization } : undefined;
  const handle = {
    url,
    ...auth,
    metrics: async () => (await fetch(`${url}/metrics`, { headers })).text(),
    stop: () => {
      gateway.kill();
      if (dir) void rm(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ready = await fetch(`${url}/-/ready`, { headers }).then(
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
