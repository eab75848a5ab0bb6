// Grafana's configuration, checked without Grafana (its official image cannot be pulled here, see
// docs/monitoring.md "Grafana"): the dashboards' structure, the provisioning files, grafana.ini, and the PromQL of
// every panel, annotation and variable sent to a real Prometheus (Debian's, a child process on 127.0.0.1 with the
// lab's rule files). That Prometheus also scrapes the API's own metrics (api/src/lib/metrics.ts, served by this
// test) and counters in the HAProxy edge's format, so that the API and SLO panels are shown to return data, not only
// to parse. That every panel has data in a deployed lab is the end-to-end test's (lab/test/e2e.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, registerPoolMetrics } from '../../api/src/lib/metrics.js';
import { CATALOGUE } from '../lib/lab-secrets.js';
import { REPO_ROOT } from '../lib/paths.js';
import { requireDebianTools } from '../lib/debian-tools.js';
import { freePort } from '../lib/pg-cluster.js';
import {
  type DataSourceRef,
  dashboardFiles,
  dashboards,
  expressionsOf,
  labelValuesOf,
  panelsOf,
  readDashboard,
  regexLiteral,
  toPromQL,
  variablesOf as variablesOfDashboard,
} from '../lib/grafana-dashboards.js';

const GRAFANA = path.join(REPO_ROOT, 'monitoring/grafana');
const DATASOURCES = path.join(GRAFANA, 'provisioning/datasources/datasources.yml');
const PROVIDERS = path.join(GRAFANA, 'provisioning/dashboards/dashboards.yml');
const GRAFANA_INI = path.join(GRAFANA, 'grafana.ini');
const RULES = path.join(REPO_ROOT, 'monitoring/prometheus/rules');

/** The dashboards the lab promises (docs/monitoring.md), by file name; each has the uid swarmlab-<name>. */
const EXPECTED_DASHBOARDS = ['alerts', 'api', 'backups', 'dora', 'nodes', 'postgres', 'slo'];
const PANEL_TYPES = new Set(['timeseries', 'stat', 'table']);
/** What scripts/lib/dora.ts pushes for the DORA dashboard (the CI/CD issue); the rest is in docs/monitoring.md. */
const DORA_METRICS = [
  'swarmlab_deploy_total',
  'swarmlab_deploy_lead_time_seconds',
  'swarmlab_deploy_last_success_timestamp_seconds',
  'swarmlab_deploy_rollbacks_total',
  'swarmlab_deploy_time_to_restore_seconds',
];

interface DataSource {
  name: string;
  uid: string;
  type: string;
  url: string;
  access?: string;
  isDefault?: boolean;
  editable?: boolean;
  jsonData?: Record<string, unknown> & { derivedFields?: { datasourceUid?: string; url: string }[] };
}

const datasources = () => (parse(readFileSync(DATASOURCES, 'utf8')) as { datasources: DataSource[] }).datasources;

/** A minimal INI reader (sections, `key = value`, `;` and `#` comments), enough for grafana.ini. */
function parseIni(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = { '': {} };
  let current = sections[''];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = sections[section[1]!] ??= {};
      continue;
    }
    const [key, ...rest] = line.split('=');
    current![key!.trim()] = rest.join('=').trim();
  }
  return sections;
}

// --- a real Prometheus, scraping the API's real metrics ---------------------------------------------------------

let workDir = '';
let prometheus: ChildProcess | undefined;
let prometheusLog = '';
let promUrl = '';
let apiServer: Server | undefined;

const requirePrometheus = () => requireDebianTools({ prometheus: 'prometheus' });

