// Starts the mail sink on a config: the mail box, the SMTP server, the web app; returns the handles to stop it.
// Used by server.ts (the process) and by the tests (port 0).
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { createApp } from './app.js';
import type { Config } from './config.js';
import type { Logger } from './lib/logger.js';
import { createMetrics } from './lib/metrics.js';
import { MailStore } from './lib/store.js';
import { createSmtpServer } from './smtp.js';

function listening(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** The password in `file`, trimmed; a missing or empty file stops the start with what to do. */
async function readPassword(file: string): Promise<string> {
  const password = (
    await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(
        `MAILSINK_PASSWORD_FILE ${file} cannot be read (${error.code}): mount the mailsink_password secret`,
      );
    })
  ).trim();
  if (password === '') throw new Error(`MAILSINK_PASSWORD_FILE ${file} is empty: it must hold the password`);
  return password;
}

export async function startMailsink(config: Config, logger: Logger) {
  const password = await readPassword(config.http.passwordFile);
  const store = await MailStore.open({ ...config.store, logger });
  const metrics = createMetrics(config.app, () => store.count);

  const smtp = createSmtpServer({ store, metrics, logger, maxBytes: config.smtp.maxBytes });
  const smtpPort = await listening(smtp.server, config.smtp.port, config.host);

  const httpServer = http.createServer(createApp({ password, store, metrics, logger }));
  let httpPort: number;
  try {
    httpPort = await listening(httpServer, config.http.port, config.host);
  } catch (error) {
    smtp.close();
    throw error;
  }
  logger.info('listening', { smtpPort, httpPort, version: config.app.version, gitSha: config.app.gitSha });

  let closing: Promise<void> | undefined;
  /** Stops accepting on both ports; waits for open SMTP sessions (cut after 5 s) and HTTP requests to end. */
  const close = () =>
    (closing ??= Promise.all([
      new Promise<void>((resolve) => smtp.close(() => resolve())),
      new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeIdleConnections();
      }),
    ]).then(() => undefined));

  return { store, metrics, smtpPort, httpPort, close };
}

export type Mailsink = Awaited<ReturnType<typeof startMailsink>>;
