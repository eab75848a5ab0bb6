// The db: operator commands as an operator runs them (child processes via tsx), against a real data tier:
// 3 etcd, 2 Patroni-managed PostgreSQL members and the HAProxy db-router on 127.0.0.1.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHaCluster, type HaCluster } from '../lib/ha-cluster.js';
import { REPO_ROOT as REPO } from '../lib/paths.js';
import { startSequenceWriter, type SequenceWriter } from '../lib/sequence-writer.js';
import { queryOnce } from '../lib/sql.js';

const TSX = path.join(REPO, 'node_modules/.bin/tsx');
const COMMAND_TIMEOUT_MS = 150_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs scripts/<script>.ts with stdin closed (not a terminal), and returns its exit code and output. */
function run(script: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  const env = { ...process.env };
  for (const name of ['PATRONI_API_URL', 'PATRONI_API_PASSWORD_FILE', 'DB_ROUTER_STATS_URL', 'DOCKER_HOST'])
    delete env[name];
  Object.assign(env, extraEnv);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [path.join(REPO, 'scripts', `${script}.ts`), ...args], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

describe('db: operator commands against a Patroni cluster', () => {
  let cluster: HaCluster;
  let secretsDir: string;
  let api: string[];
  let writer: SequenceWriter | undefined;

  beforeAll(async () => {
    cluster = await startHaCluster();
    secretsDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-db-commands-'));
    const passwordFile = path.join(secretsDir, 'patroni-api-password');
    await writeFile(passwordFile, cluster.passwords.restapi, { mode: 0o600 });
    api = ['--api', cluster.members[0]!.apiUrl, '--api-password-file', passwordFile];
  });

  afterAll(async () => {
    await writer?.stop();
    await cluster?.destroy();
    if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
  });

  const leaderName = async () => (await cluster.status()).find((m) => m.role === 'leader')!.name;

  it('db:status --json › when the cluster is healthy, then it lists one leader and one replica', async () => {
    const result = await run('db-status', [...api, '--json']);

    expect(result.code, result.stderr).toBe(0);
    const status = JSON.parse(result.stdout) as {
      scope: string;
      synchronousMode: boolean;
      leader: string;
      members: { name: string; role: string; state: string; timeline: number; lagBytes: number | null }[];
    };
    expect(status.scope).toBe('swarmlab');
    expect(status.synchronousMode).toBe(true);
    const leaders = status.members.filter((m) => m.role === 'leader');
    const replicas = status.members.filter((m) => m.role === 'replica' || m.role === 'sync_standby');
    expect(leaders.map((m) => m.name)).toEqual([await leaderName()]);
    expect(replicas).toHaveLength(1);
    expect(replicas[0]).toMatchObject({ state: 'running', timeline: leaders[0]!.timeline });
    expect(replicas[0]!.lagBytes).toEqual(expect.any(Number));
  });

  it('db:status › when run for a person, then it prints a table with every member and its role', async () => {
    const result = await run('db-status', api);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/member\s+role\s+state\s+postgres\s+host:port\s+timeline\s+lag/);
    for (const member of cluster.members) expect(result.stdout).toContain(member.name);
    expect(result.stdout).toMatch(/synchronous mode on/);
  });

  it('db:status › when no flag names a cluster and there is no lab, then it says how to start one, or --local', async () => {
    const emptyLab = await mkdtemp(path.join(tmpdir(), 'swarmlab-nolab-'));
    try {
      const result = await run('db-status', [], { LAB_DIR: emptyLab });

      expect(result.code).toBe(1);
      expect(result.stderr).toContain('No lab found');
      expect(result.stderr).toContain('npm run lab:up');
      expect(result.stderr).toContain('add --local');
    } finally {
      await rm(emptyLab, { recursive: true, force: true });
    }
  });

  it('db:reinit › when asked to reinitialize the leader, then it refuses and says how to rebuild it', async () => {
    const leader = await leaderName();

    const result = await run('db-reinit', [leader, '--yes', ...api]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${leader} is the leader`);
    expect(result.stderr).toContain('npm run db:switchover');
    expect(await leaderName()).toBe(leader);
  });

  it('db:failover › when the candidate is unknown, then it fails naming the members and changes nothing', async () => {
    const leader = await leaderName();

    const result = await run('db-failover', ['--candidate', 'member9', '--yes', ...api]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No member named "member9"');
    for (const member of cluster.members) expect(result.stderr).toContain(member.name);
    expect(await leaderName()).toBe(leader);
  });

  it('db:switchover › when not run from a terminal and without --yes, then it refuses and changes nothing', async () => {
    const leader = await leaderName();

    const result = await run('db-switchover', api);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('pass --yes');
    expect(await leaderName()).toBe(leader);
  });

  it(
    'db:switchover --yes › when a writer commits numbered rows, then the other member leads, writes resume ' +
      'and no acknowledged row is lost',
    async () => {
      await queryOnce(
        cluster.url('rw', 'migrator'),
        'CREATE TABLE app.switchover_probe (seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())',
      );
      const before = await leaderName();
      const other = cluster.members.find((m) => m.name !== before)!.name;
      const probe = startSequenceWriter(cluster.url('rw', 'app'), 'app.switchover_probe', { paceMs: 10 });
      writer = probe;
      await probe.waitForAcks(5, { timeoutMs: 10_000 });

      const result = await run('db-switchover', ['--yes', ...api]);
      const finishedAt = Date.now();
      const resumed = await probe.waitForAcks(1, { since: finishedAt, timeoutMs: 30_000 }).then(
        () => true,
        () => false,
      );
      await probe.stop();

      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(await leaderName()).toBe(other);
      expect(resumed).toBe(true);
      const { rows } = await queryOnce<{ seq: string }>(cluster.url('rw', 'app'), 'SELECT seq FROM switchover_probe');
      expect(probe.lost(rows.map((row) => Number(row.seq)))).toEqual([]);
      const took = /took\s+(.+)/.exec(result.stdout)?.[1] ?? '?';
      console.log(
        `switchover ${before} → ${other}: command took ${took}; writes paused at most ` +
          `${(probe.longestGap().ms / 1000).toFixed(1)} s; ${probe.acks.length} rows acknowledged, none lost`,
      );
    },
    180_000,
  );

  // Last: it takes etcd's quorum away from the cluster the other tests use.
  it('db:status › when etcd loses quorum and the leader steps down, then it exits 1 saying no member accepts writes', async () => {
    await Promise.all(cluster.etcd.slice(1).map((member) => member.process.stop('SIGKILL')));
    const deadline = performance.now() + 60_000;
    // Stepped down: every member answers, and none runs as primary (a member that does not answer proves nothing).
    const steppedDown = async () => {
      const roles = await Promise.all(
        cluster.members.map((m) =>
          fetch(`${m.apiUrl}/patroni`, { signal: AbortSignal.timeout(2_000) })
            .then((r) => r.json() as Promise<{ role: string }>)
            .then(
              (status) => status.role,
              () => 'no answer',
            ),
        ),
      );
      return roles.every((role) => role === 'replica');
    };
    while (!(await steppedDown()) && performance.now() < deadline) await sleep(500);

    const result = await run('db-status', [...api, '--json']);

    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ leader: null });
    expect(result.stderr).toMatch(/No leader: .*accepts no writes/);
    expect(result.stderr).toContain('etcd has quorum');
  }, 90_000);
});
