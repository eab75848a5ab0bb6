// The process: configuration, logger, start, signals, graceful shutdown. Defines no routes.
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './lib/logger.js';
import { startServer } from './start.js';

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${error.message}\nFix the variables above and start again (see docs/api.md, "Configuration").`);
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

await main();
