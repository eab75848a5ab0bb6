// The process: configuration, logger, start, signals, a forced exit if shutdown hangs. Defines no routes.
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './lib/logger.js';
import { startServer } from './start.js';

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${error.message}\nFix the variables above and start again (see docs/monitoring.md, "Remediator").`);
    process.exit(1);
  }
  const logger = createLogger({ level: config.log.level });
  try {
    const { shutdown } = await startServer(config, logger);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        const forced = setTimeout(() => {
          logger.error('shutdown timed out; exiting', { timeoutMs: config.http.shutdownTimeoutMs });
          process.exit(1);
        }, config.http.shutdownTimeoutMs);
        forced.unref();
        void shutdown(signal).then(() => process.exit(0));
      });
    }
  } catch (error) {
    logger.error('start-up failed', { error });
    process.exit(1);
  }
}

await main();
