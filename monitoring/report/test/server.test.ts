// The read-only reports server, started as in production (startServer) on 127.0.0.1 and a free port, over a
// reports directory each test fills itself.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { startServer } from '../src/server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0,0L10,10"/></svg>';

/** A reports directory with the given reports (name → files), a secret beside it, and a server over it. */
async function serve(reports: Record<string, Record<string, string>>) {
  const root = await mkdtemp(path.join(tmpdir(), 'swarmlab-report-server-'));
  const dir = path.join(root, 'reports');
  await mkdir(dir);
  await writeFile(path.join(root, 'secret.txt'), 'not for the web');
  for (const [name, files] of Object.entries(reports)) {
    await mkdir(path.join(dir, name));
    for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, name, file), content);
  }
  const config = loadConfig({ REPORTS_DIR: dir, HOST: '127.0.0.1', PORT: '0' });
  const { port, shutdown, server } = await startServer(config, silentLogger());
  cleanups.push(async () => {
    await shutdown('test');
    await rm(root, { recursive: true, force: true });
  });
  /** A raw request: the path is sent exactly as given (fetch would normalise "..", a client attacking would not). */
  const get = (target: string, method = 'GET', headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
      (resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: target, method, headers, agent: false }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      },
    );
  return { get, port, shutdown, server };
}

describe('reports server', () => {
  it('when reports exist, then / lists the complete ones newest first, in HTML and in JSON', async () => {
    const { get } = await serve({
      '2026-11-16': { 'index.html': '<p>old</p>' },
      '2026-11-23': { 'index.html': '<p>new</p>' },
      '2026-11-30': { 'report.json': '{}' }, // no index.html: not a report (yet)
      '.tmp-2026-11-30-abcd': { 'index.html': '<p>half-written</p>' },
    });

    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body.indexOf('/reports/2026-11-23/')).toBeLessThan(page.body.indexOf('/reports/2026-11-16/'));
    expect(page.body).not.toContain('2026-11-30');
    expect(page.body).not.toContain('.tmp');
    const json = await get('/', 'GET', { accept: 'application/json' });
    expect(JSON.parse(json.body)).toEqual({
      reports: [
        { name: '2026-11-23', url: '/reports/2026-11-23/' },
        { name: '2026-11-16', url: '/reports/2026-11-16/' },
      ],
    });
    expect((await get('/latest')).headers.location).toBe('/reports/2026-11-23/');
  });

  it('when a report is opened, then its page and charts are served with their types and a strict CSP', async () => {
    const { get } = await serve({
      '2026-11-23': { 'index.html': '<img src="throughput.svg">', 'throughput.svg': SVG },
    });

    const redirect = await get('/reports/2026-11-23');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('/reports/2026-11-23/');
    const page = await get('/reports/2026-11-23/');
    expect(page.status).toBe(200);
    expect(page.body).toBe('<img src="throughput.svg">');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const chart = await get('/reports/2026-11-23/throughput.svg');
    expect(chart.status).toBe(200);
    expect(chart.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(chart.body).toBe(SVG);
    expect((await get('/reports/2026-11-23/missing.svg')).status).toBe(404);
    expect((await get('/reports/2026-11-24/')).status).toBe(404);
  });

  it('when a path tries to leave the reports directory, then 404 and nothing outside is read', async () => {
    const { get } = await serve({ '2026-11-23': { 'index.html': '<p>ok</p>' } });

    for (const target of [
      '/reports/../secret.txt',
      '/reports/..%2fsecret.txt',
      '/reports/..%2f..%2fsecret.txt/index.html',
      '/reports/2026-11-23/..%2f..%2fsecret.txt',
      '/reports/2026-11-23/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/reports/2026-11-23/..%5c..%5csecret.txt',
      '/reports/%2e%2e/secret.txt',
      '/reports/2026-11-23/.hidden.html',
      '/reports/.tmp-2026-11-23-abcd/index.html',
      '/../secret.txt',
      '//etc/passwd',
    ]) {
      const answer = await get(target);
      expect(answer.status, target).toBe(404);
      expect(answer.body, target).not.toContain('not for the web');
    }
  });

  it('when a client writes (POST, PUT, DELETE), then 405: the server is read-only', async () => {
    const { get } = await serve({ '2026-11-23': { 'index.html': '<p>ok</p>' } });

    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const answer = await get('/run?days=7&mail=1', method);
      expect(answer.status, method).toBe(405);
      expect(answer.headers.allow).toBe('GET, HEAD');
    }
    expect((await get('/reports/2026-11-23/', 'HEAD')).status).toBe(200);
  });

  it('when /healthz is asked, then 200; when shut down, then the port is closed and shutdown resolves once', async () => {
    const { get, shutdown, server } = await serve({});

    expect((await get('/healthz')).status).toBe(200);
    const [first, second] = [shutdown('SIGTERM'), shutdown('SIGTERM')];
    expect(first).toBe(second);
    await first;
    expect(server.listening).toBe(false);
    await expect(get('/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });
});
