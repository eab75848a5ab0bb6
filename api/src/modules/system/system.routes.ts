// Operational endpoints: identity, liveness, readiness, and the API's own documentation (metrics have their own
// port: lib/metrics-server.ts).
import { OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { RequestHandler, Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { Database } from '../../lib/db.js';
import { AppError } from '../../lib/errors.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { defineRoute, type RouteContext } from '../../lib/routes.js';

const IndexSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    gitSha: z.string(),
    links: z.record(z.string(), z.string()),
  })
  .openapi('Index');
const StatusSchema = z.object({ status: z.string() }).openapi('Status');

interface SystemDeps {
  config: Config;
  db: Database;
  lifecycle: Lifecycle;
}

export function systemRoutes(context: RouteContext, deps: SystemDeps) {
  const { config, db, lifecycle } = deps;
  defineRoute(
    context,
    {
      method: 'get',
      path: '/',
      summary: 'What this API is and where to go next',
      tags: ['system'],
      access: 'public',
      responses: { 200: { description: 'name, version and links', schema: IndexSchema } },
    },
    (_input, _req, res) => {
      res.json({
        name: config.app.name,
        version: config.app.version,
        gitSha: config.app.gitSha,
        links: {
          docs: '/docs',
          openapi: '/openapi.json',
          login: '/v1/auth/login',
          users: '/v1/users',
          items: '/v1/items',
          health: '/healthz',
          ready: '/readyz',
        },
      });
    },
  );
  defineRoute(
    context,
    {
      method: 'get',
      path: '/healthz',
      summary:
        'Liveness: the process answers, and it has been ready once. Until its first successful database check it ' +
        'answers 503, so a release that never gets ready never turns healthy: Swarm keeps the old tasks (start-first) ' +
        "and rolls the update back after the health check's start period. Once ready, a database outage does not fail it.",
      tags: ['system'],
      access: 'public',
      responses: { 200: { description: 'alive', schema: StatusSchema } },
      errors: [503],
    },
    async (_input, _req, res) => {
      if (!lifecycle.everReady) {
        let timer: NodeJS.Timeout | undefined;
        try {
          // Bounded: the container's health check gives this answer 2 s.
          await Promise.race([
            db.ping(),
            new Promise<never>((_resolve, reject) => {
              timer = setTimeout(() => reject(new Error('ping timed out')), 1000);
            }),
          ]);
          lifecycle.everReady = true;
        } catch (error) {
          throw new AppError('not-ready-yet', 'this instance has not been ready once yet', 503, { cause: error });
        } finally {
          clearTimeout(timer);
        }
      }
      res.json({ status: 'ok' });
    },
  );
  defineRoute(
    context,
    {
      method: 'get',
      path: '/readyz',
      summary:
        'Readiness: the process is not shutting down, and the database answers or answered within READY_GRACE_SECONDS ' +
        '(a switchover or a failover lasts seconds: requests wait for the database, up to DB_WAIT_SECONDS, rather ' +
        'than every task leaving the edge at once). After the grace, 503: the edge answers for the tasks, at once.',
      tags: ['system'],
      access: 'public',
      responses: { 200: { description: 'ready', schema: StatusSchema } },
      errors: [503],
    },
    async (_input, _req, res) => {
      if (!lifecycle.ready) throw new AppError('shutting-down', 'this instance is shutting down', 503);
      let timer: NodeJS.Timeout | undefined;
      try {
        // Bounded: Traefik's check gives this answer 1 s, and the pool would wait for the database.
        await Promise.race([
          db.ping(),
          new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error('ping timed out')), 500);
          }),
        ]);
      } catch (error) {
        if (!lifecycle.everReady || !db.answeredWithin(config.db.readyGraceMs))
          throw new AppError('database-unavailable', 'the database does not answer', 503, { cause: error });
        res.json({ status: 'waiting for the database' });
        return;
      } finally {
        clearTimeout(timer);
      }
      lifecycle.everReady = true;
      res.json({ status: 'ready' });
    },
  );
}

/** Serves the OpenAPI document built from every registered route, and Swagger UI over it. */
export function docsRoutes(router: Router, context: RouteContext, config: Config) {
  let document: unknown;
  const build = () =>
    (document ??= new OpenApiGeneratorV31(context.registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: {
        title: 'swarmlab API',
        version: config.app.version,
        description: 'Users, items, bulk import and export. Errors are RFC 9457 problem+json.',
      },
      servers: [{ url: '/' }],
    }));
  router.get('/openapi.json', (_req, res) => {
    res.locals.route = '/openapi.json';
    res.json(build());
  });
  const recordRoute: RequestHandler = (_req, res, next) => {
    res.locals.route = '/docs';
    next();
  };
  router.use(
    '/docs',
    recordRoute,
    swaggerUi.serve,
    swaggerUi.setup(undefined, { swaggerOptions: { url: '/openapi.json' } }),
  );
}
