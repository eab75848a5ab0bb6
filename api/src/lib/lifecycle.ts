import type { RequestHandler } from 'express';

/**
 * Readiness of this process (false from the start of shutdown, so /readyz tells the proxy to stop routing
 * here), whether it has been ready once (until then /healthz fails too: see system.routes.ts), and the requests
 * it is still answering.
 */
export class Lifecycle {
  ready = true;
  everReady = false;
  inFlight = 0;

  trackRequests(): RequestHandler {
    return (_req, res, next) => {
      this.inFlight++;
      res.once('close', () => this.inFlight--);
      next();
    };
  }
}
