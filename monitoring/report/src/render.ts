// The report as HTML (one self-contained page: inline CSS, charts as <img> of the SVG files beside it, or inlined
// for mail) and as plain text (the mail's alternative). Every value goes through the `html` tag, which escapes it:
// route labels come from requests and may hold anything. "no data" is said plainly where a query returned nothing.
import type { Chart } from './charts.js';
import type { AlertRow, BackupRow, ReportData, RouteRow } from './collect.js';

// --- escaping ----------------------------------------------------------------------------------------------------

/** Markup that is already safe: only what `html` builds, and the SVG of our own charts (rawSvg). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString() {
    return this.value;
  }
}

export const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"'`]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c]!,
  );

const toHtml = (value: unknown): string => {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(toHtml).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
};

/** A template tag: every interpolated value is escaped unless it is SafeHtml (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, index) => {
    out += toHtml(value) + strings[index + 1]!;
  });
  return new SafeHtml(out);
}

/** An SVG produced by charts.ts (vega escapes the text it draws); refuses anything scriptable. */
function rawSvg(svg: string): SafeHtml {
  if (!svg.startsWith('<svg') || /<script|<foreignObject|\son\w+\s*=|javascript:/i.test(svg)) {
    throw new Error('refusing to inline an SVG that is not a plain chart');
  }
  return new SafeHtml(svg);
}

// --- formatting --------------------------------------------------------------------------------------------------

const NO_DATA = 'no data';

