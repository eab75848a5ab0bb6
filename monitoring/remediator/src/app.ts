// The Express application: middleware order and routes, mounted in one place. Never listens (server.ts does).
import express from 'express';
import { AuditLog } from './audit.js';
import type { Config } from './config.js';
import type { Logger } from './lib/logger.js';
import { createMetrics, type Metrics } from './lib/metrics.js';
import { accessLog } from './middleware/access-log.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { requestId } from './middleware/request-id.js';
import { Remediator } from './remediator.js';
import { remediatorRoutes, systemRoutes } from './routes.js';
import type { SwarmActions } from './swarm.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** The real swarm (DockerSwarmActions) or a test double; never called in dry-run. */
  swarm: SwarmActions;
  /** Loaded by the caller when history should survive restarts; a fresh one on config.audit.file otherwise. */
  audit?: AuditLog;
  metrics?: Metrics;
  /** The clock of the cooldowns and the hourly cap (ms since the epoch). */
  now?: () => number;
}

export function createApp(deps: AppDeps) {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const audit = deps.audit ?? new AuditLog(config.audit.file, (error) => logger.error('audit write failed', { error }));
  const remediator = new Remediator({ config, swarm: deps.swarm, audit, metrics, logger, now: deps.now });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(requestId());
  app.use(accessLog(logger));
  app.use(systemRoutes({ metrics, dryRun: config.dryRun }));
  app.use(remediatorRoutes({ token: config.auth.token, dryRun: config.dryRun, remediator, audit, metrics }));
  app.use(notFoundHandler());
  app.use(errorHandler(logger));
  return app;
}
