// The lab's Grafana dashboards (monitoring/grafana/dashboards) as data: their panels, and every PromQL they send, made
// concrete as Grafana would send it (variables and macros replaced). Read by the configuration tests
// (scripts/test/grafana.test.ts: every query parses, against a test Prometheus) and by the end-to-end test (every
// panel has data in the deployed lab's Prometheus).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './paths.js';

export const DASHBOARDS_DIR = path.join(REPO_ROOT, 'monitoring/grafana/dashboards');

/** The lab's scrape interval: Grafana's datasource knows it (timeInterval), and $__rate_interval is built on it. */
const SCRAPE_SECONDS = 15;
/** Grafana asks for one point per pixel of a panel's width: 60 pixels per grid column on a 1440-pixel screen. */
const PIXELS_PER_COLUMN = 60;

export interface DataSourceRef {
  type?: string;
  uid?: string;
}
export interface Target {
  refId: string;
  expr?: string;
  instant?: boolean;
  datasource?: DataSourceRef;
}
export interface DataLink {
  title: string;
  url: string;
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: DataSourceRef;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  fieldConfig?: { defaults?: { links?: DataLink[] } };
  /** Points Grafana asks for across the panel (Query options); its width in pixels when unset. */
  maxDataPoints?: number;
  panels?: Panel[];
}
export interface Variable {
  name: string;
  type: string;
  datasource?: DataSourceRef;
  query?: string | { query?: string };
  includeAll?: boolean;
  allValue?: string;
  current?: { value?: string | string[] };
}
export interface Annotation {
  name: string;
  datasource?: DataSourceRef;
  expr?: string;
}
export interface Dashboard {
  id?: number | null;
  uid: string;
  title: string;
  schemaVersion: number;
  editable?: boolean;
  time?: { from: string; to: string };
  panels: Panel[];
  templating?: { list: Variable[] };
  annotations?: { list: Annotation[] };
}

export const dashboardFiles = () =>
  readdirSync(DASHBOARDS_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort();
export const readDashboard = (file: string) =>
  JSON.parse(readFileSync(path.join(DASHBOARDS_DIR, file), 'utf8')) as Dashboard;
export const dashboards = () => dashboardFiles().map((file) => ({ file, doc: readDashboard(file) }));
export const variablesOf = (doc: Dashboard) => doc.templating?.list ?? [];

/** Every panel that shows something: rows are replaced by the panels they hold when collapsed. */
export const panelsOf = (doc: Dashboard): Panel[] =>
  doc.panels.flatMap((panel) => (panel.type === 'row' ? (panel.panels ?? []) : [panel]));

/** One PromQL expression of a dashboard, with where it comes from. */
export interface Expression {
  dashboard: string;
  where: string;
  expr: string;
  /** For a panel target: its panel's title and how many points Grafana asks for across it, and whether Grafana runs
   * it as an instant query (or a range). */
  panel?: string;
  maxDataPoints?: number;
  instant?: boolean;
}

/** A query variable's query: label_values(<selector>, <label>), query_result(<expr>), ... */
export const definitionOf = (variable: Variable) =>
  (typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '')).trim();

/** A label_values(<selector>, <label>) variable's two parts. */
export function labelValuesOf(variable: Variable): { selector: string; label: string } | undefined {
  const match = /^label_values\((.+),\s*(\w+)\)$/.exec(definitionOf(variable));
  return match ? { selector: match[1]!, label: match[2]! } : undefined;
}

/** Every PromQL a dashboard sends: panel targets, annotations, and the selectors of label_values() variables. */
export function expressionsOf(file: string, doc: Dashboard): Expression[] {
  const found: Expression[] = [];
  for (const panel of panelsOf(doc)) {
    for (const target of panel.targets ?? []) {
      const uid = target.datasource?.uid ?? panel.datasource?.uid;
      if (uid === 'prometheus' && target.expr) {
        found.push({
          dashboard: file,
          where: `panel "${panel.title}" ${target.refId}`,
          expr: target.expr,
          panel: panel.title,
          maxDataPoints: panel.maxDataPoints ?? (panel.gridPos?.w ?? 24) * PIXELS_PER_COLUMN,
          instant: target.instant === true,
        });
      }
    }
  }
  for (const annotation of doc.annotations?.list ?? []) {
    if (annotation.datasource?.uid === 'prometheus' && annotation.expr) {
      found.push({ dashboard: file, where: `annotation "${annotation.name}"`, expr: annotation.expr });
    }
  }
  for (const variable of variablesOf(doc)) {
    if (variable.type !== 'query' || variable.datasource?.uid !== 'prometheus') continue;
    const definition = definitionOf(variable);
    const selector = labelValuesOf(variable)?.selector ?? /^query_result\((.+)\)$/.exec(definition)?.[1];
    if (selector) found.push({ dashboard: file, where: `variable $${variable.name}`, expr: selector });
  }
  return found;
}

