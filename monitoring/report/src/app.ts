// The read-only web view of the saved reports. Never listens (server.ts does); never generates (the CLI does).
//   GET /                      the reports, newest first (HTML, or JSON for Accept: application/json)
//   GET /latest                redirect to the newest report
//   GET /reports/<date>/       a report's index.html; /reports/<date>/<file> its charts, report.json, report.txt
//   GET /healthz               200 while the process runs
// Names are matched against fixed patterns before any file is touched: no "..", no dot files, nothing outside
// the reports directory.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { REPORT_FILE, REPORT_NAME } from './report-files.js';
import type { Logger } from './logger.js';
import { html } from './render.js';

export interface AppDeps {
  reportsDir: string;
  logger: Logger;
}

/** Report directories that hold an index.html, newest first. */
export async function listReports(reportsDir: string): Promise<string[]> {
  const entries = await readdir(reportsDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const names = entries.filter((entry) => entry.isDirectory() && REPORT_NAME.test(entry.name)).map((e) => e.name);
  const complete = await Promise.all(
    names.map((name) =>
      stat(path.join(reportsDir, name, 'index.html')).then(
        (s) => s.isFile(),
        () => false,
      ),
    ),
  );
  return names.filter((_, index) => complete[index]).sort((a, b) => b.localeCompare(a));
}

const securityHeaders: RequestHandler = (_req, res, next) => {
  // Reports are static: their own CSS inline, their charts from the same directory, nothing else.
  res.setHeader(
    'content-security-policy',
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  );
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
  next();
};

const readOnly: RequestHandler = (req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  res.setHeader('allow', 'GET, HEAD');
  res.status(405).json({ error: 'method-not-allowed', detail: 'this server is read-only; generate with the CLI' });
};

export function createApp({ reportsDir, logger }: AppDeps) {
  const root = path.resolve(reportsDir);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', 'strong');

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      if (req.path === '/healthz') return;
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
      logger.log(level, 'request', {
        method: req.method,
        path: req.originalUrl.slice(0, 200),
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
      });
    });
    next();
  });
  app.use(securityHeaders);
  app.use(readOnly);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/', async (req, res) => {
    const reports = await listReports(root);
    res.setHeader('cache-control', 'no-cache');
    if (req.accepts(['html', 'json']) === 'json') {
      res.json({ reports: reports.map((name) => ({ name, url: `/reports/${name}/` })) });
      return;
    }
    const items = reports.map((name) => html`<li><a href="/reports/${name}/">${name}</a></li>`);
    res.type('html').send(
      html`<!doctype html>
        <html lang="en">
          <head>
            <meta charset="utf-8" />
            <title>swarmlab weekly reports</title>
            <style>
              body {
                font: 14px/1.5 sans-serif;
                max-width: 640px;
                margin: 32px auto;
                padding: 0 16px;
              }
              li {
                margin: 4px 0;
              }
            </style>
          </head>
          <body>
            <h1>swarmlab weekly reports</h1>
            ${
              reports.length > 0
                ? html`<ul>
                    ${items}
                  </ul>`
                : html`<p>No report yet. Generate one with <code>npm run report</code>.</p>`
            }
          </body>
        </html> `.value,
    );
  });

  app.get('/latest', async (_req, res) => {
    const [newest] = await listReports(root);
    if (!newest) {
      res.status(404).json({ error: 'not-found', detail: 'no report yet' });
      return;
    }
    res.setHeader('cache-control', 'no-cache');
    res.redirect(302, `/reports/${newest}/`);
  });

  const sendReportFile = (name: string, file: string, res: express.Response, next: express.NextFunction) => {
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(path.join(root, name, file), { dotfiles: 'deny' }, (error?: NodeJS.ErrnoException) => {
      if (!error) return;
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR' || (error as { status?: number }).status === 404) {
        if (!res.headersSent) res.status(404).json({ error: 'not-found' });
        return;
      }
      next(error);
    });
  };

  app.get('/reports/:name', (req, res, next) => {
    const { name } = req.params;
    if (!REPORT_NAME.test(name)) return next();
    // Relative links (the charts) need the trailing slash.
    if (!req.path.endsWith('/')) return res.redirect(301, `/reports/${name}/`);
    sendReportFile(name, 'index.html', res, next);
  });

  app.get('/reports/:name/:file', (req, res, next) => {
    const { name, file } = req.params;
    if (!REPORT_NAME.test(name) || !REPORT_FILE.test(file)) return next();
    sendReportFile(name, file, res, next);
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not-found' });
  });

  const errorHandler: ErrorRequestHandler = (error: Error & { status?: number }, req, res, _next) => {
    const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 500;
    if (status === 500) logger.error('request failed', { path: req.originalUrl.slice(0, 200), error });
    if (!res.headersSent) res.status(status).json({ error: status === 500 ? 'internal-error' : 'bad-request' });
  };
  app.use(errorHandler);
  return app;
}
