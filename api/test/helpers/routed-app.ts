// The API on a real PostgreSQL primary and its streaming replica, reached through a TCP proxy that plays the lab's
// db-router: a test stops, cuts, or points it at the replica to play an outage, a failover or a switchover.
import { signedInUser } from '../factories/users.js';
import { startTestApp, type TestApp } from './app.js';
import { startReplicatedCluster, type ReplicatedCluster } from './replicated-cluster.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface RoutedApp {
  cluster: ReplicatedCluster;
  router: TcpProxy;
  app: TestApp;
  /** The headers of a signed-in user. */
  auth: Record<string, string>;
  /**
   * Every open connection of the API's role ends, as when its member is stopped or demoted, and the API's pool has
   * seen its idle ones go: else the next request could take one the server has already closed (connection lost).
   */
  cutApiConnections(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startRoutedApp(env: Record<string, string>): Promise<RoutedApp> {
  const cluster = await startReplicatedCluster();
  const router = await startTcpProxy({ forward: cluster.primary.port });
  const superuser = cluster.primary.url('swarmlab');
  const app = await startTestApp({
    database: { name: 'swarmlab', urls: { superuser, app: '', migrator: '', readonly: '' }, drop: async () => {} },
    databaseUrl: cluster.appUrl(cluster.primary).replace(`:${cluster.primary.port}/`, `:${router.port}/`),
    env: { DB_POOL_MAX: '2', ...env },
  });
  const { auth } = await signedInUser(app);
  return {
    cluster,
    router,
    app,
    auth,
    async cutApiConnections() {
      await cluster.sql(
        cluster.primary,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'",
      );
      for (let attempt = 0; attempt < 100; attempt++) {
        const metrics = await app.metrics();
        if (/db_pool_connections\{pool="primary",state="idle"\} 0\b/.test(metrics)) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error("the API's pool kept connections the server had closed");
    },
    async destroy() {
      await app.close();
      await router.destroy();
      await cluster.destroy();
    },
  };
}