export const fmt = {
  int: (value: number | null) => (value === null ? NO_DATA : Math.round(value).toLocaleString('en-US')),
  rate: (value: number | null) =>
    value === null ? NO_DATA : `${value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 2 : 1 })} req/s`,
  percent: (value: number | null, digits = 2) => (value === null ? NO_DATA : `${(value * 100).toFixed(digits)}%`),
  duration: (seconds: number | null) => {
    if (seconds === null) return NO_DATA;
    if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0)} ms`;
    return `${seconds.toFixed(2)} s`;
  },
  minutes: (minutes: number) =>
    minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`,
  /** 2026-11-22 14:05 UTC */
  time: (iso: string | null) => (iso === null ? NO_DATA : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`),
  date: (iso: string) => iso.slice(0, 10),
  ok: (value: boolean | null) => (value === null ? NO_DATA : value ? 'success' : 'failed'),
};

/** "swarmlab weekly report 2026-11-15 – 2026-11-22" (the mail's subject and the page's title). */
export const titleOf = (data: ReportData) =>
  `swarmlab weekly report ${fmt.date(data.period.start)} – ${fmt.date(data.period.end)}`;

// --- the page ----------------------------------------------------------------------------------------------------

const CSS = `
  :root { color-scheme: light; }
  body { margin: 0; background: #f4f5f7; color: #1d2430; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
  main { max-width: 760px; margin: 0 auto; padding: 24px 16px 48px; background: #fff; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  h2 { font-size: 17px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #e3e6ea; }
  h3 { font-size: 14px; margin: 16px 0 6px; }
  .meta { color: #5b6573; margin: 0; font-size: 13px; }
  .cards { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 16px; }
  .card { flex: 1 1 160px; border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 12px; }
  .card .label { color: #5b6573; font-size: 12px; }
  .card .value { font-size: 18px; font-weight: 600; }
  table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceef1; vertical-align: top; }
  th { background: #f7f8fa; font-weight: 600; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  td.route { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
  figure { margin: 12px 0; }
  figure img, figure svg { max-width: 100%; height: auto; }
  figcaption { color: #5b6573; font-size: 12px; }
  .no-data { color: #5b6573; font-style: italic; background: #f7f8fa; border: 1px dashed #cfd4da; border-radius: 6px; padding: 8px 12px; }
  .bad { color: #b03a2e; font-weight: 600; }
  .good { color: #1e7a46; }
  details { margin-top: 32px; color: #5b6573; font-size: 12px; }
  details pre { white-space: pre-wrap; word-break: break-all; background: #f7f8fa; padding: 8px; }
  footer { margin-top: 32px; color: #5b6573; font-size: 12px; }
`;

export interface RenderOptions {
  /** "file": charts as <img src="<name>.svg">; "mail": the SVG inlined, so mail readers show it. */
  mode: 'file' | 'mail';
  charts: Map<string, Chart | null>;
  version?: string;
}

const noData = (why: string) => html`<p class="no-data">${NO_DATA} <span>(${why})</span></p>`;

function figure(chart: Chart | null | undefined, options: RenderOptions, caption: string) {
  if (!chart) return noData('no series in the period');
  const body = options.mode === 'mail' ? rawSvg(chart.svg) : html`<img src="${chart.name}.svg" alt="${chart.title}" />`;
  return html`<figure>
    ${body}
    <figcaption>${caption}</figcaption>
  </figure>`;
}

const card = (label: string, value: string, klass = '') =>
  html`<div class="card">
    <div class="label">${label}</div>
    <div class="value ${klass}">${value}</div>
  </div>`;

function routeTable(rows: RouteRow[], columns: 'traffic' | 'slow') {
  const head =
    columns === 'traffic'
      ? html`<tr>
          <th>route</th>
          <th class="num">requests</th>
          <th class="num">p50</th>
          <th class="num">p95</th>
          <th class="num">p99</th>
        </tr>`
      : html`<tr>
          <th>#</th>
          <th>route</th>
          <th class="num">p95</th>
          <th class="num">p99</th>
          <th class="num">requests</th>
          <th class="num">5xx</th>
        </tr>`;
  const body = rows.map((row, index) =>
    columns === 'traffic'
      ? html`<tr>
          <td class="route">${row.route}</td>
          <td class="num">${fmt.int(row.requests)}</td>
          <td class="num">${fmt.duration(row.p50)}</td>
          <td class="num">${fmt.duration(row.p95)}</td>
          <td class="num">${fmt.duration(row.p99)}</td>
        </tr>`
      : html`<tr>
          <td class="num">${index + 1}</td>
          <td class="route">${row.route}</td>
          <td class="num">${fmt.duration(row.p95)}</td>
          <td class="num">${fmt.duration(row.p99)}</td>
          <td class="num">${fmt.int(row.requests)}</td>
          <td class="num">${fmt.percent(row.errorRatio)}</td>
        </tr>`,
  );
  return html`<table>
    <thead>
      ${head}
    </thead>
    <tbody>
      ${body}
    </tbody>
  </table>`;
}

function sloSection(data: ReportData) {
  const slo = data.slo;
  if (!slo) return noData('no API requests in the SLO window');
  const met = slo.availability >= slo.objective;
  const budget =
    slo.budgetRemaining >= 0
      ? html`<span class="${slo.budgetRemaining < 0.25 ? 'bad' : 'good'}">${fmt.percent(slo.budgetRemaining, 1)}</span>`
      : html`<span class="bad">exhausted (${fmt.percent(slo.budgetRemaining, 1)})</span>`;
  return html`<table>
    <tbody>
      <tr>
        <th>objective</th>
        <td>${fmt.percent(slo.objective, 1)} of API requests without a 5xx over ${slo.windowDays} days</td>
      </tr>
      <tr>
        <th>availability (${slo.windowDays} days to ${fmt.time(data.period.end)})</th>
        <td class="${met ? 'good' : 'bad'}">${fmt.percent(slo.availability, 3)} ${met ? '(met)' : '(missed)'}</td>
      </tr>
      <tr>
        <th>requests / 5xx</th>
        <td>${fmt.int(slo.requests)} / ${fmt.int(slo.errors)}</td>
      </tr>
      <tr>
        <th>error budget remaining</th>
        <td>${budget} of ${fmt.int(slo.requests * (1 - slo.objective))} allowed 5xx</td>
      </tr>
      <tr>
        <th>availability in this period</th>
        <td>${fmt.percent(data.traffic.errorRatio === null ? null : 1 - data.traffic.errorRatio, 3)}</td>
      </tr>
    </tbody>
  </table>`;
}

function alertsSection(rows: AlertRow[]) {
  if (rows.length === 0) return noData('no alert fired in the period');
  return html`<table>
    <thead>
      <tr>
        <th>alert</th>
        <th>severity</th>
        <th class="num">fired</th>
        <th class="num">firing for</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (row) =>
          html`<tr>
            <td>${row.alertname}</td>
            <td class="${row.severity === 'critical' ? 'bad' : ''}">${row.severity}</td>
            <td class="num">${row.fired}</td>
            <td class="num">${fmt.minutes(row.firingMinutes)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function deploySection(data: ReportData) {
  const deploys = data.deploys;
  if (!deploys) return noData('no deploy has pushed its metrics (swarmlab_deploy_*)');
  const rows = deploys.rows.map(
    (row) =>
      html`<tr>
        <td class="${row.result === 'failure' && row.count > 0 ? 'bad' : ''}">${row.result}</td>
        <td>${row.strategy}</td>
        <td class="num">${row.count}</td>
      </tr>`,
  );
  return html`<table>
      <tbody>
        <tr>
          <th>deploys in the period</th>
          <td>${deploys.total} (${deploys.failures} failed)</td>
        </tr>
        <tr>
          <th>change failure rate</th>
          <td>${fmt.percent(deploys.changeFailureRate, 0)}</td>
        </tr>
        <tr>
          <th>rollbacks</th>
          <td>${fmt.int(deploys.rollbacks)}</td>
        </tr>
        <tr>
          <th>last successful deploy</th>
          <td>${fmt.time(deploys.lastSuccess)}</td>
        </tr>
        <tr>
          <th>last deploy</th>
          <td class="${deploys.lastRunOk === false ? 'bad' : ''}">${fmt.ok(deploys.lastRunOk)}</td>
        </tr>
      </tbody>
    </table>
    ${
      rows.length > 0
        ? html`<table>
            <thead>
              <tr>
                <th>result</th>
                <th>strategy</th>
                <th class="num">deploys</th>
              </tr>
            </thead>
            <tbody>
              ${rows}
            </tbody>
          </table>`
        : ''
    }`;
}

function backupSection(data: ReportData) {
  const backups = data.backups;
  if (!backups) return noData('no backup has pushed its metrics (swarmlab_backup_*)');
  const row = (item: BackupRow) =>
    html`<tr>
      <td>${item.type}</td>
      <td>${fmt.time(item.lastSuccess)}</td>
      <td class="${item.lastRunOk === false ? 'bad' : ''}">${fmt.ok(item.lastRunOk)}</td>
      <td class="num">${item.successes}</td>
      <td class="${item.status === 'ok' ? 'good' : 'bad'}">${item.status}</td>
    </tr>`;
  return html`<table>
    <thead>
      <tr>
        <th>type</th>
        <th>last success</th>
        <th>last run</th>
        <th class="num">successes in the period</th>
        <th>status</th>
      </tr>
    </thead>
    <tbody>
      ${backups.rows.map(row)}
      ${
        backups.drill
          ? row(backups.drill)
          : html`<tr>
              <td>restore drill</td>
              <td colspan="4">${NO_DATA}</td>
            </tr>`
      }
    </tbody>
  </table>`;
}

export function renderHtml(data: ReportData, options: RenderOptions): string {
  const t = data.traffic;
  const chart = (name: string) => options.charts.get(name);
  const doc = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${titleOf(data)}</title>
        <style>
          ${new SafeHtml(CSS)}
        </style>
      </head>
      <body>
        <main>
          <header>
            <h1>swarmlab weekly report</h1>
            <p class="meta">
              ${fmt.time(data.period.start)} – ${fmt.time(data.period.end)} (${data.period.days} days) · generated
              ${fmt.time(data.generatedAt)} from ${data.prometheusUrl}
            </p>
            <div class="cards">
              ${card('requests', fmt.int(t.requests))} ${card('mean throughput', fmt.rate(t.throughput))}
              ${card('5xx ratio', fmt.percent(t.errorRatio, 3), t.errorRatio !== null && t.errorRatio > 0.001 ? 'bad' : '')}
              ${card('p95 latency', fmt.duration(t.p95))}
              ${card(`availability (${data.slo?.windowDays ?? 30} d)`, fmt.percent(data.slo?.availability ?? null, 3))}
              ${card('error budget left', fmt.percent(data.slo?.budgetRemaining ?? null, 1), (data.slo?.budgetRemaining ?? 1) < 0.25 ? 'bad' : '')}
              ${card('alerts fired', String(data.alerts.reduce((sum, row) => sum + row.fired, 0)))}
              ${card('deploys', data.deploys ? `${data.deploys.total} (${data.deploys.failures} failed)` : NO_DATA)}
            </div>
          </header>

          <section id="throughput">
            <h2>Throughput</h2>
            <p>${fmt.int(t.requests)} API requests answered at the edge, ${fmt.rate(t.throughput)} on average.</p>
            ${figure(chart('throughput'), options, `Requests per second at the edge, all routes (rate over ${data.period.stepSeconds / 60} min).`)}
          </section>

          <section id="errors">
            <h2>Error rate</h2>
            <p>
              ${fmt.int(t.errors)} answers with a 5xx status at the edge (its own 503s, when no API task was ready,
              included): ${fmt.percent(t.errorRatio, 3)} of all requests.
            </p>
            ${figure(chart('error-ratio'), options, 'Share of requests answered with a 5xx at the edge; the dashed line is the error budget rate (0.1%).')}
          </section>

          <section id="latency">
            <h2>Latency</h2>
            <p>Over the period: p50 ${fmt.duration(t.p50)}, p95 ${fmt.duration(t.p95)}, p99 ${fmt.duration(t.p99)}.</p>
            ${figure(chart('latency'), options, 'Latency percentiles, all routes (from the histogram buckets).')}
            ${figure(chart('latency-routes'), options, 'p95 latency of the busiest routes.')}
            <h3>Percentiles per route (busiest first)</h3>
            ${data.routes.length > 0 ? routeTable(data.routes, 'traffic') : noData('no API requests in the period')}
          </section>

          <section id="slo">
            <h2>SLO and error budget</h2>
            ${sloSection(data)}
          </section>

          <section id="slow-routes">
            <h2>Top slow routes</h2>
            ${data.slowRoutes.length > 0 ? routeTable(data.slowRoutes, 'slow') : noData('no API requests in the period')}
          </section>

          <section id="alerts">
            <h2>Alerts fired</h2>
            ${alertsSection(data.alerts)}
          </section>

          <section id="deployments">
            <h2>Deployments</h2>
            ${deploySection(data)}
          </section>

          <section id="backups">
            <h2>Backups</h2>
            ${backupSection(data)}
          </section>

          <details>
            <summary>Queries</summary>
            <pre>${data.queries.map((query) => `${query.name}:\n  ${query.promql}\n`).join('\n')}</pre>
          </details>
          <footer>swarmlab-reporter${options.version ? ` ${options.version}` : ''} · all times UTC</footer>
        </main>
      </body>
    </html> `;
  return doc.value;
}

// --- the text alternative ----------------------------------------------------------------------------------------

const pad = (rows: string[][]) => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

export function renderText(data: ReportData): string {
  const t = data.traffic;
  const lines: string[] = [
    titleOf(data),
    `${fmt.time(data.period.start)} – ${fmt.time(data.period.end)} (${data.period.days} days), from ${data.prometheusUrl}`,
    '',
    'Throughput',
    `  ${fmt.int(t.requests)} requests at the edge, ${fmt.rate(t.throughput)} on average`,
    '',
    'Error rate',
    `  ${fmt.int(t.errors)} 5xx at the edge: ${fmt.percent(t.errorRatio, 3)}`,
    '',
    'Latency',
    `  p50 ${fmt.duration(t.p50)}, p95 ${fmt.duration(t.p95)}, p99 ${fmt.duration(t.p99)}`,
    '',
    'SLO and error budget',
    data.slo
      ? `  availability ${fmt.percent(data.slo.availability, 3)} over ${data.slo.windowDays} days (objective ${fmt.percent(data.slo.objective, 1)}), error budget remaining ${fmt.percent(data.slo.budgetRemaining, 1)}`
      : `  ${NO_DATA}`,
    '',
    'Top slow routes',
    data.slowRoutes.length > 0
      ? pad([
          ['route', 'p95', 'p99', 'requests', '5xx'],
          ...data.slowRoutes.map((row) => [
            row.route,
            fmt.duration(row.p95),
            fmt.duration(row.p99),
            fmt.int(row.requests),
            fmt.percent(row.errorRatio),
          ]),
        ]).replace(/^/gm, '  ')
      : `  ${NO_DATA}`,
    '',
    'Alerts fired',
    data.alerts.length > 0
      ? pad([
          ['alert', 'severity', 'fired', 'firing for'],
          ...data.alerts.map((row) => [row.alertname, row.severity, String(row.fired), fmt.minutes(row.firingMinutes)]),
        ]).replace(/^/gm, '  ')
      : `  ${NO_DATA} (no alert fired in the period)`,
    '',
    'Deployments',
    data.deploys
      ? `  ${data.deploys.total} deploys, ${data.deploys.failures} failed (change failure rate ${fmt.percent(data.deploys.changeFailureRate, 0)}); last success ${fmt.time(data.deploys.lastSuccess)}`
      : `  ${NO_DATA}`,
    '',
    'Backups',
    data.backups
      ? pad([
          ['type', 'last success', 'last run', 'successes', 'status'],
          ...[...data.backups.rows, ...(data.backups.drill ? [data.backups.drill] : [])].map((row) => [
            row.type,
            fmt.time(row.lastSuccess),
            fmt.ok(row.lastRunOk),
            String(row.successes),
            row.status,
          ]),
        ]).replace(/^/gm, '  ')
      : `  ${NO_DATA}`,
    '',
    'Charts: in the HTML part of this mail, and in the report directory.',
  ];
  return `${lines.join('\n')}\n`;
}
