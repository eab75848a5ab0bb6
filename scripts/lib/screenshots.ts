// Headless Chromium for the repository's own pictures: PNG screenshots of the lab's pages (the end-to-end test calls
// screenshot() against the deployed lab) and the browser `npm run docs:build` prints the specification with. Debian's
// Chromium (/usr/bin/chromium) driven by playwright-core: no browser download, nothing fetched from the internet.
import { isIP } from 'node:net';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { chromium, type Browser } from 'playwright-core';
import { requireDebianTools } from './debian-tools.js';

/** Debian's Chromium (package chromium). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * A quiet headless Chromium: no first-run, sync, component updates or background requests, no QUIC; and the lab's
 * host names (*.lab.localhost) resolve to 127.0.0.1, where node1's ports are published (https://api.lab.localhost:8443).
 */
export const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP *.lab.localhost 127.0.0.1',
];

/** Starts Debian's Chromium headless (installed from Debian when missing and we are root), in a fresh profile. */
export async function launchChromium(): Promise<Browser> {
  await requireDebianTools({ chromium: 'chromium' });
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, chromiumSandbox: false });
}

export interface ScreenshotOptions {
  /** The viewport, in CSS pixels: the PNG is exactly this size. Default 1280 × 800. */
  width?: number;
  height?: number;
  /** A CSS selector that must be visible before the picture is taken (a dashboard's panel, a table's first row). */
  waitFor?: string;
  /** A PEM file of the CA the https URL's certificate must chain to (the lab CA: <LAB_DIR>/ca/ca.crt). */
  httpsCa?: string;
  /** Basic auth credentials, sent to the URL's origin only (the ops UIs: admin and ops_basic_auth.password). */
  basicAuth?: { user: string; password: string };
  /** For the page to load and for waitFor, in milliseconds. Default 30,000. */
  timeoutMs?: number;
}

/** *.lab.localhost (and localhost) as Chromium reaches them: 127.0.0.1 (Node does not resolve them by itself). */
const addressOf = (host: string) => (host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : host);

/**
 * Checks that the server at `url` presents a certificate for its host name that chains to the CA in `caFile`.
 * Chromium has no per-launch trust store, so the browser then ignores certificate errors for a page whose server
 * this check has just vouched for.
 */
export async function checkServerCertificate(url: URL, caFile: string, timeoutMs = 10_000): Promise<void> {
  if (url.protocol !== 'https:') throw new Error(`httpsCa is for https URLs, not ${url.href}`);
  const ca = await readFile(caFile, 'utf8');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    const socket = tls.connect({
      host: addressOf(host),
      port: Number(url.port || 443),
      ca,
      ...(isIP(host) ? {} : { servername: host }),
      // The default identity check, against the URL's host rather than the address connected to.
      checkServerIdentity: (_, cert) => tls.checkServerIdentity(host, cert),
    });
    const fail = (reason: string) => {
      socket.destroy();
      reject(
        new Error(`${url.origin} is not served with a certificate for ${host} from the CA in ${caFile}: ${reason}`),
      );
    };
    socket.setTimeout(timeoutMs, () => fail(`no TLS handshake within ${timeoutMs} ms`));
    socket.once('secureConnect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', (error) => fail(error.message));
  });
}

/**
 * Saves a PNG of `url` as a browser shows it in a `width` × `height` window. Fails (nothing written) when the page
 * does not load, answers with an HTTP error, its certificate is not the one `httpsCa` expects, or `waitFor` never
 * shows. Without `httpsCa` an https page must be trusted by Chromium itself.
 */
export async function screenshot(url: string, file: string, options: ScreenshotOptions = {}): Promise<void> {
  const { width = 1280, height = 800, timeoutMs = 30_000 } = options;
  const target = new URL(url);
  if (options.httpsCa) await checkServerCertificate(target, options.httpsCa, timeoutMs);
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({
      viewport: { width, height },
      deviceScaleFactor: 1,
      ignoreHTTPSErrors: options.httpsCa !== undefined,
      ...(options.basicAuth && {
        httpCredentials: {
          username: options.basicAuth.user,
          password: options.basicAuth.password,
          origin: target.origin,
        },
      }),
    });
    const page = await context.newPage();
    const response = await page.goto(url, { waitUntil: 'load', timeout: timeoutMs }).catch((error: Error) => {
      // Headless Chromium cancels a basic-auth challenge it has no (or no right) credentials for.
      if (!error.message.includes('ERR_INVALID_AUTH_CREDENTIALS')) throw error;
      throw new Error(
        `${url} asks for credentials (401): ${options.basicAuth ? 'basicAuth was refused' : 'give basicAuth'}`,
      );
    });
    if (!response) throw new Error(`${url} gave no response`);
    if (!response.ok()) throw new Error(`${url} answered ${response.status()} ${response.statusText()}`);
    if (options.waitFor) await page.waitForSelector(options.waitFor, { state: 'visible', timeout: timeoutMs });
    await page.evaluate('document.fonts.ready.then(() => true)');
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await page.screenshot({ path: file, type: 'png', fullPage: false, animations: 'disabled' });
  } finally {
    await browser.close();
  }
}
