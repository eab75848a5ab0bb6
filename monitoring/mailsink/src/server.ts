// The process: configuration, logger, start, signals, graceful shutdown with a forced exit. Defines no routes.
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './lib/logger.js';
import { startMailsink } from './start.js';

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${error.message}\nFix the variables above and start again (see docs/monitoring.md, "Mail sink").`);
    process.exit(1);
  }
  const logger = createLogger({ level: config.log.level, service: config.app.name });
  try {
    const mailsink = await startMailsink(config, logger);
    const shutdown = async (signal: string) => {
      logger.info('shutdown started', { signal, timeoutMs: config.shutdown.timeoutMs });
      setTimeout(() => {
        logger.error('shutdown timed out; exiting with connections still open', {
          timeoutMs: config.shutdown.timeoutMs,
        });
        process.exit(1);
      }, config.shutdown.timeoutMs).unref();
      await mailsink.close();
      logger.info('shutdown complete');
      process.exit(0);
    };
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutdown(signal));
  } catch (error) {
    logger.error('start-up failed', { error });
    process.exit(1);
  }
}

await main();
