// Starts the remediator on a config: audit history, Docker client, app, listen; returns the handles to stop it.
// Used by server.ts (the process) and by the tests (port 0).
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { createApp } from './app.js';
import { AuditLog } from './audit.js';
import type { Config } from './config.js';
import type { Logger } from './lib/logger.js';
import { DockerSwarmActions, type SwarmActions } from './swarm.js';

// A Docker call that hangs would hold every later notification (they are handled one at a time).
const DOCKER_TIMEOUT_MS = 30_000;

export async function startServer(config: Config, logger: Logger, options: { swarm?: SwarmActions } = {}) {
  const audit = new AuditLog(config.audit.file, (error) => logger.error('audit write failed', { error }));
  await audit.load();
  let swarm = options.swarm;
  if (!swarm) {
    const docker = new Docker({ ...config.docker, timeout: DOCKER_TIMEOUT_MS });
    if (!config.dryRun) {
      // Not fatal: the webhook stays up, and actions fail (audited, counted) until the engine answers.
      await docker.ping().catch((error: unknown) => logger.warn('docker engine not reachable', { error }));
    }
    swarm = new DockerSwarmActions(docker, config.stack);
  }
  const app = createApp({ config, logger, swarm, audit });

  const server = app.listen(config.http.port, config.http.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  logger.info('listening', {
    port,
    dryRun: config.dryRun,
    stack: config.stack,
    bounds: config.bounds,
    guards: config.guards,
    restartAllowlist: config.policy.restartAllowlist,
  });

  let done: Promise<void> | undefined;
  /** Stops accepting, lets the notification in hand finish its actions, flushes the audit file. */
  const shutdown = (signal: string): Promise<void> => {
    done ??= (async () => {
      logger.info('shutdown started', { signal });
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await audit.flush();
      logger.info('shutdown complete');
    })();
    return done;
  };
  return { server, port, shutdown };
}
