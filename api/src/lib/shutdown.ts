// Graceful shutdown: readiness off (the proxy stops routing here), optional delay while it notices, stop
// accepting, let in-flight requests finish, close the pools, exit; forced exit after a timeout.
import type { Server } from 'node:http';
import type { Database } from './db.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

interface ShutdownDeps {
  server: Server;
  /** Closed last: Prometheus may scrape while requests drain. */
  metricsServer: Server;
  db: Database;
  lifecycle: Lifecycle;
  logger: Logger;
  delayMs: number;
  timeoutMs: number;
}

export function createShutdown(deps: ShutdownDeps) {
  const { server, db, lifecycle, logger } = deps;
  let done: Promise<void> | undefined;
  return (signal: string): Promise<void> => {
    done ??= (async () => {
      logger.info('shutdown started', { signal, timeoutMs: deps.timeoutMs });
      lifecycle.ready = false;
      const forced = setTimeout(() => {
        logger.error('shutdown timed out; exiting with requests still open', { timeoutMs: deps.timeoutMs });
        process.exit(1);
      }, deps.timeoutMs);
      forced.unref();
      if (deps.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, deps.delayMs));
      await new Promise<void>((resolve) => {
        // Keep-alive connections hold close() open: close each one as soon as its last request is answered,
        // and every connection once no request is left (a client may hold one open with an unfinished body).
        const reaper = setInterval(() => {
          if (lifecycle.inFlight === 0) server.closeAllConnections();
          else server.closeIdleConnections();
        }, 50);
        server.close(() => {
          clearInterval(reaper);
          resolve();
        });
        server.closeIdleConnections();
      });
      await db.close();
      deps.metricsServer.closeAllConnections();
      await new Promise((resolve) => deps.metricsServer.close(resolve));
      clearTimeout(forced);
      logger.info('shutdown complete');
    })();
    return done;
  };
}
