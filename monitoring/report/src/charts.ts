// Time-series line charts as SVG: a vega-lite spec, compiled to vega, rendered headless (renderer "none": no
// canvas in Node; text is measured by vega's estimate). Vega escapes every text it draws (axis and legend labels).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { NamedSeries } from './collect.js';

export interface Chart {
  /** File name without .svg: also the prefix of the SVG's element ids (charts are inlined side by side in mail). */
  name: string;
  title: string;
  svg: string;
}

export interface LineChartOptions {
  name: string;
  title: string;
  yTitle: string;
  /** A d3-format specifier for the y axis ("~s", ".2~%", ...). */
  yFormat: string;
  series: NamedSeries[];
  /** Multiplies every value (seconds → milliseconds). */
  scale?: number;
  domain: { start: Date; end: Date };
  /** A dashed horizontal line (an objective or threshold). */
  rule?: { value: number; label: string };
}

const WIDTH = 640;
const HEIGHT = 200;
const escapeXml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The chart, or null when no series has a point ("no data" is the report's to say). */
export async function lineChart(options: LineChartOptions): Promise<Chart | null> {
  const scale = options.scale ?? 1;
  const values = options.series.flatMap((item) =>
    item.points.map((point) => ({ t: point.t, v: point.v * scale, s: item.label })),
  );
  if (values.length === 0) return null;
  const labels = options.series.map((item) => item.label);
  const days = (options.domain.end.getTime() - options.domain.start.getTime()) / 86_400_000;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    padding: 8,
    layer: [
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 1.5, clip: true },
        encoding: {
          x: {
            field: 't',
            type: 'temporal',
            title: null,
            scale: { type: 'utc', domain: [options.domain.start.getTime(), options.domain.end.getTime()] },
            axis: {
              format: days > 2 ? '%a %d %b' : '%H:%M',
              labelAngle: 0,
              tickCount: Math.min(10, days > 2 ? days : 8),
            },
          },
          y: {
            field: 'v',
            type: 'quantitative',
            title: options.yTitle,
            axis: { format: options.yFormat },
            scale: { zero: true },
          },
          color: {
            field: 's',
            type: 'nominal',
            title: null,
            scale: { domain: labels },
            legend: labels.length > 1 ? { orient: 'bottom', labelLimit: 420, columns: 2 } : null,
          },
        },
      },
      ...(options.rule
        ? [
            {
              data: { values: [{ y: options.rule.value * scale, label: options.rule.label }] },
              layer: [
                {
                  mark: { type: 'rule' as const, strokeDash: [4, 4], color: '#b03a2e' },
                  encoding: { y: { field: 'y', type: 'quantitative' as const } },
                },
                {
                  mark: { type: 'text' as const, align: 'right' as const, dy: -6, color: '#b03a2e', fontSize: 10 },
                  encoding: {
                    y: { field: 'y', type: 'quantitative' as const },
                    x: { value: WIDTH },
                    text: { field: 'label', type: 'nominal' as const },
                  },
                },
              ],
            },
          ]
        : []),
    ],
    config: { font: 'sans-serif', view: { stroke: '#ddd' }, axis: { labelFontSize: 10, titleFontSize: 11 } },
  };
  const compiled = compile(spec);
  const view = new vega.View(vega.parse(compiled.spec), { renderer: 'none', logLevel: vega.Error });
  try {
    const svg = await view.toSVG();
    return { name: options.name, title: options.title, svg: finishSvg(svg, options.name, options.title) };
  } finally {
    view.finalize();
  }
}

/**
 * Ids made unique per chart (vega numbers its clip paths from 1 in every view: two charts inlined in one mail
 * would clip each other), and a <title> for screen readers.
 */
function finishSvg(svg: string, name: string, title: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${name}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${name}-$1)`)
    .replace(
      /^<svg\b([^>]*)>/,
      `<svg$1 role="img" aria-label="${escapeXml(title)}"><title>${escapeXml(title)}</title>`,
    );
}
