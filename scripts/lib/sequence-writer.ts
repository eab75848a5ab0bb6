// A client that commits a numbered sequence of rows, one INSERT per autocommit transaction, and records
// which commits were acknowledged (the INSERT returned without error). What a failover must never lose is
// exactly that list. After any error it drops the connection, waits a little and connects again, as an
// application's pool would. Used by the data-tier tests, the db:* command tests and bench:failover.
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
  /**
   * Resolves once `count` commits are acknowledged after `since` (ms epoch) and with a number above `afterSeq`
   * (an INSERT sent before a crash may still be acknowledged after it: pass `attempts` read then to skip it);
   * rejects after `timeoutMs`.
   */
  waitForAcks(count: number, options: { since?: number; afterSeq?: number; timeoutMs: number }): Promise<void>;
  /** The longest time between two consecutive acknowledgements: how long writes were unavailable. */
  longestGap(): Gap;
  /**
   * One outage: from the last acknowledgement of a number up to `sentBefore` (the attempts count read when the
   * outage began) to the first acknowledgement of a later number.
   */
  outage(sentBefore: number): Gap;
  /** Failed attempts so far, connecting or inserting. */
  readonly failureCount: number;
  /** The sequence numbers acknowledged but missing from `present` (what must never happen). */
  lost(present: Iterable<number>): number[];
  stop(): Promise<void>;
}

export interface Gap {
  ms: number;
  lastBefore?: Ack;
  firstAfter?: Ack;
}

interface WriterOptions {
  /** The column holding the sequence number (default `seq`). */
  column?: string;
  /** Pause after each acknowledged commit (default 0: as fast as the server answers). */
  paceMs?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Closes a client without waiting for a dead server more than a second. */
async function drop(client: pg.Client) {
  await Promise.race([client.end().catch(() => undefined), sleep(1_000)]);
}

export function startSequenceWriter(
  url: string,
  table: string,
  { column = 'seq', paceMs = 0, retryDelayMs = 100, timeoutMs = 5_000 }: WriterOptions = {},
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
        await client.query(`INSERT INTO ${table} (${column}) VALUES ($1)`, [seq]);
        acks.push({ seq, at: Date.now() });
        if (paceMs > 0) await sleep(paceMs);
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
    async waitForAcks(count, { since = 0, afterSeq = 0, timeoutMs: waitMs }) {
      const deadline = Date.now() + waitMs;
      const counted = () => acks.filter((ack) => ack.at > since && ack.seq > afterSeq).length;
      while (counted() < count) {
        if (Date.now() > deadline) {
          const seen = [...failures].map(([message, times]) => `${times}× ${message}`).join('; ');
          throw new Error(
            `only ${counted()} of ${count} writes acknowledged ` +
              `within ${waitMs} ms (${attempts} attempts; failures: ${seen || 'none'})`,
          );
        }
        await sleep(50);
      }
    },
    longestGap() {
      return widestGap(acks, 0, acks.length - 1);
    },
    outage(sentBefore) {
      const lastBefore = acks.findLast((ack) => ack.seq <= sentBefore);
      const firstAfter = acks.find((ack) => ack.seq > sentBefore);
      if (!lastBefore || !firstAfter) return { ms: 0 };
      return { ms: firstAfter.at - lastBefore.at, lastBefore, firstAfter };
    },
    get failureCount() {
      return [...failures.values()].reduce((sum, times) => sum + times, 0);
    },
    lost(present) {
      const found = new Set(present);
      return acks.filter((ack) => !found.has(ack.seq)).map((ack) => ack.seq);
    },
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

/** The widest pause between consecutive acknowledgements acks[first..last]. */
function widestGap(acks: readonly Ack[], first: number, last: number): Gap {
  let gap: Gap = { ms: 0 };
  for (let i = first; i < last; i++) {
    const ms = acks[i + 1]!.at - acks[i]!.at;
    if (ms > gap.ms) gap = { ms, lastBefore: acks[i], firstAfter: acks[i + 1] };
  }
  return gap;
}
