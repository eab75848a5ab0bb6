// The report against a real Prometheus (Debian's) holding a known week of the lab's metrics (factories/lab-week):
// its numbers must be what was fed; its charts valid SVG; a hostile route label escaped; an empty Prometheus a
// "no data" report; an unreachable one a clear error and nothing written. The CLI runs end to end with --mail
// into a real SMTP receiver.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import type { BackupRow } from '../src/collect.js';
import { generateReport } from '../src/generate.js';
import { silentLogger } from '../src/logger.js';
import { createPrometheusClient, PrometheusError } from '../src/prometheus.js';
import { EDGE_SELECTORS } from '../src/queries.js';
import { freePort } from '../../../scripts/lib/pg-cluster.js';
import { labWeek, MALICIOUS_ROUTE, youngLab } from './factories/lab-week.js';
import { startPrometheus, TEST_PROMETHEUS_PASSWORD, type TestPrometheus } from './helpers/prometheus.js';
import { startSmtpReceiver } from './helpers/smtp.js';

// The week ends on the hour before the last full hour: entirely in the past, on the samples' grid.
const END = Math.floor(Date.now() / 3_600_000) * 3600 - 3600;
const END_DATE = new Date(END * 1000);
const week = labWeek(END);
const young = youngLab(END);

let prometheus: TestPrometheus;
let empty: TestPrometheus;
let youngPrometheus: TestPrometheus;
const dirs: string[] = [];

const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-report-'));
  dirs.push(dir);
  return dir;
};

/** A file holding the test Prometheus' password, as the prometheus_password secret is mounted. */
const passwordFile = async () => {
  const file = path.join(await tempDir(), 'prometheus_password');
  await writeFile(file, TEST_PROMETHEUS_PASSWORD);
  return file;
};

const generate = async (url: string, out: string) =>
  generateReport({
    prometheus: createPrometheusClient({ url, timeoutMs: 10_000, password: TEST_PROMETHEUS_PASSWORD }),
    out,
    end: END_DATE,
    days: 7,
    logger: silentLogger(),
  });

/** Checks that every tag opened is closed, in order (a small well-formedness check for SVG and XML-ish HTML). */
function unbalancedTags(markup: string): string[] {
  const stack: string[] = [];
  const problems: string[] = [];
  const body = markup.replace(/<!--[\s\S]*?-->/g, '').replace(/<!doctype[^>]*>/i, '');
  for (const match of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing) continue;
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else stack.push(name!);
  }
  return [...problems, ...stack.map((name) => `<${name}> never closed`)];
}

const VOID_HTML = /<(meta|img|br|hr|link|input)\b[^>]*>/g;

