// A client that commits a numbered sequence of rows, one INSERT per autocommit transaction, and records
// which commits were acknowledged (the INSERT returned without error). What a failover must never lose is
// exactly that list. After any error it drops the connection, waits a little and connects again, as an
// application's pool would.
import pg from 'pg';

export interface Ack {
  seq: number;
  at: number;
}

export interface SequenceWriter {
  /** Acknowledged commits, in order. */
  readonly acks: readonly Ack[];
  /** INSERTs sent, acknowledged or not (a failed one may or may not have committed). */
  readonly attempts: number;
  /** Failures (connect or INSERT) by message, with how often each happened. */
  readonly failures: ReadonlyMap<string, number>;
  /** Resolves once `count` commits made after `since` (ms epoch) are acknowledged; rejects after `timeoutMs`. */
  waitForAcks(count: number, options: { since?: number; timeoutMs: number }): Promise<void>;
  /** The longest time between two consecutive acknowledgements: how long writes were unavailable. */
  longestGap(): { ms: number; lastBefore?: Ack; firstAfter?: Ack };
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Closes a client without waiting for a dead server more than a second. */
async function drop(client: pg.Client) {
  await Promise.race([client.end().catch(() => undefined), sleep(1_000)]);
}

export function startSequenceWriter(
  url: string,
  table: string,
  { retryDelayMs = 100, timeoutMs = 5_000 }: { retryDelayMs?: number; timeoutMs?: number } = {},
): SequenceWriter {
  const acks: Ack[] = [];
  const failures = new Map<string, number>();
  let attempts = 0;
  let stopping = false;

  const loop = (async () => {
    let client: pg.Client | undefined;
    while (!stopping) {
      try {
        if (!client) {
          const fresh = new pg.Client({
            connectionString: url,
            connectionTimeoutMillis: 2_000,
            query_timeout: timeoutMs,
          });
          // A server that dies under an idle client emits 'error'; the next query reports it.
          fresh.on('error', () => undefined);
          client = fresh;
          await fresh.connect();
        }
        const seq = ++attempts;
        await client.query(`INSERT INTO ${table} (seq) VALUES ($1)`, [seq]);
        acks.push({ seq, at: Date.now() });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.set(message, (failures.get(message) ?? 0) + 1);
        if (client) await drop(client);
        client = undefined;
        await sleep(retryDelayMs);
      }
    }
    if (client) await drop(client);
  })();

  return {
    acks,
    get attempts() {
      return attempts;
    },
    failures,
    async waitForAcks(count, { since = 0, timeoutMs: waitMs }) {
      const deadline = Date.now() + waitMs;
      while (acks.filter((ack) => ack.at > since).length < count) {
        if (Date.now() > deadline) {
          const seen = [...failures].map(([message, times]) => `${times}× ${message}`).join('; ');
          throw new Error(
            `only ${acks.filter((ack) => ack.at > since).length} of ${count} writes acknowledged ` +
              `within ${waitMs} ms (${attempts} attempts; failures: ${seen || 'none'})`,
          );
        }
        await sleep(50);
      }
    },
    longestGap() {
      let gap: { ms: number; lastBefore?: Ack; firstAfter?: Ack } = { ms: 0 };
      for (let i = 1; i < acks.length; i++) {
        const ms = acks[i]!.at - acks[i - 1]!.at;
        if (ms > gap.ms) gap = { ms, lastBefore: acks[i - 1], firstAfter: acks[i] };
      }
      return gap;
    },
    async stop() {
      stopping = true;
      await loop;
    },
  };
}