/** Serves the API's metrics (its own registry), with a little traffic recorded before every scrape. */
async function startApiMetrics(): Promise<number> {
  const metrics = createMetrics({ version: '1.2.3', gitSha: 'abc1234' });
  registerPoolMetrics(metrics, {
    primary: { totalCount: 5, idleCount: 3, waitingCount: 0 },
    replica: { totalCount: 4, idleCount: 4, waitingCount: 0 },
  });
  const traffic = () => {
    const requests: [string, string, string, number][] = [
      ['GET', '/v1/users', '200', 0.02],
      ['GET', '/v1/users/:id', '200', 0.3],
      ['POST', '/v1/users', '500', 0.8],
      ['POST', '/v1/auth/login', '401', 0.05],
    ];
    for (const [method, route, status, seconds] of requests) {
      metrics.httpDuration.observe({ method, route, status_code: status }, seconds);
    }
    metrics.errors.inc({ code: 'internal-error', status_code: '500' });
    metrics.loginFailures.inc({ reason: 'bad_credentials' });
    metrics.importRows.inc({ outcome: 'created' });
    metrics.dbReads.inc({ target: 'replica' });
    metrics.dbReadFallbacks.inc({ reason: 'read_your_writes' });
    metrics.replicaLag.set(0.2);
    metrics.replicaUp.set(1);
  };
  // The HAProxy edge's answers, as its exporter writes them (the SLO counts at the edge: rules/slo.yml).
  let edgeAnswers = 0;
  const edge = () => {
    edgeAnswers += 100;
    return ['2xx', '5xx']
      .map(
        (code) =>
          `haproxy_backend_http_responses_total{proxy="api",code="${code}"} ${code === '2xx' ? edgeAnswers : 1}`,
      )
      .join('\n');
  };
  apiServer = createServer((req, res) => {
    if (req.url === '/edge') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${edge()}\n`);
      return;
    }
    traffic();
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (error: Error) => res.writeHead(500).end(error.message),
    );
  });
  apiServer.listen(0, '127.0.0.1');
  await new Promise((resolve) => apiServer!.once('listening', resolve));
  return (apiServer.address() as AddressInfo).port;
}

interface QueryAnswer {
  status: string;
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown[] };
}

async function query(expr: string): Promise<QueryAnswer> {
  const response = await fetch(`${promUrl}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }),
  });
  return (await response.json()) as QueryAnswer;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (prometheus?.exitCode != null) throw new Error(`prometheus exited:\n${prometheusLog}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${prometheusLog.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  await requirePrometheus();
  workDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-grafana-'));
  const apiPort = await startApiMetrics();
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const ruleFiles = readdirSync(RULES)
    .filter((name) => name.endsWith('.yml'))
    .map((name) => path.join(RULES, name));
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: [
      { job_name: 'api', static_configs: [{ targets: [`127.0.0.1:${apiPort}`] }] },
      { job_name: 'edge-fallback', metrics_path: '/edge', static_configs: [{ targets: [`127.0.0.1:${apiPort}`] }] },
    ],
  };
  // JSON is YAML: no quoting to get wrong.
  await writeFile(path.join(workDir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${path.join(workDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(workDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
  prometheus.stderr!.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
  await waitFor('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 30_000);
}, 300_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (apiServer) {
    apiServer.closeAllConnections();
    await new Promise((resolve) => apiServer!.close(resolve));
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 30_000);

// --- the tests ----------------------------------------------------------------------------------------------------

describe('Grafana dashboards', () => {
  it('when the dashboards are read, then each parses and has a stable uid (swarmlab-<file>) and a title, all unique', () => {
    expect(dashboardFiles()).toEqual(EXPECTED_DASHBOARDS.map((name) => `${name}.json`));
    const all = dashboards();
    for (const { file, doc } of all) {
      expect(doc.uid, file).toBe(`swarmlab-${file.replace(/\.json$/, '')}`);
      expect(doc.title, file).toMatch(/\S/);
      expect(doc.schemaVersion, file).toBe(39);
      // Provisioned: no database id of its own, not editable in the UI.
      expect(doc.id ?? null, file).toBeNull();
      expect(doc.editable, file).toBe(false);
      expect(panelsOf(doc).length, file).toBeGreaterThanOrEqual(6);
    }
    expect(new Set(all.map(({ doc }) => doc.uid)).size).toBe(all.length);
    expect(new Set(all.map(({ doc }) => doc.title)).size).toBe(all.length);
  });

  it('when a panel is placed, then it has a unique id, a known type and a gridPos inside 24 columns, overlapping none', () => {
    for (const { file, doc } of dashboards()) {
      const panels = panelsOf(doc);
      const ids = panels.map((panel) => panel.id);
      expect(
        ids.every((id) => Number.isInteger(id) && id > 0),
        `${file}: panel ids`,
      ).toBe(true);
      expect(new Set(ids).size, `${file}: panel ids are unique`).toBe(ids.length);
      const cells = new Map<string, string>();
      for (const panel of panels) {
        const where = `${file}: panel ${panel.id} "${panel.title}"`;
        expect(PANEL_TYPES, where).toContain(panel.type);
        expect(panel.title, where).toMatch(/\S/);
        const grid = panel.gridPos;
        expect(grid, `${where}: gridPos`).toBeDefined();
        const { h, w, x, y } = grid!;
        expect(
          [h, w, x, y].every((n) => Number.isInteger(n) && n >= 0),
          `${where}: gridPos integers`,
        ).toBe(true);
        expect(w > 0 && h > 0 && x + w <= 24, `${where}: inside the 24 columns`).toBe(true);
        for (let row = y; row < y + h; row++) {
          for (let column = x; column < x + w; column++) {
            const other = cells.get(`${row}/${column}`);
            expect(other, `${where} overlaps ${other}`).toBeUndefined();
            cells.set(`${row}/${column}`, `panel ${panel.id}`);
          }
        }
      }
    }
  });

  it('when a panel, target, variable or annotation names a datasource, then the provisioning defines its uid', () => {
    const uids = new Set(datasources().map((source) => source.uid));
    for (const { file, doc } of dashboards()) {
      for (const panel of panelsOf(doc)) {
        const where = `${file}: panel "${panel.title}"`;
        expect(uids, `${where}: datasource ${panel.datasource?.uid}`).toContain(panel.datasource?.uid);
        expect(panel.targets?.length, `${where}: targets`).toBeGreaterThan(0);
        const refIds = panel.targets!.map((target) => target.refId);
        expect(new Set(refIds).size, `${where}: refIds are unique`).toBe(refIds.length);
        for (const target of panel.targets!) {
          expect(target.datasource?.uid ?? panel.datasource?.uid, `${where} ${target.refId}`).toBe(
            panel.datasource?.uid,
          );
          expect(target.expr, `${where} ${target.refId}: expr`).toMatch(/\S/);
        }
      }
      for (const variable of doc.templating?.list ?? []) {
        if (variable.datasource) expect(uids, `${file}: $${variable.name}`).toContain(variable.datasource.uid);
      }
      for (const annotation of doc.annotations?.list ?? []) {
        expect(uids, `${file}: annotation ${annotation.name}`).toContain(annotation.datasource?.uid);
      }
    }
  });

  it('when the API dashboard links a slow route to its logs, then the link opens Explore on Loki filtered by the route', () => {
    const doc = readDashboard('api.json');
    const links = panelsOf(doc).flatMap((panel) => panel.fieldConfig?.defaults?.links ?? []);
    const explore = links.filter((link) => link.url.startsWith('/explore?'));
    expect(explore.length).toBeGreaterThanOrEqual(1);
    const uids = new Set(datasources().map((source) => source.uid));
    for (const link of explore) {
      // What Grafana makes of the link for the row of /v1/users/:id (percent-encoded, as :percentencode does).
      const url = link.url
        .replace('${__data.fields.route:percentencode}', encodeURIComponent('/v1/users/:id'))
        .replace('${slow_ms}', '500')
        .replace('${__from}', '1700000000000')
        .replace('${__to}', '1700003600000');
      expect(url, 'every Grafana variable of the link is known').not.toMatch(/\$\{/);
      const panes = JSON.parse(new URL(url, 'https://grafana.lab.localhost').searchParams.get('panes')!) as Record<
        string,
        { datasource: string; queries: { datasource: DataSourceRef; expr: string }[]; range: { from: string } }
      >;
      for (const pane of Object.values(panes)) {
        expect(pane.datasource).toBe('loki');
        expect(uids).toContain(pane.datasource);
        expect(pane.range.from).toBe('1700000000000');
        for (const paneQuery of pane.queries) {
          expect(paneQuery.datasource.uid).toBe('loki');
          expect(paneQuery.expr).toBe('{service="api"} | json | route = `/v1/users/:id` | durationMs > 500');
        }
      }
    }
    // Each log line's requestId links to every line of that request (a Loki derived field).
    const loki = datasources().find((source) => source.uid === 'loki')!;
    const requestId = loki.jsonData?.derivedFields?.find((field) => field.url.includes('requestId'));
    expect(requestId?.datasourceUid).toBe('loki');
  });

  it('when the DORA and backup panels read Pushgateway metrics, then they use the names the jobs push', () => {
    const names = (file: string, prefix: RegExp) =>
      new Set(
        expressionsOf(file, readDashboard(file)).flatMap(({ expr }) =>
          [...expr.matchAll(/\bswarmlab_[a-z_]+/g)].map((match) => match[0]).filter((name) => prefix.test(name)),
        ),
      );
    // docs/monitoring.md, "Pushgateway metrics": the table of what batch jobs push.
    const documented = new Set(
      [...readFileSync(path.join(REPO_ROOT, 'docs/monitoring.md'), 'utf8').matchAll(/^\| `(swarmlab_[a-z_]+)`/gm)].map(
        (match) => match[1]!,
      ),
    );
    const dora = names('dora.json', /^swarmlab_deploy_/);
    for (const name of DORA_METRICS) expect(dora, `the DORA dashboard reads ${name}`).toContain(name);
    for (const name of dora) expect([...DORA_METRICS, ...documented], name).toContain(name);
    const backups = names('backups.json', /^swarmlab_(backup|restore_drill)_/);
    expect(backups.size).toBeGreaterThanOrEqual(4);
    for (const name of backups) expect(documented, `${name} is in docs/monitoring.md`).toContain(name);
  });
});

describe('Grafana provisioning', () => {
  it('when Grafana reads datasources.yml, then it defines prometheus, loki and alertmanager by uid at the lab URLs', () => {
    const doc = parse(readFileSync(DATASOURCES, 'utf8')) as {
      apiVersion: number;
      prune?: boolean;
      datasources: DataSource[];
    };
    expect(doc.apiVersion).toBe(1);
    const byUid = Object.fromEntries(doc.datasources.map((source) => [source.uid, source]));
    expect(Object.keys(byUid).sort()).toEqual(['alertmanager', 'loki', 'prometheus']);
    expect(byUid.prometheus).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    expect(byUid.loki).toMatchObject({ type: 'loki', url: 'http://loki:3100' });
    expect(byUid.alertmanager).toMatchObject({ type: 'alertmanager', url: 'http://alertmanager:9093' });
    expect(byUid.alertmanager!.jsonData?.implementation).toBe('prometheus');
    // $__rate_interval is at least four scrape intervals: Grafana must know the lab's (15 s).
    expect(byUid.prometheus!.jsonData?.timeInterval).toBe('15s');
    expect(doc.datasources.filter((source) => source.isDefault)).toHaveLength(1);
    for (const source of doc.datasources) {
      expect(source.access, source.uid).toBe('proxy');
      expect(source.editable, source.uid).toBe(false);
      expect(source.name, source.uid).toMatch(/\S/);
    }
    expect(new Set(doc.datasources.map((source) => source.name)).size).toBe(doc.datasources.length);
    // Grafana expands $NAME and ${NAME} from its environment in every value of this file: Grafana's own ${...}
    // (a derived field's ${__value.raw}) must read $${...}.
    const strings = (value: unknown): string[] =>
      typeof value === 'string'
        ? [value]
        : typeof value === 'object' && value !== null
          ? Object.values(value).flatMap(strings)
          : [];
    // Grafana's $__file{path} reads a secret's file, as intended.
    const lone = strings(doc).filter((value) =>
      value
        .replaceAll('$$', '')
        .replace(/^\$__file\{\/run\/secrets\/[a-z_]+\}$/, '')
        .includes('$'),
    );
    expect(lone, 'a lone $ would be expanded from the environment').toEqual([]);
    // Prometheus and Alertmanager ask for their basic auth: the passwords come from the secrets the stack mounts in
    // Grafana's task.
    for (const uid of ['prometheus', 'alertmanager']) {
      expect(byUid[uid], uid).toMatchObject({
        basicAuth: true,
        basicAuthUser: uid,
        secureJsonData: { basicAuthPassword: `$__file{/run/secrets/${uid}_password}` },
      });
    }
    expect(strings(doc).some((value) => value.includes('$${__value.raw}'))).toBe(true);
  });

  it('when Grafana reads dashboards.yml, then one file provider loads /etc/grafana/dashboards into "swarmlab", read-only', () => {
    const doc = parse(readFileSync(PROVIDERS, 'utf8')) as {
      apiVersion: number;
      providers: {
        name: string;
        type: string;
        folder: string;
        disableDeletion?: boolean;
        allowUiUpdates?: boolean;
        options: { path: string };
      }[];
    };
    expect(doc.apiVersion).toBe(1);
    expect(doc.providers).toHaveLength(1);
    expect(doc.providers[0]).toMatchObject({
      type: 'file',
      folder: 'swarmlab',
      allowUiUpdates: false,
      disableDeletion: true,
      options: { path: '/etc/grafana/dashboards' },
    });
  });

  it('when Grafana reads grafana.ini, then anonymous access is off and the admin password comes from its secret', () => {
    const ini = parseIni(readFileSync(GRAFANA_INI, 'utf8'));
    expect(ini['auth.anonymous']?.enabled).toBe('false');
    const secret = /^\$__file\{\/run\/secrets\/([a-z_]+)\}$/.exec(ini.security?.admin_password ?? '')?.[1];
    expect(secret, 'admin_password = $__file{/run/secrets/<secret>}').toBe('grafana_admin_password');
    // The secret exists in the lab's catalogue (npm run secrets makes it), for the grafana service.
    expect(CATALOGUE.grafana_admin_password.services).toContain('grafana');
    expect(ini.security?.cookie_secure).toBe('true');
    expect(ini.users?.allow_sign_up).toBe('false');
    expect(ini.server?.root_url).toBe('https://grafana.lab.localhost:8443/');
    expect(ini.analytics).toMatchObject({ reporting_enabled: 'false', check_for_updates: 'false' });
    // The home dashboard is one of ours, where the provider mounts them.
    const home = ini.dashboards?.default_home_dashboard_path ?? '';
    expect(home.startsWith('/etc/grafana/dashboards/')).toBe(true);
    expect(dashboardFiles()).toContain(path.basename(home));
  });
});

describe('PromQL of every panel, on a real Prometheus', () => {
  const expressions = () => dashboards().flatMap(({ file, doc }) => expressionsOf(file, doc));
  const variablesOf = (file: string) => variablesOfDashboard(readDashboard(file));

  it('when every panel, annotation and variable query is sent to Prometheus, then each parses (status success)', async () => {
    const all = expressions();
    expect(all.length).toBeGreaterThanOrEqual(100);
    const failures: string[] = [];
    for (const { dashboard, where, expr } of all) {
      const promql = toPromQL(expr, variablesOf(dashboard));
      const answer = await query(promql);
      if (answer.status !== 'success') failures.push(`${dashboard} ${where}: ${answer.error}\n  ${promql}`);
    }
    expect(failures).toEqual([]);
  });

  it('when a panel reads a recording rule, then the lab rule files record it and Prometheus loaded them', async () => {
    const recorded = new Set(
      readdirSync(RULES)
        .filter((name) => name.endsWith('.yml'))
        .flatMap((name) => {
          const doc = parse(readFileSync(path.join(RULES, name), 'utf8')) as {
            groups: { rules: { record?: string }[] }[];
          };
          return doc.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.record ? [rule.record] : [])));
        }),
    );
    const used = new Set(
      expressions().flatMap(({ expr }) => [...expr.matchAll(/\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b/g)].map((m) => m[0])),
    );
    expect(used.size).toBeGreaterThanOrEqual(5);
    for (const name of used) expect(recorded, name).toContain(name);

    const rules = (await (await fetch(`${promUrl}/api/v1/rules?type=record`)).json()) as {
      data: { groups: { rules: { name: string; health: string }[] }[] };
    };
    const loaded = rules.data.groups.flatMap((group) => group.rules);
    for (const name of used)
      expect(
        loaded.map((rule) => rule.name),
        `Prometheus loaded ${name}`,
      ).toContain(name);
    for (const rule of loaded) expect(rule.health, `${rule.name} evaluates`).not.toBe('err');
  });

  it("when Prometheus scrapes the API's own metrics, then every panel of the API and SLO dashboards returns data", async () => {
    // Rates need two scrapes, and the SLO panels the recording rules evaluated after them: the 30-day totals' group
    // runs once a minute, at an offset of its own within the minute.
    await waitFor(
      'the recording rules to have data',
      async () =>
        ((await query('slo:api_error_ratio:rate3d')).data?.result.length ?? 0) > 0 &&
        ((await query('slo:api_edge_requests:increase30d')).data?.result.length ?? 0) > 0,
      90_000,
    );
    const empty: string[] = [];
    for (const file of ['api.json', 'slo.json']) {
      // One real value per query variable, as Grafana offers them (label_values), rather than All (.*): a panel
      // that filters on a label the metric lacks then shows nothing, and fails here.
      const chosen: Record<string, string> = {};
      for (const variable of variablesOf(file).filter((v) => v.type === 'query')) {
        const { selector, label } = labelValuesOf(variable)!;
        const url = `${promUrl}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': selector! })}`;
        const values = ((await (await fetch(url)).json()) as { data: string[] }).data;
        expect(values.length, `${file}: $${variable.name} offers values`).toBeGreaterThan(0);
        chosen[variable.name] = regexLiteral(values[0]!);
      }
      for (const { where, expr } of expressionsOf(file, readDashboard(file))) {
        if (where.startsWith('annotation')) continue; // deploy markers: the deploys' metrics, not the API's
        const promql = toPromQL(expr, variablesOf(file), chosen);
        const answer = await query(promql);
        if (answer.status !== 'success' || (answer.data?.result.length ?? 0) === 0) {
          empty.push(`${file} ${where}: ${answer.error ?? 'no data'}\n  ${promql}`);
        }
      }
    }
    expect(empty).toEqual([]);
  }, 120_000);

  it('when an expression is broken or names an unknown variable, then the check refuses it (the check can fail)', async () => {
    const broken = await query(
      toPromQL('sum(rate(http_request_duration_seconds_count{job="api"}[$__rate_interval])', []),
    );
    expect(broken.status).toBe('error');
    expect(broken.errorType).toBe('bad_data');
    const typo = await query(toPromQL('histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])) > > 1', []));
    expect(typo.status).toBe('error');
    expect(() => toPromQL('sum(rate(x{route=~"$rout"}[$__rate_interval]))', variablesOf('api.json'))).toThrow(
      /unknown variable \$rout/,
    );
    // And what the check accepts is what Grafana would send: variables and macros replaced, label_replace's $1 kept.
    expect(
      toPromQL(
        'label_replace(rate(x{route=~"$route"}[$__rate_interval]), "a", "$1", "b", "(.*)")',
        variablesOf('api.json'),
      ),
    ).toBe('label_replace(rate(x{route=~".*"}[60s]), "a", "$1", "b", "(.*)")');
  });
});
