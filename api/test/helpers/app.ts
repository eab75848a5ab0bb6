// Starts the real API on 127.0.0.1, port 0, against its own fresh database, with logs captured as JSON.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { PrismaPg } from '@prisma/adapter-pg';
import supertest from 'supertest';
import { loadConfig, type Config } from '../../src/config.js';
import { PrismaClient } from '../../src/generated/prisma/client.js';
import { createLogger } from '../../src/lib/logger.js';
import { startServer } from '../../src/start.js';
import { createTestDatabase, type TestDatabase } from './cluster.js';

export interface TestApp {
  config: Config;
  database: TestDatabase;
  /** Superuser client for arranging and asserting database state. */
  prisma: PrismaClient;
  http: () => supertest.Agent;
  baseUrl: string;
  /** The port of GET /metrics (METRICS_PORT). */
  metricsPort: number;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  /** Raw log output, for "never logged" assertions. */
  rawLogs: () => string;
  metrics: () => Promise<string>;
  shutdown: () => Promise<void>;
  close: () => Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  database?: TestDatabase;
  /** Use this URL for DATABASE_URL instead of the app role on the test database. */
  databaseUrl?: string;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const secretsDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-secrets-'));
  const jwtSecretFile = path.join(secretsDir, 'jwt_secret');
  await writeFile(jwtSecretFile, randomBytes(32).toString('base64url'), { mode: 0o600 });

  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'debug',
    DATABASE_URL: options.databaseUrl ?? database.urls.app,
    JWT_SECRET_FILE: jwtSecretFile,
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
  const started = await startServer(config, logger);
  const baseUrl = `http://127.0.0.1:${started.port}`;
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: database.urls.superuser }) });

  let closed = false;
  return {
    config,
    database,
    prisma,
    baseUrl,
    metricsPort: started.metricsPort,
    http: () => supertest.agent(baseUrl),
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    rawLogs: () => lines.join('\n'),
    metrics: async () => (await supertest(`http://127.0.0.1:${started.metricsPort}`).get('/metrics')).text,
    shutdown: () => started.shutdown('test'),
    async close() {
      if (closed) return;
      closed = true;
      await started.shutdown('test');
      await prisma.$disconnect();
      if (!options.database) await database.drop();
      await rm(secretsDir, { recursive: true, force: true });
    },
  };
}