/** Seconds of the dashboard's default time range (`now-6h` → 21600); one hour when it has none. */
export function rangeSecondsOf(doc: Dashboard): number {
  const match = /^now-(\d+)([smhdw])$/.exec(doc.time?.from ?? '');
  if (!match) return 3600;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(match[1]) * unit;
}

/** The step Grafana queries a range of `rangeSeconds` with for `maxDataPoints` points, and its macros. */
export function grafanaInterval(rangeSeconds: number, maxDataPoints = 24 * PIXELS_PER_COLUMN) {
  const step = Math.max(SCRAPE_SECONDS, Math.ceil(rangeSeconds / maxDataPoints));
  const macros: Record<string, string> = {
    __interval: `${step}s`,
    __interval_ms: String(step * 1000),
    // Grafana: max($__interval + scrape interval, 4 × scrape interval).
    __rate_interval: `${Math.max(step + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)}s`,
    __range: `${rangeSeconds}s`,
    __range_s: String(rangeSeconds),
    __range_ms: String(rangeSeconds * 1000),
  };
  return { step, macros };
}

/**
 * The expression as Grafana would send it: macros ($__rate_interval, ...) replaced for `rangeSeconds`, and the
 * dashboard's variables ($route, ${route:regex}, [[route]]) by concrete values: `chosen` ones, else the variable's
 * current value, else `.*` (All). `$1` (label_replace) stays; an unknown variable throws.
 */
export function toPromQL(
  expr: string,
  variables: Variable[],
  chosen: Record<string, string> = {},
  rangeSeconds = 3600,
  maxDataPoints?: number,
): string {
  const { macros } = grafanaInterval(rangeSeconds, maxDataPoints);
  const values = new Map(
    variables.map((variable) => {
      const current = variable.current?.value;
      const concrete = Array.isArray(current) ? current[0] : current;
      const all = variable.allValue ?? '.*';
      const value = variable.includeAll || concrete === undefined || concrete === '$__all' ? all : concrete;
      return [variable.name, chosen[variable.name] ?? value] as const;
    }),
  );
  return expr.replace(
    /\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)(?::[\w]+)?\]\]|\$(\w+)/g,
    (match, braced?: string, bracketed?: string, bare?: string) => {
      const name = (braced ?? bracketed ?? bare)!;
      if (/^\d+$/.test(name)) return match;
      if (Object.hasOwn(macros, name)) return macros[name]!;
      const value = values.get(name);
      if (value === undefined) throw new Error(`unknown variable $${name} in: ${expr}`);
      return value;
    },
  );
}

/** A value as a regex that matches it literally (Grafana's escaping of a chosen variable value). */
export const regexLiteral = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&');

/** One panel query made concrete, as the deployed lab's Grafana would run it. */
export interface PanelQuery {
  dashboard: string;
  panel: string;
  where: string;
  promql: string;
  instant: boolean;
  rangeSeconds: number;
  stepSeconds: number;
}

/**
 * Every panel query of every dashboard as Grafana runs it when the dashboard opens: its variables at their defaults
 * (All, for the lab's), its own time range, and a step from the panel's width. A label_values() variable that offers
 * no value at all (from `labelValues`) is reported in `unresolved`.
 */
export async function panelQueries(
  labelValues: (selector: string, label: string) => Promise<string[]>,
): Promise<{ queries: PanelQuery[]; unresolved: string[] }> {
  const queries: PanelQuery[] = [];
  const unresolved: string[] = [];
  for (const { file, doc } of dashboards()) {
    const variables = variablesOf(doc);
    for (const variable of variables) {
      const parts = variable.type === 'query' ? labelValuesOf(variable) : undefined;
      if (parts && (await labelValues(parts.selector, parts.label)).length === 0) {
        unresolved.push(`${file}: $${variable.name} offers no value (${definitionOf(variable)})`);
      }
    }
    const rangeSeconds = rangeSecondsOf(doc);
    for (const expression of expressionsOf(file, doc)) {
      if (expression.panel === undefined) continue;
      const { maxDataPoints } = expression;
      queries.push({
        dashboard: file,
        panel: expression.panel,
        where: expression.where,
        promql: toPromQL(expression.expr, variables, {}, rangeSeconds, maxDataPoints),
        instant: expression.instant === true,
        rangeSeconds,
        stepSeconds: grafanaInterval(rangeSeconds, maxDataPoints).step,
      });
    }
  }
  return { queries, unresolved };
}
