import type { RequestHandler } from 'express';

/**
 * Readiness of this process (false from the start of shutdown, so /readyz tells the proxy to stop routing
 * here) and the requests it is still answering.
 */
export class Lifecycle {
  ready = true;
  inFlight = 0;

  trackRequests(): RequestHandler {
    return (_req, res, next) => {
      this.inFlight++;
      res.once('close', () => this.inFlight--);
      next();
    };
  }
}
