// The Express application: middleware order and every router, mounted in one place. Never listens.
// The pages and the API ask for the mail sink's user (middleware/basic-auth.ts); /healthz and /metrics do not.
// SMTP has no authentication: Alertmanager and the weekly report send on the internal monitoring network.
import express from 'express';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './lib/metrics.js';
import type { MailStore } from './lib/store.js';
import { accessLog } from './middleware/access-log.js';
import { basicAuth } from './middleware/basic-auth.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { securityHeaders } from './middleware/security-headers.js';
import { apiRoutes } from './routes/api.routes.js';
import { pageRoutes } from './routes/pages.routes.js';
import { systemRoutes } from './routes/system.routes.js';

export interface AppDeps {
  /** The password of the user mailsink, which the pages and the API ask for. */
  password: string;
  store: MailStore;
  metrics: Metrics;
  logger: Logger;
}

/** The one user of the pages and the API. */
export const USER = 'mailsink';

export function createApp(deps: AppDeps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(accessLog(deps.logger));
  app.use(securityHeaders());

  app.use(systemRoutes(deps));
  app.use(basicAuth(USER, deps.password));
  app.use('/api', apiRoutes(deps));
  app.use(pageRoutes(deps));

  app.use(notFoundHandler());
  app.use(errorHandler(deps.logger));
  return app;
}
