/** Readiness of this process: false from the start of shutdown, so /readyz tells the proxy to stop routing here. */
export class Lifecycle {
  ready = true;
  shuttingDown = false;
}
