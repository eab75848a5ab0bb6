// Starts the real mail sink (SMTP and HTTP) on 127.0.0.1, ports 0, on a temporary data directory, with its logs
// captured as JSON. Mail goes in through nodemailer, as Alertmanager's would through Go's net/smtp.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import nodemailer, { type SendMailOptions, type SMTPTransportOptions } from 'nodemailer';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/lib/logger.js';
import type { MessageEntry } from '../../src/lib/store.js';
import { startMailsink, type Mailsink } from '../../src/start.js';

export interface TestMailsink {
  config: Config;
  dataDir: string;
  baseUrl: string;
  smtpPort: number;
  instance: Mailsink;
  /** The Authorization header of the user mailsink, which fetch and json send unless `init.headers` replace it. */
  authorization: string;
  /** Every log line written so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Sends through a fresh plain-SMTP connection; resolves with the id from the 250 reply. */
  send(mail: SendMailOptions, transport?: Partial<SMTPTransportOptions>): Promise<{ id: string; response: string }>;
  fetch(urlPath: string, init?: RequestInit): Promise<Response>;
  json<T = unknown>(urlPath: string): Promise<T>;
  list(query?: string): Promise<{ total: number; messages: MessageEntry[] }>;
  /** A sample's value from /metrics (the first series whose labels include `labels`), or undefined. */
  metric(name: string, labels?: string): Promise<number | undefined>;
  /** Stops both servers; the data directory stays. */
  stop(): Promise<void>;
  /** Stops, and removes the data directory unless it was given. */
  close(): Promise<void>;
}

export async function tempDataDir() {
  return mkdtemp(path.join(tmpdir(), 'swarmlab-mailsink-'));
}

export async function startTestMailsink(options: { dataDir?: string; env?: Record<string, string> } = {}) {
  const dataDir = options.dataDir ?? (await tempDataDir());
  // Next to the data directory's, in a folder of its own (the data directory may be given and kept).
  const secrets = await mkdtemp(path.join(tmpdir(), 'swarmlab-mailsink-secrets-'));
  const password = randomBytes(16).toString('hex');
  await writeFile(path.join(secrets, 'mailsink_password'), `${password}\n`, { mode: 0o600 });
  const authorization = `Basic ${Buffer.from(`mailsink:${password}`).toString('base64')}`;
  const config = loadConfig({
    HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HTTP_PORT: '0',
    MAILSINK_DATA_DIR: dataDir,
    MAILSINK_PASSWORD_FILE: path.join(secrets, 'mailsink_password'),
    LOG_LEVEL: 'debug',
    GIT_SHA: 'test-sha',
    ...options.env,
  });
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = createLogger({ level: config.log.level, service: 'test', stream });
  const instance = await startMailsink(config, logger);
  const baseUrl = `http://127.0.0.1:${instance.httpPort}`;

  const mailsink: TestMailsink = {
    config,
    dataDir,
    baseUrl,
    smtpPort: instance.smtpPort,
    instance,
    authorization,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    async send(mail, transport = {}) {
      const transporter = nodemailer.createTransport({
        host: '127.0.0.1',
        port: instance.smtpPort,
        secure: false,
        // As Alertmanager is configured: no TLS required, none tried.
        ignoreTLS: true,
        requireTLS: false,
        ...transport,
      });
      try {
        const info = await transporter.sendMail(mail);
        const id = /stored as (\S+)/.exec(info.response)?.[1];
        if (!id) throw new Error(`no id in the reply: ${info.response}`);
        return { id, response: info.response };
      } finally {
        transporter.close();
      }
    },
    fetch: (urlPath, init = {}) =>
      fetch(`${baseUrl}${urlPath}`, {
        ...init,
        headers: { authorization, ...(init.headers as Record<string, string>) },
      }),
    async json<T>(urlPath: string) {
      const response = await fetch(`${baseUrl}${urlPath}`, { headers: { authorization } });
      if (!response.ok) throw new Error(`GET ${urlPath}: ${response.status} ${await response.text()}`);
      return (await response.json()) as T;
    },
    list: (query = '') => mailsink.json(`/api/messages${query}`),
    async metric(name, labels = '') {
      const text = await (await fetch(`${baseUrl}/metrics`)).text();
      const line = text
        .split('\n')
        .find((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(labels));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    },
    stop: () => instance.close(),
    async close() {
      await instance.close();
      await rm(secrets, { recursive: true, force: true });
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return mailsink;
}
