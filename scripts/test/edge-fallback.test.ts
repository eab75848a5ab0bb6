// The HAProxy edge (lab/edge-fallback/haproxy.cfg) run for real, on 127.0.0.1 ports, in front of two small HTTP
// servers that stand for the API's two colours: TLS with the given certificate, the HTTP → HTTPS redirect, the API
// host routed and nothing else, /metrics hidden, the candidate's private route, and the blue/green switch through
// HAProxy's runtime API with the exact commands deploy sends (scripts/lib/bluegreen.ts), under a stream of
// requests that must not lose one. The file is the one deployed; only addresses and paths are rewritten.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { Agent, request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANDIDATE, CANDIDATE_HEADER, haproxyLive, haproxySwitchCommand, ROUTES_MAP } from '../lib/bluegreen.js';
import { requireDebianTools } from '../lib/debian-tools.js';
import { REPO_ROOT } from '../lib/paths.js';
import { freePort } from '../lib/pushgateway.js';

const EDGE = path.join(REPO_ROOT, 'lab/edge-fallback');
/** The route map as this test's HAProxy knows it (deployed: ROUTES_MAP). */
const map = () => path.join(dir, 'routes.map');

let dir: string;
let haproxy: ChildProcess;
let agent: Agent;
const servers: Server[] = [];
const ports = { http: 0, https: 0, stats: 0, runtime: 0, live: 0, next: 0 };

/** A stand-in for one colour of the API: GET / names it, /readyz and /metrics answer 200. */
async function colour(name: string): Promise<number> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/' ? { gitSha: name } : { path: req.url }));
  });
  servers.push(server);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return port;
}

/** Replaces `from` in `text`, failing when it is not there: the deployed file must still have it. */
function rewrite(text: string, from: string | RegExp, to: string): string {
  const replaced = text.replace(from, to);
  if (replaced === text) throw new Error(`haproxy.cfg no longer contains ${String(from)}: update this test`);
  return replaced;
}

