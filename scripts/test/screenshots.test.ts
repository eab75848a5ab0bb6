// scripts/lib/screenshots.ts for real: Debian's headless Chromium shoots pages served here on 127.0.0.1, over HTTP
// and over HTTPS as a lab host name (*.lab.localhost, mapped to 127.0.0.1 as the lab's are) with a throwaway CA.
// The PNG is decoded enough to prove its size and what it shows.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { requireDebianTools } from '../lib/debian-tools.js';
import { screenshot } from '../lib/screenshots.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG's size and the colour of its top-left pixel (which no scanline filter changes). */
async function readPng(file: string) {
  const data = await readFile(file);
  expect(data.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  let offset = 8;
  let header: Buffer | undefined;
  const idat: Buffer[] = [];
  while (offset < data.length) {
    const length = data.readUInt32BE(offset);
    const type = data.toString('latin1', offset + 4, offset + 8);
    const body = data.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') header = body;
    if (type === 'IDAT') idat.push(body);
    offset += 12 + length;
  }
  if (!header) throw new Error(`${file} has no IHDR chunk`);
  const [width, height, depth, colour] = [header.readUInt32BE(0), header.readUInt32BE(4), header[8], header[9]];
  expect(depth).toBe(8);
  expect([2, 6]).toContain(colour); // RGB or RGBA
  const pixels = inflateSync(Buffer.concat(idat));
  const first = pixels.subarray(1, 4); // after the first scanline's filter byte
  return { width, height, rgb: [first[0], first[1], first[2]] };
}

/** A page in a given colour; with `later`, a #ready element (and another colour) after 600 ms. */
const page = (rgb: string, later?: string) => `<!doctype html><html><head><style>
  html { background: rgb(${rgb}); } body { margin: 0; }
</style></head><body><p>swarmlab screenshot test</p>${
  later
    ? `<script>setTimeout(() => { document.documentElement.style.background = 'rgb(${later})';
        const ready = document.createElement('div'); ready.id = 'ready'; ready.textContent = 'ready';
        document.body.append(ready); }, 600);</script>`
    : ''
}</body></html>`;

function handler(request: http.IncomingMessage, response: http.ServerResponse) {
  const html = (status: number, body: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
    response.end(body);
  };
  if (request.url === '/') return html(200, page('12, 34, 56'));
  if (request.url === '/later') return html(200, page('200, 0, 0', '0, 128, 64'));
  if (request.url === '/private') {
    const expected = `Basic ${Buffer.from('admin:s3cret').toString('base64')}`;
    if (request.headers.authorization === expected) return html(200, page('90, 60, 30'));
    return html(401, 'no', { 'www-authenticate': 'Basic realm="swarmlab operations"' });
  }
  return html(404, 'not here');
}

const listen = async (server: http.Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

let temp: string;
let plainServer: http.Server;
let tlsServer: https.Server;
let base: string;
let labUrl: string;
let labCa: string;
let otherCa: string;

/** A self-signed certificate for *.lab.localhost: the CA and the server's certificate at once. */
async function selfSigned(name: string) {
  const [key, cert] = [path.join(temp, `${name}.key`), path.join(temp, `${name}.crt`)];
  await $({
    quiet: true,
  })`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=${name} -addext subjectAltName=DNS:*.lab.localhost -keyout ${key} -out ${cert}`;
  return { key, cert };
}

beforeAll(async () => {
  await requireDebianTools({ chromium: 'chromium', openssl: 'openssl' });
  temp = await mkdtemp(path.join(tmpdir(), 'swarmlab-screenshots-'));
  plainServer = http.createServer(handler);
  base = `http://127.0.0.1:${await listen(plainServer)}`;
  const lab = await selfSigned('lab-ca');
  labCa = lab.cert;
  otherCa = (await selfSigned('other-ca')).cert;
  tlsServer = https.createServer({ key: await readFile(lab.key), cert: await readFile(lab.cert) }, handler);
  labUrl = `https://shot.lab.localhost:${await listen(tlsServer)}/`;
}, 600_000);

afterAll(async () => {
  plainServer?.close();
  tlsServer?.close();
  if (temp) await rm(temp, { recursive: true, force: true });
});

describe('screenshot', () => {
  it('when a local page is shot at 640 × 360, then the file is a PNG of that size showing the page', async () => {
    const file = path.join(temp, 'shots', 'plain.png');

    await screenshot(`${base}/`, file, { width: 640, height: 360 });

    expect(await readPng(file)).toEqual({ width: 640, height: 360, rgb: [12, 34, 56] });
  }, 120_000);

  it('when no size is given, then the picture is 1280 × 800', async () => {
    const file = path.join(temp, 'default.png');

    await screenshot(`${base}/`, file);

    expect(await readPng(file)).toMatchObject({ width: 1280, height: 800 });
  }, 120_000);

  it('when waitFor names an element the page adds later, then the picture is taken once it shows', async () => {
    const file = path.join(temp, 'later.png');

    await screenshot(`${base}/later`, file, { width: 320, height: 200, waitFor: '#ready' });

    expect(await readPng(file)).toEqual({ width: 320, height: 200, rgb: [0, 128, 64] });
  }, 120_000);

  it('when a page needs basic auth, then the credentials given are sent, and without them it fails on the 401', async () => {
    const file = path.join(temp, 'private.png');
    const denied = path.join(temp, 'denied.png');

    await screenshot(`${base}/private`, file, {
      width: 300,
      height: 200,
      basicAuth: { user: 'admin', password: 's3cret' },
    });
    const refused = screenshot(`${base}/private`, denied, { width: 300, height: 200 });

    expect(await readPng(file)).toEqual({ width: 300, height: 200, rgb: [90, 60, 30] });
    await expect(refused).rejects.toThrow(/asks for credentials \(401\)/);
    expect(existsSync(denied)).toBe(false);
  }, 120_000);

  it('when a page answers 404, then it fails and writes nothing', async () => {
    const file = path.join(temp, 'missing.png');

    await expect(screenshot(`${base}/missing`, file)).rejects.toThrow(/answered 404/);

    expect(existsSync(file)).toBe(false);
  }, 120_000);

  it('when an https page on a lab host name is shot with its CA, then it reaches 127.0.0.1 and is shot', async () => {
    const file = path.join(temp, 'lab.png');

    await screenshot(labUrl, file, { width: 400, height: 300, httpsCa: labCa });

    expect(await readPng(file)).toEqual({ width: 400, height: 300, rgb: [12, 34, 56] });
  }, 120_000);

  it('when the https page has a certificate from another CA, then it fails naming that CA, and without one Chromium refuses it', async () => {
    const file = path.join(temp, 'untrusted.png');

    await expect(screenshot(labUrl, file, { httpsCa: otherCa })).rejects.toThrow(
      /is not served with a certificate for shot\.lab\.localhost from the CA in .*other-ca\.crt/,
    );
    await expect(screenshot(labUrl, file)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
    expect(existsSync(file)).toBe(false);
  }, 120_000);
});
