// Prometheus' door: GET /metrics on its own port (METRICS_PORT), which the edge never routes to. The public port has
// no /metrics at all, so no spelling of the path (/METRICS, /metrics/) reaches it from outside. Containers on the
// API's overlay networks can still read it: it has no key yet.
import { createServer } from 'node:http';
import type { Metrics } from './metrics.js';

export function createMetricsServer(metrics: Metrics) {
  return createServer((req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
}
