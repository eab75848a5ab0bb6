// A TCP proxy on 127.0.0.1 in front of PostgreSQL, standing in for the lab's db-router (HAProxy in TCP mode): the
// API connects through it, and a test switches what the router does with new connections.
//   forward   to the given port (the leader; or a member just demoted, during a switchover)
//   hang      accept and never answer (HAProxy holding a connection while no member is the leader)
//   close     accept, then close (no server available)
// `stop()` closes the listening socket: nothing answers on the port (connection refused).
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export type ProxyMode = { forward: number } | 'hang' | 'close';

export interface TcpProxy {
  port: number;
  set(mode: ProxyMode): void;
  /** Stops listening (new connections are refused); `listen()` listens again on the same port (if it does not). */
  stop(): Promise<void>;
  listen(): Promise<void>;
  /** Stops listening and ends every open connection. */
  destroy(): Promise<void>;
}

export async function startTcpProxy(initial: ProxyMode): Promise<TcpProxy> {
  let mode = initial;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (mode === 'hang') return;
    if (mode === 'close') {
      client.destroy();
      return;
    }
    const upstream = net.connect(mode.forward, '127.0.0.1');
    track(upstream);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  // close() stops accepting at once; its callback would wait for the open connections, which stay.
  const stop = async () => {
    server.close();
  };
  return {
    port,
    set: (next) => (mode = next),
    stop,
    listen: () => (server.listening ? Promise.resolve() : listen(port)),
    async destroy() {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await stop();
    },
  };
}
