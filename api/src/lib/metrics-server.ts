// Prometheus' door: GET /metrics on its own port (METRICS_PORT), which only the monitoring network reaches. The
// public port has no /metrics at all, so no spelling of the path (/METRICS, /metrics/) can reach it through the edge.
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
