// Prometheus metrics. One registry per instance, so tests can run several mail sinks in one process.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export type RejectReason = 'size' | 'storage';

export function createMetrics(app: { version: string; gitSha: string }, storedCount: () => number) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'mailsink_build_info',
    help: 'Build of the running mail sink; always 1',
    labelNames: ['version', 'git_sha'],
    registers: [registry],
  }).set({ version: app.version, git_sha: app.gitSha }, 1);

  new Gauge({
    name: 'mailsink_messages_stored',
    help: 'Messages in the mail box now',
    registers: [registry],
    collect() {
      this.set(storedCount());
    },
  });

  const rejected = new Counter({
    name: 'mailsink_messages_rejected_total',
    help: 'Messages refused at the end of DATA, by reason (size: over MAILSINK_MAX_BYTES; storage: not written)',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Every reason from the start, so that rate() works from the first rejection.
  for (const reason of ['size', 'storage'] satisfies RejectReason[]) rejected.inc({ reason }, 0);

  return {
    registry,
    received: new Counter({
      name: 'mailsink_messages_received_total',
      help: 'Messages accepted and stored',
      registers: [registry],
    }),
    receivedBytes: new Counter({
      name: 'mailsink_received_bytes_total',
      help: 'Size of the messages accepted and stored',
      registers: [registry],
    }),
    evicted: new Counter({
      name: 'mailsink_messages_evicted_total',
      help: 'Oldest messages removed to stay within MAILSINK_MAX_MESSAGES',
      registers: [registry],
    }),
    rejected,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
