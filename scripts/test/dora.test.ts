// DORA KPIs (scripts/lib/dora.ts, scripts/kpi.ts): the figures from crafted histories, the append-only history
// file, the metrics a real Pushgateway (Debian's prometheus-pushgateway on 127.0.0.1) then serves, a Pushgateway
// that is down, and `npm run kpi` / `npm run kpi:record` as child processes.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeKpis,
  deploySamples,
  exposition,
  formatDuration,
  historyFile,
  pushGroup,
  quantile,
  readHistory,
  recordDeployment,
  type DeploymentEvent,
} from '../lib/dora.js';
import { pushScript } from '../lib/lab-pushgateway.js';
import { REPO_ROOT } from '../lib/paths.js';
import {
  freePort,
  pushedValue,
  startPushgateway,
  TEST_PUSHGATEWAY_USER,
  type Pushgateway,
} from '../lib/pushgateway.js';

const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
const KPI = path.join(REPO_ROOT, 'scripts/kpi.ts');
const HOUR = 3600;
const T0 = Date.parse('2026-11-01T00:00:00Z');
const at = (hours: number) => new Date(T0 + hours * HOUR * 1000).toISOString();

/** A deploy that finished `finished` hours after T0, of a commit made `leadHours` before that. */
function deploy(finished: number, overrides: Partial<DeploymentEvent> & { leadHours?: number } = {}): DeploymentEvent {
  const { leadHours = 1, ...rest } = overrides;
  return {
    sha: 'a'.repeat(40),
    commitTime: at(finished - leadHours),
    startedAt: at(finished - 0.1),
    finishedAt: at(finished),
    strategy: 'rolling',
    result: 'success',
    rolledBack: false,
    ...rest,
  };
}

const TEN_DAYS = { from: new Date(T0), to: new Date(T0 + 10 * 24 * HOUR * 1000) };
let temp: string;

beforeAll(async () => {
  temp = await mkdtemp(path.join(tmpdir(), 'swarmlab-dora-'));
});
afterAll(async () => {
  await rm(temp, { recursive: true, force: true });
});