beforeAll(async () => {
  [prometheus, empty, youngPrometheus] = await Promise.all([
    startPrometheus(week.history),
    startPrometheus(),
    startPrometheus(young.history),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([prometheus?.stop(), empty?.stop(), youngPrometheus?.stop()]);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}, 30_000);

describe('weekly report › a known week', () => {
  it('when the week is reported, then throughput, error ratio, SLO and error budget are what was fed', async () => {
    const { data, dir } = await generate(prometheus.url, await tempDir());

    expect(path.basename(dir)).toBe(END_DATE.toISOString().slice(0, 10));
    expect(data.period).toMatchObject({ start: new Date(week.expected.start * 1000).toISOString(), days: 7 });
    expect(data.traffic.throughput).toBeCloseTo(week.expected.throughput, 3);
    expect(data.traffic.requests! / week.expected.requests).toBeCloseTo(1, 4);
    expect(data.traffic.errorRatio).toBeCloseTo(week.expected.errorRatio, 8);
    expect(data.slo!.objective).toBe(0.999);
    expect(data.slo!.availability).toBeCloseTo(week.expected.availability, 8);
    expect(data.slo!.budgetRemaining).toBeCloseTo(week.expected.budgetRemaining, 5);
    // The charts' series: every point of the week at the fed rate and ratio.
    const throughput = data.series.throughput[0]!.points;
    expect(throughput.length).toBeGreaterThanOrEqual(300);
    for (const point of throughput) expect(point.v).toBeCloseTo(week.expected.throughput, 2);
    for (const point of data.series.errorRatio[0]!.points) expect(point.v).toBeCloseTo(week.expected.errorRatio, 6);
    expect(data.series.latency.map((series) => series.label)).toEqual(['p50', 'p95', 'p99']);

    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(html).toContain('16 req/s');
    expect(html).toContain('0.050%'); // the 5xx ratio
    expect(html).toContain('99.950%'); // the availability over 30 days
    expect(html).toContain('50.0%'); // the error budget left
  });

  it('when routes differ in latency, then the top slow routes are ranked by p95 with the slowest first', async () => {
    const { data, dir } = await generate(prometheus.url, await tempDir());

    expect(data.slowRoutes.map((row) => row.route)).toEqual(week.expected.slowOrder);
    expect(data.slowRoutes[0]).toMatchObject({ route: week.expected.slowest.route });
    expect(data.slowRoutes[0]!.p95).toBeCloseTo(week.expected.slowest.p95, 6);
    // The busiest first in the percentiles table; POST /v1/users's 5xx counted on its route.
    expect(data.routes[0]!.route).toBe('/v1/users');
    expect(data.routes[0]!.errorRatio).toBeCloseTo(0.008 / 11, 8);
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    const slow = html.slice(html.indexOf('id="slow-routes"'), html.indexOf('id="alerts"'));
    expect(slow.indexOf('/v1/reports/export')).toBeLessThan(slow.indexOf('/v1/users'));
    expect(slow).toContain('4.88 s');
  });

  it('when alerts fired, then each start inside the week is counted by alert and severity, pending ones not', async () => {
    const { data } = await generate(prometheus.url, await tempDir());

    const fired = Object.fromEntries(data.alerts.map((row) => [row.alertname, row.fired]));
    expect(fired).toEqual(week.expected.alerts);
    const latency = data.alerts.find((row) => row.alertname === 'ApiHighLatencyP95')!;
    expect(latency.severity).toBe('warning');
    // 20 + 30 minutes fed; without staleness markers in backfilled data each episode lingers up to 5 minutes.
    expect(latency.firingMinutes).toBeGreaterThanOrEqual(50);
    expect(latency.firingMinutes).toBeLessThanOrEqual(62);
    expect(data.alerts.find((row) => row.alertname === 'ApiDown')!.severity).toBe('critical');
  });

  it('when deploys and backups were pushed, then the week counts them and shows the last success of each', async () => {
    const { data } = await generate(prometheus.url, await tempDir());
    const expected = week.expected;

    const byResult = (result: string) =>
      data.deploys!.rows.filter((row) => row.result === result).reduce((sum, row) => sum + row.count, 0);
    expect(byResult('success')).toBe(expected.deploys.success);
    expect(byResult('failure')).toBe(expected.deploys.failure);
    expect(data.deploys).toMatchObject({
      total: expected.deploys.total,
      changeFailureRate: expected.deploys.changeFailureRate,
      rollbacks: expected.deploys.rollbacks,
      lastSuccess: new Date(expected.deploys.lastSuccess * 1000).toISOString(),
      lastRunOk: true,
    });
    const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
    const backup = (row: BackupRow | null | undefined) =>
      row && { successes: row.successes, lastSuccess: row.lastSuccess, lastRunOk: row.lastRunOk, status: row.status };
    const rows = data.backups!.rows;
    expect(rows.map((row) => row.type)).toEqual(['full', 'diff']);
    for (const [type, want] of Object.entries({ full: expected.backups.full, diff: expected.backups.diff })) {
      expect(backup(rows.find((row) => row.type === type)), type).toEqual({
        ...want,
        lastSuccess: iso(want.lastSuccess),
      });
    }
    expect(backup(data.backups!.drill)).toEqual({
      ...expected.backups.drill,
      lastSuccess: iso(expected.backups.drill.lastSuccess),
    });
  });

  it('when the report is saved, then index.html shows every chart as an SVG file with paths beside it', async () => {
    const { dir } = await generate(prometheus.url, await tempDir());

    const files = (await readdir(dir)).sort();
    expect(files).toEqual([
      'error-ratio.svg',
      'index.html',
      'latency-routes.svg',
      'latency.svg',
      'report.json',
      'report.txt',
      'throughput.svg',
    ]);
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    for (const file of files.filter((name) => name.endsWith('.svg'))) {
      expect(html).toContain(`<img src="${file}"`);
      const svg = await readFile(path.join(dir, file), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), file).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>'), file).toBe(true);
      expect(unbalancedTags(svg), file).toEqual([]);
      expect(svg.match(/<path\b[^>]*\sd="M[^"]+"/g)?.length ?? 0, `${file} draws paths`).toBeGreaterThan(2);
      // Ids are unique per chart, so that charts inlined side by side in mail do not share clip paths.
      for (const [, id] of svg.matchAll(/\bid="([^"]+)"/g))
        expect(id!.startsWith(file.replace('.svg', '-'))).toBe(true);
    }
    expect(unbalancedTags(html.replace(VOID_HTML, ''))).toEqual([]);
    expect(html).not.toMatch(/no data/);
    expect(JSON.parse(await readFile(path.join(dir, 'report.json'), 'utf8'))).toHaveProperty('traffic.requests');
    // Nothing left over from the temporary directory.
    expect((await readdir(path.dirname(dir))).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('when a route label holds <script>, then the page, the text and the charts show it escaped, never as markup', async () => {
    const { dir, mailHtml } = await generate(prometheus.url, await tempDir());

    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(html).toContain('/v1/&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&amp;x');
    for (const page of [html, mailHtml]) {
      expect(page).not.toContain('<script');
      expect(page).not.toContain(MALICIOUS_ROUTE);
    }
    const legend = await readFile(path.join(dir, 'latency-routes.svg'), 'utf8');
    expect(legend).toContain('/v1/&lt;script&gt;');
    expect(legend).not.toContain('<script');
    expect(await readFile(path.join(dir, 'report.txt'), 'utf8')).toContain(MALICIOUS_ROUTE);
  });

  it('when a report of the same day exists, then generating again replaces it whole', async () => {
    const out = await tempDir();
    const first = await generate(prometheus.url, out);
    const second = await generate(prometheus.url, out);

    expect(second.dir).toBe(first.dir);
    expect(await readdir(out)).toEqual([path.basename(first.dir)]);
    expect((await readdir(second.dir)).length).toBe(7);
  });
});

describe('weekly report › a lab younger than the week', () => {
  it('when the report counts answers at the edge, then it selects them as the SLO rules do', async () => {
    const rules = await readFile(path.join(import.meta.dirname, '../../prometheus/rules/slo.yml'), 'utf8');
    for (const selector of EDGE_SELECTORS) expect(rules).toContain(selector);
  });

  it('when the lab is 20 minutes old, then its charts span its life, a minute a point, and draw lines, not a dot', async () => {
    const { data, dir } = await generate(youngPrometheus.url, await tempDir());

    expect(data.period.start).toBe(new Date((END - 7 * 86_400) * 1000).toISOString());
    const chartStart = new Date(data.period.chartStart).getTime() / 1000;
    expect(chartStart).toBeLessThanOrEqual(young.expected.from);
    expect(chartStart).toBeGreaterThanOrEqual(END - 3600);
    expect(data.period.stepSeconds).toBe(60);
    expect(data.series.throughput[0]!.points.length).toBeGreaterThanOrEqual(15);
    for (const file of ['throughput.svg', 'error-ratio.svg', 'latency.svg']) {
      const svg = await readFile(path.join(dir, file), 'utf8');
      const lines = [...svg.matchAll(/<path\b[^>]*\sd="(M[^"]+)"/g)].map((match) => match[1]!.split('L').length);
      expect(Math.max(...lines), `${file}: the longest line's points`).toBeGreaterThan(10);
    }
  });

  it("when the edge answered 503 itself while no API task was ready, then those answers count as errors (the API's metrics never saw them)", async () => {
    const { data } = await generate(youngPrometheus.url, await tempDir());

    expect(data.traffic.errors! / young.expected.errors).toBeCloseTo(1, 1);
    expect(data.traffic.requests! / young.expected.requests).toBeCloseTo(1, 1);
    expect(data.slo!.errors / young.expected.errors).toBeCloseTo(1, 1);
    expect(data.slo!.availability).toBeLessThan(0.99);
    // The routes come from the API, which answered every request it got.
    expect(data.routes).toEqual([expect.objectContaining({ route: '/v1/items', errors: 0 })]);
    expect(Math.max(...data.series.errorRatio[0]!.points.map((point) => point.v))).toBeGreaterThan(0.2);
  });
});

describe('weekly report › an empty or absent Prometheus', () => {
  it('when Prometheus holds no data, then the report is still complete and says "no data" in every section', async () => {
    const { dir, data } = await generate(empty.url, await tempDir());

    expect(await readdir(dir)).toEqual(['index.html', 'report.json', 'report.txt']);
    expect(data).toMatchObject({
      traffic: { requests: null, throughput: null, errorRatio: null, p95: null },
      slo: null,
      alerts: [],
      deploys: null,
      backups: null,
      routes: [],
    });
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(unbalancedTags(html.replace(VOID_HTML, ''))).toEqual([]);
    for (const section of [
      'throughput',
      'errors',
      'latency',
      'slo',
      'slow-routes',
      'alerts',
      'deployments',
      'backups',
    ]) {
      const start = html.indexOf(`<section id="${section}">`);
      expect(start, section).toBeGreaterThan(0);
      expect(html.slice(start, html.indexOf('</section>', start)), section).toContain('no data');
    }
    expect(html).not.toContain('<img');
  });

  it('when Prometheus is unreachable, then the error names its URL and the query, and nothing is written', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const out = path.join(await tempDir(), 'reports');

    const failure = await generate(url, out).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(PrometheusError);
    const message = (failure as PrometheusError).message;
    // The first query asks where the lab's data begins (the edge's answers).
    expect(message).toContain(`${url}/api/v1/query_range`);
    expect(message).toMatch(/connection refused.*ECONNREFUSED/);
    expect(message).toMatch(/query: .*haproxy_backend_http_responses_total/);
    expect(existsSync(out)).toBe(false);
  });

  it('when Prometheus refuses a query, then the error says why and shows the PromQL', async () => {
    const client = createPrometheusClient({ url: empty.url, password: empty.password });

    const failure = await client.query('sum(rate(http_request_duration_seconds_count[5m])', new Date()).catch((e) => e);

    expect(failure).toBeInstanceOf(PrometheusError);
    expect((failure as Error).message).toMatch(/refused the query \(HTTP 400, bad_data\)/);
    expect((failure as Error).message).toContain('query: sum(rate(http_request_duration_seconds_count[5m])');
  });
});

/** A writable that keeps what is written. */
const capture = () => {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
};

describe('weekly report › the CLI', () => {
  it('when run with --mail, then it saves the report, mails it to the sink and prints {dir, mailed} last', async () => {
    const smtp = await startSmtpReceiver();
    try {
      const out = await tempDir();
      const stdout = capture();
      const stderr = capture();
      const env = {
        PROMETHEUS_URL: prometheus.url,
        PROMETHEUS_PASSWORD_FILE: await passwordFile(),
        SMTP_HOST: smtp.host,
        SMTP_PORT: String(smtp.port),
        SMTP_LAB_SINK: 'true',
      };

      const code = await runCli(['generate', '--days', '7', '--end', END_DATE.toISOString(), '--out', out, '--mail'], {
        env,
        stdout: stdout.stream,
        stderr: stderr.stream,
      });

      expect(code, stderr.text()).toBe(0);
      const last = stdout.text().trimEnd().split('\n').at(-1)!;
      const dir = path.join(out, END_DATE.toISOString().slice(0, 10));
      expect(JSON.parse(last)).toEqual({ dir, mailed: true });
      expect(existsSync(path.join(dir, 'index.html'))).toBe(true);
      expect(smtp.received).toHaveLength(1);
      const mail = smtp.received[0]!;
      expect(mail.envelope).toEqual({ from: 'report@lab.localhost', to: ['ops@lab.localhost'] });
      const from = new Date((END - 7 * 86_400) * 1000).toISOString().slice(0, 10);
      expect(mail.parsed.subject).toBe(`swarmlab weekly report ${from} – ${END_DATE.toISOString().slice(0, 10)}`);
      expect(mail.parsed.html?.match(/<svg\b/g)).toHaveLength(4);
      expect(mail.parsed.html).not.toContain('<img');
      expect(mail.parsed.text).toContain('Top slow routes');
      expect(mail.parsed.text).toContain('/v1/reports/export');
    } finally {
      await smtp.stop();
    }
  });

  it('when the mail sink is down, then the report is kept, the result says mailed: false, and it exits 1', async () => {
    const out = await tempDir();
    const stdout = capture();
    const stderr = capture();

    const code = await runCli(['generate', '--end', END_DATE.toISOString(), '--out', out, '--mail'], {
      env: {
        PROMETHEUS_URL: prometheus.url,
        PROMETHEUS_PASSWORD_FILE: await passwordFile(),
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(await freePort()),
      },
      stdout: stdout.stream,
      stderr: stderr.stream,
    });

    expect(code).toBe(1);
    const dir = path.join(out, END_DATE.toISOString().slice(0, 10));
    expect(JSON.parse(stdout.text().trimEnd().split('\n').at(-1)!)).toEqual({ dir, mailed: false });
    expect(stderr.text()).toMatch(/could not mail the report through 127\.0\.0\.1:\d+/);
    expect(existsSync(path.join(dir, 'index.html'))).toBe(true);
  });

  it('when Prometheus is unreachable, then it exits 1 with the reason on stderr and prints no result', async () => {
    const out = path.join(await tempDir(), 'reports');
    const stdout = capture();
    const stderr = capture();

    const code = await runCli(['generate', '--out', out], {
      env: { PROMETHEUS_URL: `http://127.0.0.1:${await freePort()}` },
      stdout: stdout.stream,
      stderr: stderr.stream,
    });

    expect(code).toBe(1);
    expect(stderr.text()).toMatch(/report not generated: Prometheus is unreachable/);
    expect(stderr.text()).toMatch(/Nothing was written/);
    expect(stdout.text()).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('when the password of Prometheus is missing or wrong, then it exits 1 saying so and writes nothing', async () => {
    const wrong = path.join(await tempDir(), 'wrong');
    await writeFile(wrong, 'not-the-password');
    for (const [env, refused] of [
      [{ PROMETHEUS_URL: prometheus.url }, 'a caller without a password'],
      [{ PROMETHEUS_URL: prometheus.url, PROMETHEUS_PASSWORD_FILE: wrong }, 'the password'],
    ] as const) {
      const out = path.join(await tempDir(), 'reports');
      const stdout = capture();
      const stderr = capture();
      const code = await runCli(['generate', '--out', out], { env, stdout: stdout.stream, stderr: stderr.stream });
      expect(code).toBe(1);
      expect(stderr.text()).toContain(`Prometheus refused ${refused} (HTTP 401): set PROMETHEUS_PASSWORD_FILE`);
      expect(stdout.text()).toBe('');
      expect(existsSync(out)).toBe(false);
    }
  });

  it('when PROMETHEUS_PASSWORD_FILE names no file, then it exits 2 naming the variable', async () => {
    const stderr = capture();
    const env = { PROMETHEUS_URL: prometheus.url, PROMETHEUS_PASSWORD_FILE: '/nonexistent/prometheus_password' };
    const code = await runCli(['generate'], { env, stdout: capture().stream, stderr: stderr.stream });
    expect(code).toBe(2);
    expect(stderr.text()).toContain('PROMETHEUS_PASSWORD_FILE: cannot read /nonexistent/prometheus_password (ENOENT)');
  });

  it('when a flag is wrong, then it exits 2 with the usage and touches nothing', async () => {
    for (const argv of [['generate', '--days', '0'], ['generate', '--end', 'yesterday'], ['publish'], []]) {
      const stderr = capture();
      const code = await runCli(argv, { env: {}, stdout: capture().stream, stderr: stderr.stream });
      expect(code, argv.join(' ')).toBe(2);
      expect(stderr.text(), argv.join(' ')).toContain('Usage: node dist/cli.js generate');
    }
  });
});
