// The deployed lab's Prometheus, queried as its operator would from a shell in its task: promtool inside the
// prometheus container on node1 (Prometheus is internal: no route under --edge haproxy, ops auth under Traefik).
import { panelQueries, type PanelQuery } from './grafana-dashboards.js';
import type { Lab } from './lab-context.js';
import { execInContainer, managerContainer } from './lab-backup.js';

/** One series of an answer: its labels, and its value (instant) or values (range). */
export interface PromSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

const PROMETHEUS = 'http://127.0.0.1:9090';

/**
 * promtool query <args…> <Prometheus' URL> <expr>, in the prometheus task. Prometheus asks for its basic auth:
 * promtool 2.42 takes it in the URL only, so the URL is made in the task from the secret's file and never leaves it
 * (not in this process' arguments, nor in an error message).
 */
export const promtoolQueryCommand = (args: string[], expr: string) => [
  'bash',
  '-c',
  'exec promtool query "${@:1:$#-1}" "http://prometheus:$(<"$WEB_AUTH_PASSWORD_FILE")@127.0.0.1:9090" "${@: -1}"',
  'promtool',
  ...args,
  expr,
];

async function promtool(lab: Lab, args: string[], expr: string): Promise<PromSeries[]> {
  const container = await managerContainer(lab, 'prometheus');
  const run = await execInContainer(container, promtoolQueryCommand(args, expr), '  │ promtool: ');
  if (run.exitCode !== 0) {
    throw new Error(`promtool query ${[...args, PROMETHEUS, expr].join(' ')} failed (exit ${run.exitCode})`);
  }
  const answer: unknown = JSON.parse(run.stdout.trim() || '[]');
  // A scalar or string answer is one value, not a vector or matrix.
  return Array.isArray(answer) ? (answer as PromSeries[]) : [{ metric: {}, value: answer as [number, string] }];
}

/** An instant query, evaluated now (or at `at`). */
export const labQuery = (lab: Lab, expr: string, at?: Date) =>
  promtool(lab, ['instant', '-o', 'json', ...(at ? [`--time=${at.toISOString()}`] : [])], expr);

/**
 * A range query over the last `rangeSeconds`, one point every `stepSeconds`, aligned on the step as Grafana aligns
 * it (start and end rounded down to a multiple of the step: the newest point can be up to a step old). The range is
 * at least one step: promtool refuses a start that is not before the end.
 */
export function labQueryRange(lab: Lab, expr: string, rangeSeconds: number, stepSeconds: number) {
  const now = Math.floor(Date.now() / 1000);
  const align = (seconds: number) => Math.floor(seconds / stepSeconds) * stepSeconds;
  const end = align(now);
  return promtool(
    lab,
    [
      'range',
      '-o',
      'json',
      `--start=${Math.min(align(now - rangeSeconds), end - stepSeconds)}`,
      `--end=${end}`,
      `--step=${stepSeconds}s`,
    ],
    expr,
  );
}

/** The values `label` takes on the series `selector` selects now (Grafana's label_values()). */
export async function labLabelValues(lab: Lab, selector: string, label: string): Promise<string[]> {
  const answer = await labQuery(lab, `count by (${label}) (${selector})`);
  return answer
    .map((series) => series.metric[label])
    .filter((value): value is string => Boolean(value))
    .sort();
}

/**
 * Every panel query of the provisioned dashboards run against the lab's Prometheus as Grafana would (their variables
 * set to values that exist, their own range and step): the ones that return no series. A query that fails is an
 * error, not an empty panel.
 */
export async function panelsWithoutData(lab: Lab): Promise<{ checked: PanelQuery[]; empty: PanelQuery[] }> {
  const { queries, unresolved } = await panelQueries((selector, label) => labLabelValues(lab, selector, label));
  if (unresolved.length > 0) throw new Error(`dashboard variables without a value:\n${unresolved.join('\n')}`);
  const empty: PanelQuery[] = [];
  const pending = [...queries];
  const worker = async () => {
    for (let query = pending.shift(); query; query = pending.shift()) {
      const answer = query.instant
        ? await labQuery(lab, query.promql)
        : await labQueryRange(lab, query.promql, query.rangeSeconds, query.stepSeconds);
      if (answer.length === 0) empty.push(query);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { checked: queries, empty };
}