describe('computeKpis', () => {
  it('when four successful deploys have lead times of 1 to 4 hours, then frequency, median and p90 follow', () => {
    const history = [1, 2, 3, 4].map((lead, index) => deploy(10 + index * 24, { leadHours: lead }));

    const kpis = computeKpis(history, TEN_DAYS);

    expect(kpis.period.days).toBe(10);
    expect(kpis.deploymentFrequency).toEqual({ total: 4, perDay: 0.4 });
    // Linear interpolation between ranks: median of 1,2,3,4 h = 2.5 h; p90 = 3 + 0.7 × (4 - 3) = 3.7 h.
    expect(kpis.leadTimeSeconds).toEqual({ median: 2.5 * HOUR, p90: 3.7 * HOUR, deployments: 4 });
  });

  it('when deploys failed or were rolled back, then they count as change failures and not in frequency or lead time', () => {
    const history = [
      deploy(10),
      deploy(20, { result: 'failure' }),
      deploy(30, { rolledBack: true, leadHours: 100 }),
      deploy(40, { result: 'failure', rolledBack: true }),
      deploy(50),
      deploy(60, { strategy: 'bluegreen' }),
    ];

    const kpis = computeKpis(history, TEN_DAYS);

    expect(kpis.counts).toEqual({ deployments: 6, successful: 3, changeFailures: 3, failed: 2, rolledBack: 2 });
    expect(kpis.changeFailureRate).toBe(0.5);
    expect(kpis.deploymentFrequency.total).toBe(3);
    expect(kpis.leadTimeSeconds?.median).toBe(HOUR);
  });

  it('when failures are followed by a success, then time to restore runs from the first failure of each run', () => {
    const history = [
      deploy(10),
      deploy(20, { result: 'failure' }), // incident 1: 20 h → 20.5 h
      deploy(20.5),
      deploy(30, { result: 'failure' }), // incident 2: 30 h → 32 h (two failures, one restore)
      deploy(31, { rolledBack: true }),
      deploy(32),
    ];

    const kpis = computeKpis(history, TEN_DAYS);

    expect(kpis.timeToRestoreSeconds).toEqual({ median: (0.5 * HOUR + 2 * HOUR) / 2, incidents: 2 });
    expect(kpis.failingSince).toBeNull();
  });

  it('when the period has no deploy, then every rate is n/a and frequency is zero', () => {
    const kpis = computeKpis([deploy(-48), deploy(24 * 11)], TEN_DAYS);

    expect(kpis.counts.deployments).toBe(0);
    expect(kpis.deploymentFrequency).toEqual({ total: 0, perDay: 0 });
    expect(kpis.leadTimeSeconds).toBeNull();
    expect(kpis.changeFailureRate).toBeNull();
    expect(kpis.timeToRestoreSeconds).toBeNull();
  });

  it('when the history is empty, then nothing fails and the figures are zero or n/a', () => {
    const kpis = computeKpis([], TEN_DAYS);

    expect(kpis.counts.deployments).toBe(0);
    expect(kpis.changeFailureRate).toBeNull();
    expect(kpis.failingSince).toBeNull();
  });

  it('when no deploy failed, then the change failure rate is 0 and time to restore is n/a', () => {
    const kpis = computeKpis([deploy(10), deploy(20), deploy(30)], TEN_DAYS);

    expect(kpis.changeFailureRate).toBe(0);
    expect(kpis.timeToRestoreSeconds).toBeNull();
  });

  it('when the history is not in time order, then the figures are the same as for the sorted one', () => {
    const sorted = [
      deploy(10, { leadHours: 5 }),
      deploy(20, { result: 'failure' }),
      deploy(21, { result: 'failure' }),
      deploy(23, { leadHours: 2 }),
      deploy(40, { leadHours: 3 }),
    ];
    const shuffled = [sorted[3]!, sorted[0]!, sorted[4]!, sorted[2]!, sorted[1]!];

    expect(computeKpis(shuffled, TEN_DAYS)).toEqual(computeKpis(sorted, TEN_DAYS));
    expect(computeKpis(shuffled, TEN_DAYS).timeToRestoreSeconds).toEqual({ median: 3 * HOUR, incidents: 1 });
  });

  it('when an incident began before the period and ended in it, then it counts in the period', () => {
    const history = [deploy(-5, { result: 'failure' }), deploy(1)];

    expect(computeKpis(history, TEN_DAYS).timeToRestoreSeconds).toEqual({ median: 6 * HOUR, incidents: 1 });
  });

  it('when the last deploys failed, then the period says since when the lab is failing', () => {
    const kpis = computeKpis([deploy(10), deploy(20, { result: 'failure' }), deploy(21, { result: 'failure' })], {
      ...TEN_DAYS,
    });

    expect(kpis.failingSince).toBe(at(20));
  });

  it('when the period ends before it starts, then it is refused', () => {
    expect(() => computeKpis([], { from: TEN_DAYS.to, to: TEN_DAYS.from })).toThrow(/end after it starts/);
  });
});