async function get(host: string, urlPath: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string; retryAfter?: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: ports.https,
        servername: host,
        path: urlPath,
        agent,
        timeout: 5000,
        headers: { host: `${host}:8443`, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            ...(res.headers['retry-after'] !== undefined && { retryAfter: String(res.headers['retry-after']) }),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const answering = async (headers: Record<string, string> = {}) => {
  const response = await get('api.lab.localhost', '/', headers);
  return response.status === 200 ? (JSON.parse(response.body) as { gitSha: string }).gitSha : `HTTP ${response.status}`;
};

/** One command to HAProxy's runtime API, as deploy sends it through the edge container. */
function runtime(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(ports.runtime, '127.0.0.1', () => socket.end(`${command}\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
}

beforeAll(async () => {
  await requireDebianTools({ haproxy: 'haproxy', openssl: 'openssl' });
  dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-edge-fallback-'));
  for (const key of ['http', 'https', 'stats', 'runtime'] as const) ports[key] = await freePort();
  ports.live = await colour('live');
  ports.next = await colour('next');

  const pem = path.join(dir, 'edge.pem');
  await $({
    quiet: true,
  })`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=api.lab.localhost -addext subjectAltName=DNS:api.lab.localhost,DNS:other.lab.localhost -keyout ${pem}.key -out ${pem}`;
  agent = new Agent({ ca: await readFile(pem), keepAlive: true });
  await copyFile(path.join(EDGE, 'routes.map'), path.join(dir, 'routes.map'));

  let config = await readFile(path.join(EDGE, 'haproxy.cfg'), 'utf8');
  config = rewrite(config, 'stats socket ipv4@127.0.0.1:9999', `stats socket ipv4@127.0.0.1:${ports.runtime}`);
  config = rewrite(config, /bind :80\n/, `bind 127.0.0.1:${ports.http}\n`);
  config = rewrite(config, 'bind :443 ssl crt /run/secrets/edge.pem', `bind 127.0.0.1:${ports.https} ssl crt ${pem}`);
  config = rewrite(config, 'bind :8404', `bind 127.0.0.1:${ports.stats}`);
  config = rewrite(config, ROUTES_MAP, map());
  // Docker's DNS gives the tasks' addresses in the swarm; here each colour is one server on 127.0.0.1.
  config = rewrite(config, /init-addr none resolvers docker/g, '');
  config = rewrite(config, 'server-template task 6 api:3000 check', `server task1 127.0.0.1:${ports.live} check`);
  config = rewrite(config, 'server-template next 6 api-next:3000 check', `server next1 127.0.0.1:${ports.next} check`);
  const file = path.join(dir, 'edge.cfg');
  await writeFile(file, config);
  await $({ quiet: true })`haproxy -c -q -f ${file}`;

  haproxy = spawn('haproxy', ['-W', '-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  haproxy.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await until('HAProxy answering with both colours up', async () => {
    const [live, next] = await Promise.all([answering(), answering({ [CANDIDATE_HEADER]: '1' })]);
    return live === 'live' && next === 'next';
  }).catch((error: Error) => {
    throw new Error(`${error.message}\n${stderr}`);
  });
}, 60_000);

afterAll(async () => {
  haproxy?.kill('SIGTERM');
  agent?.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the HAProxy edge (lab/edge-fallback/haproxy.cfg), run for real', () => {
  it('routes api.lab.localhost to the live colour over TLS, hides /metrics, refuses other hosts, redirects HTTP', async () => {
    expect(await answering()).toBe('live');
    expect((await get('api.lab.localhost', '/metrics')).status).toBe(404);
    expect((await get('api.lab.localhost', '/metrics', { [CANDIDATE_HEADER]: '1' })).status).toBe(404);
    expect((await get('other.lab.localhost', '/')).status).toBe(404);
    const redirect = await new Promise<{ status: number; location: string }>((resolve, reject) => {
      httpRequest(
        { host: '127.0.0.1', port: ports.http, path: '/v1/items?limit=5', headers: { host: 'api.lab.localhost:8080' } },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, location: String(res.headers.location) });
        },
      )
        .on('error', reject)
        .end();
    });
    expect(redirect).toEqual({ status: 301, location: 'https://api.lab.localhost:8443/v1/items?limit=5' });
  });

  it('sends only requests with the candidate header to the candidate; another value is the public route', async () => {
    expect(await answering({ [CANDIDATE_HEADER]: '1' })).toBe('next');
    expect(await answering({ [CANDIDATE_HEADER]: 'yes' })).toBe('live');
  });

  it('when deploy switches to api-next and back, then every request of a stream is answered, by one colour then the other', async () => {
    expect(haproxyLive(await runtime(`show map ${map()}`))).toBe('api');
    const answers: string[] = [];
    let streaming = true;
    const stream = (async () => {
      while (streaming) answers.push(await answering().catch((error: Error) => `error ${error.message}`));
    })();
    await until('requests flowing', async () => answers.length >= 50);
    const switchedAt = answers.length;
    expect(await runtime(haproxySwitchCommand(CANDIDATE, map()))).toBe('\n');
    await until('requests after the switch', async () => answers.length >= switchedAt + 100);
    expect(haproxyLive(await runtime(`show map ${map()}`))).toBe(CANDIDATE);
    expect(await answering()).toBe('next');
    expect(await runtime(haproxySwitchCommand('api', map()))).toBe('\n');
    const backAt = answers.length;
    await until('requests after the switch back', async () => answers.length >= backAt + 50);
    streaming = false;
    await stream;

    expect(answers.filter((answer) => answer !== 'live' && answer !== 'next')).toEqual([]);
    // One step each way: live until the switch, next until the switch back, live after it (a request in flight
    // during a switch may land on either side of it).
    const runs = answers.reduce<string[]>((acc, answer) => (acc.at(-1) === answer ? acc : [...acc, answer]), []);
    expect(runs).toEqual(['live', 'next', 'live']);
    expect(haproxyLive(await runtime(`show map ${map()}`))).toBe('api');
  });

  it('when the runtime API is given an unknown backend for the map, then the edge keeps answering (not_found)', async () => {
    await runtime(`set map ${map()} api.lab.localhost no_such_backend`);
    expect((await get('api.lab.localhost', '/')).status).toBe(404);
    await runtime(haproxySwitchCommand('api', map()));
    expect(await answering()).toBe('live');
  });

  it('when no API task is ready, then the edge answers 503 with Retry-After and counts it where the SLO reads it', async () => {
    const answered5xx = async () => {
      const metrics = await new Promise<string>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port: ports.stats, path: '/metrics?scope=backend' }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        })
          .on('error', reject)
          .end();
      });
      return Number(/^haproxy_backend_http_responses_total\{proxy="api",code="5xx"\} (\d+)/m.exec(metrics)?.[1]);
    };
    const before = await answered5xx();
    await runtime('disable server api/task1');
    try {
      const answer = await get('api.lab.localhost', '/v1/items');
      expect(answer).toMatchObject({ status: 503, retryAfter: '5' });
      expect(await answered5xx()).toBe(before + 1);
    } finally {
      await runtime('enable server api/task1');
    }
    await until('the live colour back', async () => (await answering()) === 'live');
  });
});
