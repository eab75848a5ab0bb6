// The Express application: middleware order and every router, mounted in one place. Never listens.
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express, { Router } from 'express';
import helmet from 'helmet';
import type { Config } from './config.js';
import type { Database } from './lib/db.js';
import type { Lifecycle } from './lib/lifecycle.js';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './lib/metrics.js';
import { registerSecurity, type RouteContext } from './lib/routes.js';
import { accessLog } from './middleware/access-log.js';
import { authenticate } from './middleware/authenticate.js';
import { errorHandler } from './middleware/error-handler.js';
import { httpMetrics } from './middleware/http-metrics.js';
import { notFoundHandler } from './middleware/not-found.js';
import { requestId } from './middleware/request-id.js';
import { authRoutes } from './modules/auth/auth.routes.js';
import { AuthService } from './modules/auth/auth.service.js';
import { itemsRoutes } from './modules/items/items.routes.js';
import { ItemsRepository } from './modules/items/items.repository.js';
import { ItemsService } from './modules/items/items.service.js';
import { docsRoutes, systemRoutes } from './modules/system/system.routes.js';
import { usersRoutes } from './modules/users/users.routes.js';
import { UsersRepository } from './modules/users/users.repository.js';
import { UsersService } from './modules/users/users.service.js';
import { usersTransferRoutes } from './modules/users/users-transfer.routes.js';
import { UsersTransferService } from './modules/users/users-transfer.service.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Database;
  lifecycle: Lifecycle;
}

export function createApp(deps: AppDeps) {
  const { config, logger, metrics, db } = deps;
  const usersRepository = new UsersRepository(db);
  const auth = new AuthService(config.auth, usersRepository, metrics, db.primaryPool);
  const users = new UsersService(usersRepository, db);
  const transfer = new UsersTransferService(db, metrics, config.import);
  const items = new ItemsService(new ItemsRepository(db), db);

  const app = express();
  app.disable('x-powered-by');
  // Answers are per-user and change with every write: a SHA-1 of each body buys clients nothing here.
  app.set('etag', false);
  app.set('trust proxy', config.http.trustProxyHops);
  app.set('query parser', 'simple');

  app.use(deps.lifecycle.trackRequests());
  app.use(requestId());
  app.use(httpMetrics(metrics));
  app.use(accessLog(logger));
  app.use(
    helmet({
      contentSecurityPolicy: {
        // Swagger UI (at /docs) is served from this origin; nothing is loaded from elsewhere.
        directives: { 'script-src': ["'self'"], 'img-src': ["'self'", 'data:'] },
      },
    }),
  );
  app.use(express.json({ limit: config.http.bodyLimitBytes, type: 'application/json', strict: true }));

  const registry = new OpenAPIRegistry();
  registerSecurity(registry);
  const authenticateRequest = authenticate(auth);
  const mount = (prefix: string): RouteContext => {
    const router = Router();
    app.use(prefix, router);
    return { router, registry, prefix: prefix === '/' ? '' : prefix, authenticate: authenticateRequest };
  };

  const root = mount('/');
  systemRoutes(root, { config, db, lifecycle: deps.lifecycle });
  authRoutes(mount('/v1/auth'), { auth, users: usersRepository });
  const usersContext = mount('/v1/users');
  // /import and /export before /:id, so they are not taken for an id.
  usersTransferRoutes(usersContext, { transfer });
  usersRoutes(usersContext, { users });
  itemsRoutes(mount('/v1/items'), { items });
  docsRoutes(root.router, root, config);

  app.use(notFoundHandler());
  app.use(errorHandler(logger, metrics));
  return app;
}