describe('quantile and formatDuration', () => {
  it.each([
    [[5], 0.5, 5],
    [[1, 3], 0.5, 2],
    [[10, 20, 30, 40, 50], 0.9, 46],
    [[3, 1, 2], 0.5, 2],
  ])('when the values are %j, then the %s quantile is %s', (values, p, expected) => {
    expect(quantile(values, p)).toBeCloseTo(expected, 9);
  });

  it.each([
    [0, '0 s'],
    [45, '45 s'],
    [725, '12 min 5 s'],
    [3 * HOUR + 4 * 60 + 9, '3 h 4 min'],
    [2 * 86_400 + 6 * HOUR, '2 d 6 h'],
    [86_400 + 30, '1 d'],
  ])('when a duration is %d s, then it reads %j', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('the metrics pushed after a deploy', () => {
  it('when the history has successes, a restored failure and a rollback, then the exact names and values follow', () => {
    const history = [
      deploy(1, { leadHours: 2 }),
      deploy(2, { result: 'failure', rolledBack: true }),
      deploy(3, { strategy: 'bluegreen', leadHours: 0.5 }),
    ];

    const text = exposition(deploySamples(history));

    const samples = text.split('\n').filter((line) => line && !line.startsWith('#'));
    expect(samples).toEqual([
      'swarmlab_deploy_total{result="success",strategy="rolling"} 1',
      'swarmlab_deploy_total{result="success",strategy="bluegreen"} 1',
      'swarmlab_deploy_total{result="failure",strategy="rolling"} 1',
      'swarmlab_deploy_total{result="failure",strategy="bluegreen"} 0',
      'swarmlab_deploy_rollbacks_total 1',
      `swarmlab_deploy_lead_time_seconds ${0.5 * HOUR}`,
      `swarmlab_deploy_last_success_timestamp_seconds ${(T0 + 3 * HOUR * 1000) / 1000}`,
      `swarmlab_deploy_time_to_restore_seconds ${HOUR}`,
      'swarmlab_deploy_last_run_success 1',
    ]);
    expect(text).toContain('# TYPE swarmlab_deploy_total counter');
    expect(text).toContain('# TYPE swarmlab_deploy_lead_time_seconds gauge');
  });

  it('when nothing has succeeded yet, then the gauges without a value are left out', () => {
    const names = deploySamples([deploy(1, { result: 'failure' })]).map((sample) => sample.name);

    expect(names).not.toContain('swarmlab_deploy_lead_time_seconds');
    expect(names).not.toContain('swarmlab_deploy_last_success_timestamp_seconds');
    expect(names).not.toContain('swarmlab_deploy_time_to_restore_seconds');
    expect(names).toContain('swarmlab_deploy_last_run_success');
  });
});

// --- a real Pushgateway ----------------------------------------------------------------------------------------

const valueOf = (metrics: string, name: string, labels: Record<string, string> = {}) =>
  pushedValue(metrics, name, 'deploy', labels);

describe('recordDeployment', () => {
  let gateway: Pushgateway | undefined;
  let gatewayUrl: string;

  beforeAll(async () => {
    gateway = await startPushgateway();
    gatewayUrl = gateway.url;
  }, 300_000);

  afterAll(() => {
    gateway?.stop();
  });

  it('when two deploys are recorded, then each appends one line (mode 600) and the first line is never rewritten', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));
    const file = historyFile(lab);

    await recordDeployment(deploy(1), { labDir: lab, pushgatewayUrl: undefined, note: () => {} });
    const first = await readFile(file, 'utf8');
    const inode = (await stat(file)).ino;
    await recordDeployment(deploy(2, { result: 'failure' }), {
      labDir: lab,
      pushgatewayUrl: undefined,
      note: () => {},
    });
    const both = await readFile(file, 'utf8');

    expect(first.split('\n').filter(Boolean)).toHaveLength(1);
    expect(both.startsWith(first)).toBe(true);
    expect(both.split('\n').filter(Boolean)).toHaveLength(2);
    expect(JSON.parse(both.split('\n')[1]!)).toEqual(deploy(2, { result: 'failure' }));
    expect((await stat(file)).ino).toBe(inode);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
  });

  it("when deploy pushes from the host (bash in the Pushgateway's container, with its key), then the same metrics arrive; a push without the key or a refused one fails", async () => {
    // pushScript is what deploy and the pipeline run in the lab's Pushgateway container (lab-pushgateway.ts), whose
    // environment names the key; here against a real Pushgateway that asks for it, on 127.0.0.1 too.
    const secured = await startPushgateway({ basicAuth: true });
    try {
      const port = Number(new URL(secured.url).port);
      const key = { WEB_AUTH_USER: TEST_PUSHGATEWAY_USER, WEB_AUTH_PASSWORD_FILE: secured.passwordFile! };
      const push = (body: string, env: Record<string, string> = key) =>
        $({
          quiet: true,
          nothrow: true,
          env: { ...process.env, ...env },
        })`bash -c ${pushScript(port)} push job/deploy-from-host ${body}`;
      const body = exposition(deploySamples([deploy(1), deploy(2, { strategy: 'bluegreen', result: 'failure' })]));
      const sent = await push(body);
      expect(sent.exitCode, sent.stderr).toBe(0);
      const pushed = (await secured.metrics()).split('\n').filter((line) => line.includes('job="deploy-from-host"'));
      expect(
        pushed.find(
          (line) =>
            line.startsWith('swarmlab_deploy_total{') &&
            line.includes('result="failure"') &&
            line.includes('strategy="bluegreen"'),
        ),
      ).toMatch(/ 1$/);
      expect(
        pushed.find(
          (line) =>
            line.startsWith('swarmlab_deploy_total{') &&
            line.includes('result="success"') &&
            line.includes('strategy="rolling"'),
        ),
      ).toMatch(/ 1$/);

      const keyless = await push(body, { WEB_AUTH_PASSWORD_FILE: '' });
      expect(keyless.exitCode).toBe(1);
      expect(keyless.stderr).toMatch(/answered 401/);
      const refused = await push('not an exposition {\n');
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/answered 400/);
    } finally {
      secured.stop();
    }
  });

  it('when the Pushgateway runs, then it serves the exact metric names with the running totals', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));
    const options = { labDir: lab, pushgatewayUrl: gatewayUrl };
    await recordDeployment(deploy(1, { leadHours: 2 }), options);
    await recordDeployment(deploy(2, { result: 'failure', rolledBack: true }), options);

    const last = await recordDeployment(deploy(3, { strategy: 'bluegreen', leadHours: 0.5 }), options);
    const metrics = await (await fetch(`${gatewayUrl}/metrics`)).text();

    expect(last.push).toEqual({ pushed: true, url: `${gatewayUrl}/metrics/job/deploy` });
    expect(valueOf(metrics, 'swarmlab_deploy_total', { result: 'success', strategy: 'rolling' })).toBe(1);
    expect(valueOf(metrics, 'swarmlab_deploy_total', { result: 'success', strategy: 'bluegreen' })).toBe(1);
    expect(valueOf(metrics, 'swarmlab_deploy_total', { result: 'failure', strategy: 'rolling' })).toBe(1);
    expect(valueOf(metrics, 'swarmlab_deploy_total', { result: 'failure', strategy: 'bluegreen' })).toBe(0);
    expect(valueOf(metrics, 'swarmlab_deploy_rollbacks_total')).toBe(1);
    expect(valueOf(metrics, 'swarmlab_deploy_lead_time_seconds')).toBe(0.5 * HOUR);
    expect(valueOf(metrics, 'swarmlab_deploy_last_success_timestamp_seconds')).toBe((T0 + 3 * HOUR * 1000) / 1000);
    expect(valueOf(metrics, 'swarmlab_deploy_time_to_restore_seconds')).toBe(HOUR);
    expect(valueOf(metrics, 'swarmlab_deploy_last_run_success')).toBe(1);
  });

  it("when the operator and the pipeline both record, then each keeps its own group and neither replaces the other's", async () => {
    const operator = await mkdtemp(path.join(temp, 'operator-'));
    const pipeline = await mkdtemp(path.join(temp, 'pipeline-'));
    const pipelineGroup = pushGroup({ SWARMLAB_PIPELINE: '1' });
    const total = (metrics: string, source: 'pipeline' | undefined, result: string) =>
      metrics
        .split('\n')
        .filter((line) => line.startsWith('swarmlab_deploy_total{') && line.includes('job="deploy"'))
        .filter((line) => line.includes(`result="${result}"`) && line.includes('source="pipeline"') === !!source)
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    try {
      await recordDeployment(deploy(1), { labDir: operator, pushgatewayUrl: gatewayUrl });
      const fromPipeline = await recordDeployment(deploy(2, { result: 'failure', rolledBack: true }), {
        labDir: pipeline,
        pushgatewayUrl: gatewayUrl,
        group: pipelineGroup,
      });
      // The operator deploys again: its push replaces its own totals only.
      await recordDeployment(deploy(3), { labDir: operator, pushgatewayUrl: gatewayUrl });
      const metrics = await (await fetch(`${gatewayUrl}/metrics`)).text();

      expect(pushGroup({})).toBe('job/deploy');
      expect(fromPipeline.push).toEqual({ pushed: true, url: `${gatewayUrl}/metrics/job/deploy/source/pipeline` });
      expect([total(metrics, undefined, 'success'), total(metrics, undefined, 'failure')]).toEqual([2, 0]);
      expect([total(metrics, 'pipeline', 'success'), total(metrics, 'pipeline', 'failure')]).toEqual([0, 1]);
    } finally {
      await fetch(`${gatewayUrl}/metrics/${pipelineGroup}`, { method: 'DELETE' });
    }
  });

  it('when the Pushgateway is down, then the deploy is still recorded and a note says why nothing was pushed', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));
    const notes: string[] = [];

    const recorded = await recordDeployment(deploy(1), {
      labDir: lab,
      pushgatewayUrl: `http://127.0.0.1:${await freePort()}`,
      note: (message) => notes.push(message),
    });

    expect(recorded.push.pushed).toBe(false);
    expect(notes.join('\n')).toMatch(/metrics not pushed \(.*unreachable/);
    expect((await readHistory(historyFile(lab))).events).toHaveLength(1);
  });

  it('when PUSHGATEWAY_URL is not set, then the push is skipped with a note', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));
    const notes: string[] = [];

    const recorded = await recordDeployment(deploy(1), {
      labDir: lab,
      pushgatewayUrl: undefined,
      note: (message) => notes.push(message),
    });

    expect(recorded.push).toEqual({ pushed: false, reason: 'PUSHGATEWAY_URL is not set' });
    expect(notes).toEqual(['note: metrics not pushed (PUSHGATEWAY_URL is not set)']);
  });

  it('when an event is malformed, then nothing is appended', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));

    await expect(
      recordDeployment({ ...deploy(1), result: 'ok' as 'success' }, { labDir: lab, pushgatewayUrl: undefined }),
    ).rejects.toThrow(/result: not one of success, failure/);
    expect(existsSync(historyFile(lab))).toBe(false);
  });

  it('when npm run kpi:record runs for a commit of a repository, then its commit time comes from git log', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));
    const repo = await mkdtemp(path.join(temp, 'repo-'));
    const git = $({
      quiet: true,
      cwd: repo,
      env: {
        ...process.env,
        GIT_CONFIG_NOSYSTEM: '1',
        HOME: repo,
        GIT_COMMITTER_DATE: '2026-10-31T22:00:00+00:00',
        GIT_AUTHOR_DATE: '2026-10-31T22:00:00+00:00',
      },
    });
    await git`git init -q`;
    await git`git -c user.name=lab -c user.email=lab@lab.localhost commit -q --allow-empty -m first`;
    const sha = (await git`git rev-parse HEAD`).stdout.trim();

    const run = await $({
      quiet: true,
      nothrow: true,
      env: { ...process.env, LAB_DIR: lab, PUSHGATEWAY_URL: gatewayUrl },
    })`${TSX} ${KPI} record --sha ${sha} --repo ${repo} --started ${at(1)} --finished ${String(T0 + 2 * HOUR * 1000)} --strategy rolling --result success`;

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`pushed to ${gatewayUrl}/metrics/job/deploy`);
    const [event] = (await readHistory(historyFile(lab))).events;
    expect(event).toEqual({
      sha,
      commitTime: '2026-10-31T22:00:00.000Z',
      startedAt: at(1),
      finishedAt: at(2),
      strategy: 'rolling',
      result: 'success',
      rolledBack: false,
    });
    const metrics = await (await fetch(`${gatewayUrl}/metrics`)).text();
    expect(valueOf(metrics, 'swarmlab_deploy_lead_time_seconds')).toBe(4 * HOUR);
  });
});

