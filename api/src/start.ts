// Starts the API on a config: database, first admin, app, listen; returns the handles to stop it.
// Used by server.ts (the process) and by the tests (port 0).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { Database } from './lib/db.js';
import { Lifecycle } from './lib/lifecycle.js';
import type { Logger } from './lib/logger.js';
import { createMetrics } from './lib/metrics.js';
import { createMetricsServer } from './lib/metrics-server.js';
import { hashPassword } from './lib/passwords.js';
import { createShutdown } from './lib/shutdown.js';
import { UsersRepository } from './modules/users/users.repository.js';

export async function startServer(config: Config, logger: Logger) {
  const metrics = createMetrics(config.app);
  const db = new Database(config.db, metrics, logger);
  const lifecycle = new Lifecycle();
  await db.start();
  await ensureFirstAdmin(config, db, logger);

  const app = createApp({ config, logger, metrics, db, lifecycle });
  const server = await listening(app.listen(config.http.port, config.http.host));
  const metricsServer = await listening(createMetricsServer(metrics).listen(config.http.metricsPort, config.http.host));
  // Longer than Traefik's idle timeout, so the proxy closes idle connections first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const shutdown = createShutdown({
    server,
    metricsServer,
    db,
    lifecycle,
    logger,
    delayMs: config.http.shutdownDelayMs,
    timeoutMs: config.http.shutdownTimeoutMs,
  });
  const { port } = server.address() as AddressInfo;
  const { port: metricsPort } = metricsServer.address() as AddressInfo;
  logger.info('listening', { port, metricsPort, version: config.app.version, gitSha: config.app.gitSha });
  return { server, port, metricsPort, shutdown, db, metrics, lifecycle };
}

function listening(server: Server): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}

async function ensureFirstAdmin(config: Config, db: Database, logger: Logger) {
  if (!config.admin) return;
  const created = await new UsersRepository(db).ensureAdmin({
    email: config.admin.email,
    name: 'Administrator',
    passwordHash: await hashPassword(config.admin.password),
  });
  logger.info(created ? 'first admin created' : 'first admin exists', { email: config.admin.email });
}
