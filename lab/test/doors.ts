// The lab's internal doors, tried from a shell inside a running task as an attacker who took that task would:
// name resolution, a TCP connection, then one HTTP request without any credential. The e2e's attack suite runs it
// in a public API task and compares what answers with what the API needs (docs/security.md).

/** One door: a service's port, and the request that would do harm (or leak) if it were answered. */
export interface Door {
  host: string;
  port: number;
  /** An HTTP request to send once connected; none for a non-HTTP port (a connection is the answer). */
  http?: { method: 'GET' | 'POST' | 'PUT'; path: string; body?: string };
  /** What an answer would give away. */
  harm: string;
}

/**
 * What a door gave: `no such host` (the name does not resolve on any network of the task), `unreachable`
 * (no route, refused, or no answer within the timeout), `closed` (accepted, then cut or reset without an answer),
 * `open` (a TCP door that accepted), or the HTTP status.
 */
export type Outcome = 'no such host' | 'unreachable' | 'closed' | 'open' | number;

export const DOORS: Door[] = [
  ...['etcd1', 'etcd2', 'etcd3'].map((host) => ({
    host,
    port: 2379,
    http: { method: 'POST' as const, path: '/v3/kv/range', body: '{"key":"AA==","range_end":"AA=="}' },
    harm: "Patroni's leader key and the cluster's configuration",
  })),
  ...['postgres1', 'postgres2'].flatMap((host) => [
    { host, port: 5432, harm: 'PostgreSQL itself, past db-router' },
    { host, port: 8008, http: { method: 'GET' as const, path: '/patroni' }, harm: "Patroni's REST API" },
  ]),
  { host: 'backup', port: 8432, harm: "pgBackRest's TLS server (the repository)" },
  {
    host: 'alertmanager',
    port: 9093,
    http: { method: 'POST', path: '/api/v2/alerts', body: '[]' },
    harm: 'forged alerts, which reach the remediator',
  },
  {
    host: 'pushgateway',
    port: 9091,
    http: { method: 'PUT', path: '/metrics/job/backup', body: '' },
    harm: 'fake backup timestamps that hide a failing backup',
  },
  {
    host: 'prometheus',
    port: 9090,
    http: { method: 'GET', path: '/api/v1/query?query=up' },
    harm: 'every metric of the lab, and its admin API',
  },
  {
    host: 'remediator',
    port: 8080,
    http: { method: 'GET', path: '/healthz' },
    harm: 'the service that acts on alerts',
  },
  { host: 'mailsink', port: 8025, http: { method: 'GET', path: '/api/messages' }, harm: 'every alert mail' },
  { host: 'reporter', port: 8080, http: { method: 'GET', path: '/' }, harm: 'the weekly reports' },
  { host: 'loki', port: 3100, http: { method: 'GET', path: '/ready' }, harm: 'every log line (push and query)' },
  { host: 'grafana', port: 3000, http: { method: 'GET', path: '/api/health' }, harm: 'the dashboards' },
  { host: 'jenkins', port: 8080, http: { method: 'GET', path: '/login' }, harm: 'the pipeline and its credentials' },
  {
    host: 'docker-socket-proxy',
    port: 2375,
    http: { method: 'GET', path: '/_ping' },
    harm: "the manager's Docker API (read-only)",
  },
  {
    host: 'remediator-socket-proxy',
    port: 2375,
    http: { method: 'GET', path: '/containers/json' },
    harm: "the remediator's Docker API: updates the API service, execs in the backup task",
  },
  ...['postgres-exporter1', 'node-exporter', 'cadvisor', 'alloy'].map((host) => ({
    host,
    port: { 'postgres-exporter1': 9187, 'node-exporter': 9100, cadvisor: 8080, alloy: 12345 }[host]!,
    http: { method: 'GET' as const, path: '/metrics' },
    harm: 'metrics of the database or the nodes',
  })),
  {
    host: 'db-router',
    port: 5432,
    harm: 'the database, through its router: the API needs it, and it asks for the role password',
  },
  { host: 'db-router', port: 8404, http: { method: 'GET', path: '/stats' }, harm: "the router's statistics" },
  { host: 'traefik', port: 8082, http: { method: 'GET', path: '/metrics' }, harm: "the edge's metrics" },
  { host: 'edge-fallback', port: 8404, http: { method: 'GET', path: '/stats' }, harm: "the edge's statistics" },
];

/**
 * Node source run in the task (`node --input-type=module -e <this> <doors as JSON>`): prints one JSON array of
 * outcomes, in the order of the doors. Node 24 is in the API's image; nothing else is needed.
 */
export const PROBE_SOURCE = `
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
const doors = JSON.parse(process.argv[1]);
const TIMEOUT_MS = 3000;
const CUT = new Set(['ECONNRESET', 'EPIPE']);
async function attempt(door) {
  try {
    await lookup(door.host);
  } catch {
    return 'no such host';
  }
  return new Promise((resolve) => {
    const socket = connect({ host: door.host, port: door.port });
    let connected = false;
    const done = (outcome) => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(TIMEOUT_MS, () => done(connected ? 'closed' : 'unreachable'));
    // A reset is a door that accepted, then cut (its 'connect' may come after the reset, or never).
    socket.on('error', (error) => done(connected || CUT.has(error.code) ? 'closed' : 'unreachable'));
    socket.on('end', () => done('closed'));
    socket.on('connect', () => {
      connected = true;
      if (!door.http) return done('open');
      const body = door.http.body ?? '';
      socket.write(door.http.method + ' ' + door.http.path + ' HTTP/1.1\\r\\nHost: ' + door.host + '\\r\\n' +
        'Content-Type: application/json\\r\\nContent-Length: ' + Buffer.byteLength(body) + '\\r\\nConnection: close\\r\\n\\r\\n' + body);
    });
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      const status = /^HTTP\\/1\\.[01] (\\d{3})/.exec(answer);
      if (status) done(Number(status[1]));
    });
  });
}
const outcomes = [];
for (const door of doors) outcomes.push(await attempt(door));
console.log(JSON.stringify(outcomes));
`;