describe('npm run kpi', () => {
  async function labWith(events: DeploymentEvent[], extra = '') {
    const lab = await mkdtemp(path.join(temp, 'lab-'));
    await mkdir(path.join(lab, 'deploy'));
    await writeFile(historyFile(lab), events.map((event) => JSON.stringify(event)).join('\n') + '\n' + extra);
    return lab;
  }
  const kpi = (lab: string, ...args: string[]) =>
    $({ quiet: true, nothrow: true, env: { ...process.env, LAB_DIR: lab } })`${TSX} ${KPI} ${args}`;
  const history = [
    deploy(10, { leadHours: 1 }),
    deploy(20, { result: 'failure' }),
    deploy(20.5, { leadHours: 2 }),
    deploy(48, { leadHours: 3 }),
    deploy(72, { leadHours: 4, rolledBack: true }),
    deploy(96, { leadHours: 4 }),
  ];

  it('when the history has deploys in the period, then it prints the four figures with the period and counts', async () => {
    const lab = await labWith(history, 'not json\n');

    const run = await kpi(lab, '--from', TEN_DAYS.from.toISOString(), '--to', TEN_DAYS.to.toISOString());

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('DORA KPIs, 2026-11-01 00:00 UTC → 2026-11-11 00:00 UTC (10 days)');
    expect(run.stdout).toMatch(/deployment frequency\s+0\.40 per day \(4 successful deploys\)/);
    expect(run.stdout).toMatch(/lead time for changes\s+median 2 h 30 min, p90 3 h 42 min/);
    expect(run.stdout).toMatch(/change failure rate\s+33\.3% \(2 of 6\)/);
    // Two incidents: 20 h → 20.5 h and the rollback at 72 h → 96 h; the median of 30 min and 24 h.
    expect(run.stdout).toMatch(/time to restore\s+median 12 h 15 min \(2 incidents\)/);
    expect(run.stdout).toMatch(/deploys\s+6: 4 successful, 2 change failures \(1 failed, 1 rolled back\)/);
    expect(run.stderr).toMatch(/history\.jsonl:7 left out/);
  });

  it('when --json is given, then the same figures come as JSON', async () => {
    const lab = await labWith(history);

    const run = await kpi(lab, '--from', TEN_DAYS.from.toISOString(), '--to', TEN_DAYS.to.toISOString(), '--json');

    const json = JSON.parse(run.stdout) as ReturnType<typeof computeKpis>;
    expect(json).toMatchObject(computeKpis(history, TEN_DAYS));
  });

  it('when there is no history yet, then it says n/a instead of failing', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));

    const run = await kpi(lab, '--since', '7d');

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('(7 days)');
    expect(run.stdout).toMatch(/change failure rate\s+n\/a \(no deploy\)/);
    expect(run.stdout).toMatch(/time to restore\s+n\/a/);
  });

  it('when --since and --from are both given, then it stops with one sentence and exit code 1', async () => {
    const lab = await mkdtemp(path.join(temp, 'lab-'));

    const run = await kpi(lab, '--since', '7d', '--from', '2026-11-01T00:00:00Z');

    expect(run.exitCode).toBe(1);
    expect(run.stderr.trim()).toBe('Give either --since or --from/--to, not both.');
  });
});
