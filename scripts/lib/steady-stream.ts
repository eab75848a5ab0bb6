// A steady stream of requests for zero-downtime checks: a few requests in flight at all times, every failure
// (a network error, or any answer but 2xx and 429 Too Many Requests from a rate limit) recorded; bounded in time, and it stops by itself.
import type { LabResponse } from './lab-https.js';

export interface StreamResult {
  sent: number;
  failed: string[];
}

export function steadyStream(
  send: () => Promise<LabResponse>,
  options: { minRequests: number; maxMs: number; concurrency?: number },
) {
  let stopping = false;
  let sent = 0;
  const failed: string[] = [];
  const deadline = Date.now() + options.maxMs;
  const worker = async () => {
    while (Date.now() < deadline && !(stopping && sent >= options.minRequests)) {
      sent += 1;
      try {
        const response = await send();
        if ((response.status < 200 || response.status > 299) && response.status !== 429)
          failed.push(`${response.status} ${response.body.slice(0, 120)}`);
      } catch (error) {
        failed.push((error as Error).message);
      }
    }
  };
  const workers = Array.from({ length: options.concurrency ?? 4 }, worker);
  return {
    /** Waits until at least minRequests were sent (or the time is up), then stops. */
    async stop(): Promise<StreamResult> {
      stopping = true;
      await Promise.all(workers);
      return { sent, failed };
    },
  };
}
