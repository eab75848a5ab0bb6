// `npm run bench:failover`: how long writes are unavailable when the leader dies, and whether any acknowledged
// write is lost, over several forced failovers of the local data tier under a steady write load. A benchmark,
// not a test: figures never fail it.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { intFlag, parseFlags, runCommand } from './lib/cli.js';
import { startHaCluster, type HaCluster } from './lib/ha-cluster.js';
import { step, summary } from './lib/log.js';
import { startSequenceWriter, type SequenceWriter } from './lib/sequence-writer.js';
import { formatSeconds, formatTable } from './lib/patroni.js';

const HELP = `
Usage: npm run bench:failover [-- --rounds <n>]

Starts the data tier on 127.0.0.1 (3 etcd, 2 Patroni members, the HAProxy db-router), runs one writer that
commits numbered rows through the router's rw port (autocommit, reconnecting on error), and fails over
--rounds times: kill -9 the leader (Patroni and PostgreSQL), wait until writes resume, start the old member
again and wait until it streams from the new leader. Per round it measures the write unavailability (last
acknowledged commit before the gap to the first after); at the end it checks that every acknowledged row
exists. Prints a table, the median and worst unavailability, the acknowledged-but-lost count and whether the
aims hold (median < 15 s, worst < 30 s, none lost). About 30 s a round. Exits 0 whatever the figures; 1 only
if something broke.

Options:
  --rounds <n>   forced failovers (default 5)
  -h, --help     show this help
`;

const AIMS = { medianMs: 15_000, worstMs: 30_000 };
const PACE_MS = 10; // ~80 commits/s: steady, and a 10 ms resolution on the gap
const RESUME_TIMEOUT_MS = 90_000;
const REJOIN_TIMEOUT_MS = 120_000;
const SETTLE_MS = 2_000;
const TABLE = 'failover_bench';

interface Round {
  round: number;
  crashed: string;
  newLeader: string;
  unavailableMs: number;
  failedAttempts: number;
  rejoinMs: number;
}

async function failOver(cluster: HaCluster, writer: SequenceWriter, round: number): Promise<Round> {
  const leader = await step(`round ${round}: wait for a synchronous standby in Patroni's view`, () =>
    cluster.waitForHealthy({ replicas: 1, timeoutMs: REJOIN_TIMEOUT_MS }),
  );
  const failedBefore = writer.failureCount;
  await step(`round ${round}: kill -9 the leader ${leader.name}`, () => leader.crash());
  const sentBeforeCrash = writer.attempts;
  await step(`round ${round}: wait until writes resume`, () =>
    writer.waitForAcks(1, { afterSeq: sentBeforeCrash, timeoutMs: RESUME_TIMEOUT_MS }),
  );
  const gap = writer.outage(sentBeforeCrash);
  const failedAttempts = writer.failureCount - failedBefore;

  const rejoinStarted = performance.now();
  const newLeader = await step(`round ${round}: start ${leader.name} again, wait until it streams`, async () => {
    leader.start();
    return cluster.waitForHealthy({ replicas: 1, timeoutMs: REJOIN_TIMEOUT_MS });
  });
  if (newLeader.name === leader.name) {
    throw new Error(`${leader.name} leads again after its crash: the failover did not happen`);
  }
  const rejoinMs = performance.now() - rejoinStarted;
  await sleep(SETTLE_MS);
  return { round, crashed: leader.name, newLeader: newLeader.name, unavailableMs: gap.ms, failedAttempts, rejoinMs };
}

async function countLost(cluster: HaCluster, writer: SequenceWriter) {
  const client = new pg.Client(cluster.url('rw', 'app'));
  await client.connect();
  try {
    const { rows } = await client.query<{ seq: string }>(`SELECT seq FROM ${TABLE}`);
    const present = rows.map((row) => Number(row.seq));
    const acked = new Set(writer.acks.map((ack) => ack.seq));
    return {
      lost: writer.lost(present),
      unacknowledgedButPresent: present.filter((seq) => !acked.has(seq)).length,
    };
  } finally {
    await client.end();
  }
}

function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const verdict = (holds: boolean) => (holds ? 'holds' : 'MISSED');

async function main() {
  const flags = parseFlags(process.argv.slice(2), { rounds: { type: 'string' } }, HELP);
  const rounds = intFlag('rounds', flags.rounds ?? '5', 1, 20);

  const started = performance.now();
  const cluster = await step('start 3 etcd, 2 Patroni members and the db-router', () => startHaCluster());
  let writer: SequenceWriter | undefined;
  // Ctrl-C (or a kill) mid-round: the processes and their data go, as at the end of a run.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\nInterrupted (${signal}): stopping the data tier and deleting its data`);
      void Promise.allSettled([writer?.stop(), cluster.destroy()]).finally(() => process.exit(130));
    });
  }
  const results: Round[] = [];
  try {
    await step(`create table app.${TABLE} as migrator`, async () => {
      const client = new pg.Client(cluster.url('rw', 'migrator'));
      await client.connect();
      try {
        await client.query(
          `CREATE TABLE app.${TABLE} (seq bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
        );
      } finally {
        await client.end();
      }
    });
    const running = await step('start the writer (1 client, autocommit, through the rw port)', async () => {
      writer = startSequenceWriter(cluster.url('rw', 'app'), `app.${TABLE}`, { paceMs: PACE_MS });
      await writer.waitForAcks(1, { timeoutMs: SETTLE_MS * 5 });
      return writer;
    });
    for (let round = 1; round <= rounds; round += 1) results.push(await failOver(cluster, running, round));
    await step('stop the writer', () => running.stop());
    const check = await step('check every acknowledged row exists', () => countLost(cluster, running));

    const unavailable = results.map((r) => r.unavailableMs);
    const med = median(unavailable);
    const worst = Math.max(...unavailable);
    console.log(
      `\n${formatTable(
        ['round', 'killed leader', 'new leader', 'writes unavailable', 'failed attempts', 'old leader back after'],
        results.map((r) => [
          String(r.round),
          r.crashed,
          r.newLeader,
          formatSeconds(r.unavailableMs),
          String(r.failedAttempts),
          formatSeconds(r.rejoinMs),
        ]),
        [0, 3, 4, 5],
      )}`,
    );
    summary(`Failover benchmark (${rounds} rounds, ${formatSeconds(performance.now() - started)})`, {
      'acknowledged rows': String(running.acks.length),
      'median unavailable': formatSeconds(med),
      'worst unavailable': formatSeconds(worst),
      'acknowledged but lost':
        String(check.lost.length) + (check.lost.length ? ` (seq = ${check.lost.slice(0, 10).join(', ')}…)` : ''),
      'committed, ack lost': `${check.unacknowledgedButPresent} (a commit in flight when the leader died; not a loss)`,
    });
    summary('Aims', {
      [`median < ${AIMS.medianMs / 1000} s`]: `${verdict(med < AIMS.medianMs)} (${formatSeconds(med)})`,
      [`worst < ${AIMS.worstMs / 1000} s`]: `${verdict(worst < AIMS.worstMs)} (${formatSeconds(worst)})`,
      'zero acknowledged rows lost': `${verdict(check.lost.length === 0)} (${check.lost.length})`,
    });
  } catch (error) {
    console.error(`\nthe benchmark broke; the processes' last log lines:\n${await cluster.logs()}`);
    throw error;
  } finally {
    await writer?.stop();
    await step('stop the data tier and delete its data', () => cluster.destroy());
  }
}

await runCommand(main);
