// One report: query Prometheus, draw the charts, render, and save <out>/<YYYY-MM-DD>/ (index.html, *.svg,
// report.json). Everything is built in memory and written to a hidden temporary directory that is renamed into
// place at the end: a failure (Prometheus down, a full disk) leaves no half-written report behind.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lineChart, type Chart } from './charts.js';
import { collectReport, type ReportData } from './collect.js';
import type { Logger } from './logger.js';
import type { PrometheusClient } from './prometheus.js';
import { EDGE_ANSWERS, periodOf, SLO, type Period } from './queries.js';
import { renderHtml, renderText, titleOf } from './render.js';
import { reportName } from './report-files.js';

export interface GenerateOptions {
  prometheus: PrometheusClient;
  /** The reports directory: the report goes to <out>/<end date>/. */
  out: string;
  end: Date;
  days: number;
  logger: Logger;
  version?: string;
  now?: () => Date;
}

export interface GeneratedReport {
  dir: string;
  title: string;
  data: ReportData;
  charts: Chart[];
  /** The page with its charts inlined, for mail. */
  mailHtml: string;
  text: string;
}

async function drawCharts(data: ReportData): Promise<Map<string, Chart | null>> {
  const domain = { start: new Date(data.period.chartStart), end: new Date(data.period.end) };
  const charts = await Promise.all([
    lineChart({
      name: 'throughput',
      title: 'Throughput (requests per second)',
      yTitle: 'requests/s',
      yFormat: ',~g',
      series: data.series.throughput,
      domain,
    }),
    lineChart({
      name: 'error-ratio',
      title: 'Error ratio (5xx share of requests)',
      yTitle: '5xx ratio',
      yFormat: '.2~%',
      series: data.series.errorRatio,
      domain,
      rule: { value: 1 - SLO.objective, label: 'error budget rate (0.1%)' },
    }),
    lineChart({
      name: 'latency',
      title: 'Latency percentiles (ms)',
      yTitle: 'ms',
      yFormat: ',~g',
      series: data.series.latency,
      scale: 1000,
      domain,
    }),
    lineChart({
      name: 'latency-routes',
      title: 'p95 latency by route (ms)',
      yTitle: 'p95 ms',
      yFormat: ',~g',
      series: data.series.routeP95,
      scale: 1000,
      domain,
    }),
  ]);
  return new Map(
    ['throughput', 'error-ratio', 'latency', 'latency-routes'].map((name, index) => [name, charts[index] ?? null]),
  );
}

/** Moves `temp` to `dir`, replacing an earlier report of the same day. */
async function publish(temp: string, dir: string) {
  try {
    await rename(temp, dir);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
  const old = path.join(path.dirname(dir), `.old-${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
  await rename(dir, old);
  await rename(temp, dir);
  await rm(old, { recursive: true, force: true });
}

/**
 * The period, its charts starting where the lab's traffic does: the first point of the edge's answer counters over
 * the period (at the period's own step), so that a lab younger than the period gets charts of its own age.
 */
async function periodWithData(options: GenerateOptions): Promise<Period> {
  const whole = periodOf(options.end, options.days);
  const first = new Date(whole.chartStart.getTime() + whole.stepSeconds * 1000);
  const answer = await options.prometheus.queryRange(EDGE_ANSWERS, first, whole.end, whole.stepSeconds);
  const times = answer.flatMap((series) => series.points.map((point) => point.t));
  return times.length > 0 ? periodOf(options.end, options.days, new Date(Math.min(...times))) : whole;
}

export async function generateReport(options: GenerateOptions): Promise<GeneratedReport> {
  const { logger } = options;
  const period = await periodWithData(options);
  logger.info('report started', {
    start: period.start.toISOString(),
    end: period.end.toISOString(),
    prometheus: options.prometheus.url,
  });
  // Nothing touches the disk before every query has answered.
  const data = await collectReport(options.prometheus, period, logger, options.now);
  const charts = await drawCharts(data);
  const drawn = [...charts.values()].filter((chart): chart is Chart => chart !== null);
  const version = options.version;
  const fileHtml = renderHtml(data, { mode: 'file', charts, ...(version ? { version } : {}) });
  const mailHtml = renderHtml(data, { mode: 'mail', charts, ...(version ? { version } : {}) });
  const text = renderText(data);

  const dir = path.join(path.resolve(options.out), reportName(period.end));
  await mkdir(path.dirname(dir), { recursive: true });
  const temp = path.join(path.dirname(dir), `.tmp-${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(temp);
    await Promise.all([
      writeFile(path.join(temp, 'index.html'), fileHtml),
      writeFile(path.join(temp, 'report.txt'), text),
      writeFile(path.join(temp, 'report.json'), `${JSON.stringify(data)}\n`),
      ...drawn.map((chart) => writeFile(path.join(temp, `${chart.name}.svg`), chart.svg)),
    ]);
    await publish(temp, dir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  logger.info('report saved', { dir, charts: drawn.map((chart) => chart.name) });
  return { dir, title: titleOf(data), data, charts: drawn, mailHtml, text };
}
