// Report plots: vega-lite specs compiled and rendered to SVG in Node by vega (no canvas, no
// browser, no hand-built SVG). Each function takes plain data and returns an SVG string. vega and
// vega-lite are dependencies of this package only (@moderoute/train has no plotting library), and
// are loaded by a dynamic import on the first plot, not when the package is imported.
import type { TopLevelSpec } from 'vega-lite';
import { ConfigError } from '@moderoute/core';

/** Common plot options. */
export interface PlotOptions {
  readonly title?: string;
  /** Plot area width in pixels (default depends on the plot). */
  readonly width?: number;
  /** Plot area height in pixels. */
  readonly height?: number;
}

/** Renders a vega-lite spec to an SVG string. */
export async function renderVegaLite(spec: TopLevelSpec): Promise<string> {
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]).catch(
    (error: unknown) => {
      throw new ConfigError(
        'vega and vega-lite',
        error instanceof Error ? error.message.split('\n')[0] : String(error),
        'installed to draw plots (dependencies of @moderoute/experiments: npm install vega@5 vega-lite@5)',
      );
    },
  );
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const titled = (options: PlotOptions, fallback: string) => ({ title: options.title ?? fallback });

/** One run's validation curve: (training FLOPs so far, validation bits per byte) points. */
export interface LossCurve {
  readonly name: string;
  readonly points: readonly { readonly flops: number; readonly bitsPerByte: number }[];
}

/**
 * Line chart of validation loss (bits per byte) against training FLOPs, one coloured line per
 * run, FLOPs on a log axis (the isoFLOP view of Raposo et al. 2024, figure 3).
 */
export async function lossVsFlopsSvg(
  runs: readonly LossCurve[],
  options: PlotOptions & { readonly logFlops?: boolean } = {},
): Promise<string> {
  if (runs.length === 0) throw new ConfigError('runs', runs, 'a non-empty list of runs');
  const values = runs.flatMap((r) =>
    r.points.map((p) => {
      if (!(p.flops > 0) || !Number.isFinite(p.bitsPerByte))
        throw new ConfigError(`runs["${r.name}"] point`, p, 'flops > 0 and a finite bitsPerByte');
      return { run: r.name, flops: p.flops, bpb: p.bitsPerByte };
    }),
  );
  return renderVegaLite({
    ...titled(options, 'Validation loss against training FLOPs'),
    width: options.width ?? 480,
    height: options.height ?? 300,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'flops',
        type: 'quantitative',
        title: 'training FLOPs',
        scale: { type: options.logFlops === false ? 'linear' : 'log' },
        axis: { format: '.1e' },
      },
      y: {
        field: 'bpb',
        type: 'quantitative',
        title: 'validation bits per byte',
        scale: { zero: false },
      },
      color: { field: 'run', type: 'nominal', title: 'run', sort: runs.map((r) => r.name) },
    },
  });
}

/** Routing decisions of one text: values[block][token]. */
export interface RoutingHeatmapData {
  /** The tokens (characters) along x. */
  readonly tokens: readonly string[];
  /** The routed blocks along y (e.g. "block 1"). */
  readonly blocks: readonly string[];
  /** values[i][t]: 1/0 processed or skipped, or a router weight, of token t in block i. */
  readonly values: readonly (readonly number[])[];
  /** 'processed' draws two colours (processed / skipped); 'weight' a continuous scale. */
  readonly mode?: 'processed' | 'weight';
}

/** Shows whitespace in axis labels: space as "␣", newline as "↵", tab as "⇥". */
function visible(token: string): string {
  return token.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/\r/g, '␍');
}

/**
 * Routing-pattern heatmap (Raposo et al. 2024, figure 1): tokens on x, routed blocks on y, colour
 * = processed or not (or the router weight).
 */
export async function routingHeatmapSvg(
  data: RoutingHeatmapData,
  options: PlotOptions = {},
): Promise<string> {
  const { tokens, blocks, values, mode = 'processed' } = data;
  if (values.length !== blocks.length)
    throw new ConfigError('values.length', values.length, `blocks.length (${blocks.length})`);
  values.forEach((row, i) => {
    if (row.length !== tokens.length)
      throw new ConfigError(`values[${i}].length`, row.length, `tokens.length (${tokens.length})`);
  });
  const labels = tokens.map(visible);
  const cells = blocks.flatMap((block, i) =>
    tokens.map((_, t) => {
      const v = (values[i] as readonly number[])[t] as number;
      return { block, pos: t, value: v, state: v > 0 ? 'processed' : 'skipped' };
    }),
  );
  const cell = 14;
  return renderVegaLite({
    ...titled(options, 'Routing decisions per token'),
    width: options.width ?? Math.max(120, cell * tokens.length),
    height: options.height ?? Math.max(40, cell * 1.5 * blocks.length),
    data: { values: cells },
    mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
    encoding: {
      x: {
        field: 'pos',
        type: 'ordinal',
        title: 'token',
        // Positions keep repeated characters apart; the axis shows the characters themselves.
        axis: {
          labelExpr: `${JSON.stringify(labels)}[datum.value]`,
          labelAngle: 0,
          labelFont: 'monospace',
        },
      },
      y: { field: 'block', type: 'ordinal', title: 'routed block', sort: [...blocks] },
      color:
        mode === 'processed'
          ? {
              field: 'state',
              type: 'nominal',
              title: 'token',
              scale: { domain: ['processed', 'skipped'], range: ['#3b6fb6', '#e8e8e8'] },
            }
          : {
              field: 'value',
              type: 'quantitative',
              title: 'router weight',
              scale: { scheme: 'blues' },
            },
    },
  });
}

/** Tokens (or fraction of tokens) each expert received, per block. */
export interface ExpertLoadData {
  readonly blocks: readonly { readonly name: string; readonly loads: readonly number[] }[];
  /** Axis title of the load (default "fraction of tokens"). */
  readonly loadLabel?: string;
}

/** Grouped bar chart of expert load: one group per block, one bar per expert. */
export async function expertLoadSvg(
  data: ExpertLoadData,
  options: PlotOptions = {},
): Promise<string> {
  if (data.blocks.length === 0)
    throw new ConfigError('blocks', data.blocks, 'a non-empty list of blocks');
  const values = data.blocks.flatMap((b) =>
    b.loads.map((load, e) => {
      if (!Number.isFinite(load) || load < 0)
        throw new ConfigError(`blocks["${b.name}"].loads[${e}]`, load, 'a finite number >= 0');
      return { block: b.name, expert: `expert ${e}`, load };
    }),
  );
  const experts = Math.max(...data.blocks.map((b) => b.loads.length));
  return renderVegaLite({
    ...titled(options, 'Expert load per block'),
    width: options.width ?? Math.max(160, data.blocks.length * (experts * 14 + 20)),
    height: options.height ?? 220,
    data: { values },
    mark: 'bar',
    encoding: {
      x: {
        field: 'block',
        type: 'nominal',
        title: 'block',
        sort: data.blocks.map((b) => b.name),
        axis: { labelAngle: 0 },
      },
      xOffset: {
        field: 'expert',
        type: 'nominal',
        sort: Array.from({ length: experts }, (_, e) => `expert ${e}`),
      },
      y: { field: 'load', type: 'quantitative', title: data.loadLabel ?? 'fraction of tokens' },
      color: {
        field: 'expert',
        type: 'nominal',
        title: 'expert',
        sort: Array.from({ length: experts }, (_, e) => `expert ${e}`),
      },
    },
  });
}
