// The process: configuration, logger, the read-only reports server, signals, graceful shutdown. Defines no routes.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { isMain } from './is-main.js';
import { createLogger, type Logger } from './logger.js';

/** Listens; resolves once the port is bound. */
export async function startServer(config: Config, logger: Logger) {
  const app = createApp({ reportsDir: config.reports.dir, logger });
  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(config.http.port, config.http.host, (error?: Error) =>
      error ? reject(error) : resolve(listening),
    );
  });
  const { port } = server.address() as AddressInfo;
  logger.info('server started', { port, reportsDir: config.reports.dir });

  let done: Promise<void> | undefined;
  /** Stops accepting, lets in-flight requests finish (idle keep-alive connections are closed), resolves. */
  const shutdown = (signal: string): Promise<void> =>
    (done ??= (async () => {
      logger.info('shutdown started', { signal });
      const forced = setTimeout(() => {
        logger.error('shutdown timed out; exiting with requests still open', {
          timeoutMs: config.http.shutdownTimeoutMs,
        });
        process.exit(1);
      }, config.http.shutdownTimeoutMs);
      forced.unref();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearTimeout(forced);
      logger.info('shutdown complete');
    })());
  return { server, port, shutdown };
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(
      `${error.message}\nFix the variables above and start again (see docs/monitoring.md, "Weekly report").`,
    );
    process.exit(1);
  }
  const logger = createLogger({ level: config.log.level, service: config.app.name });
  try {
    const { shutdown } = await startServer(config, logger);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => void shutdown(signal).then(() => process.exit(0)));
    }
  } catch (error) {
    logger.error('start-up failed', { error });
    process.exit(1);
  }
}

// Run when started as the program (node dist/server.js), not when imported by a test.
if (isMain(import.meta.filename)) await main();
