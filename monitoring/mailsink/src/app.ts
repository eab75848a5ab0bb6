// The Express application: middleware order and every router, mounted in one place. Never listens.
// No authentication here: the stack publishes the UI behind the edge's ops basic auth, and SMTP and /metrics are
// reached on the internal monitoring network only.
import express from 'express';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './lib/metrics.js';
import type { MailStore } from './lib/store.js';
import { accessLog } from './middleware/access-log.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { securityHeaders } from './middleware/security-headers.js';
import { apiRoutes } from './routes/api.routes.js';
import { pageRoutes } from './routes/pages.routes.js';
import { systemRoutes } from './routes/system.routes.js';

export interface AppDeps {
  store: MailStore;
  metrics: Metrics;
  logger: Logger;
}

export function createApp(deps: AppDeps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(accessLog(deps.logger));
  app.use(securityHeaders());

  app.use(systemRoutes(deps));
  app.use('/api', apiRoutes(deps));
  app.use(pageRoutes(deps));

  app.use(notFoundHandler());
  app.use(errorHandler(deps.logger));
  return app;
}
