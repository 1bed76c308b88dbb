// The isoFLOP sweep's plots (Raposo et al. 2024, figures 3-4 at small scale), as vega-lite specs
// rendered to SVG by renderVegaLite (vega loads on the first plot): loss against parameters per
// budget with each family's seed spread, fitted curve and optimum; loss against training FLOPs;
// step time against forward FLOPs.
import { ConfigError } from '@moderoute/core';
import { renderVegaLite, type PlotOptions } from './plots.js';

/** One family's points at one budget: mean and spread over seeds per size, fit, optimum. */
export interface IsoFlopSeries {
  /** Budget label of the panel (e.g. "1e11 FLOPs"). */
  readonly budget: string;
  readonly family: string;
  readonly points: readonly {
    readonly parameters: number;
    readonly mean: number;
    readonly low: number;
    readonly high: number;
  }[];
  /** The fitted curve over the swept range (may be empty). */
  readonly fit: readonly { readonly parameters: number; readonly loss: number }[];
  /** The marked optimum (fitted, or the best measured size). */
  readonly optimum: { readonly parameters: number; readonly loss: number };
}

const logX = (title: string) => ({
  type: 'quantitative' as const,
  title,
  scale: { type: 'log' as const },
  axis: { format: '.2s' },
});
const lossY = {
  type: 'quantitative' as const,
  title: 'validation bits per byte',
  scale: { zero: false },
};

/**
 * Loss against parameters, one panel per budget: each family's mean over seeds (points), its
 * spread (min..max bars), its fitted quadratic in log parameters (line) and its optimum (diamond).
 */
export async function isoFlopSvg(
  series: readonly IsoFlopSeries[],
  options: PlotOptions = {},
): Promise<string> {
  if (series.length === 0) throw new ConfigError('series', series, 'a non-empty list');
  const values = series.flatMap((s) => [
    ...s.points.map((p) => ({
      layer: 'mean',
      budget: s.budget,
      family: s.family,
      params: p.parameters,
      loss: p.mean,
      low: p.low,
      high: p.high,
    })),
    ...s.fit.map((p) => ({
      layer: 'fit',
      budget: s.budget,
      family: s.family,
      params: p.parameters,
      loss: p.loss,
    })),
    {
      layer: 'optimum',
      budget: s.budget,
      family: s.family,
      params: s.optimum.parameters,
      loss: s.optimum.loss,
    },
  ]);
  const only = (layer: string) => [{ filter: `datum.layer === '${layer}'` }];
  const color = { field: 'family', type: 'nominal' as const, title: 'family' };
  return renderVegaLite({
    title: options.title ?? 'Validation loss against parameters at each training-FLOP budget',
    data: { values },
    facet: {
      column: {
        field: 'budget',
        type: 'nominal',
        title: 'budget',
        sort: [...new Set(series.map((s) => s.budget))],
      },
    },
    spec: {
      width: options.width ?? 300,
      height: options.height ?? 260,
      layer: [
        {
          transform: only('fit'),
          mark: { type: 'line', strokeDash: [4, 3] },
          encoding: {
            x: { field: 'params', ...logX('parameters') },
            y: { field: 'loss', ...lossY },
            color,
          },
        },
        {
          transform: only('mean'),
          mark: { type: 'rule' },
          encoding: {
            x: { field: 'params', ...logX('parameters') },
            y: { field: 'low', ...lossY },
            y2: { field: 'high' },
            color,
          },
        },
        {
          transform: only('mean'),
          mark: { type: 'point', filled: true },
          encoding: {
            x: { field: 'params', ...logX('parameters') },
            y: { field: 'loss', ...lossY },
            color,
          },
        },
        {
          transform: only('optimum'),
          mark: { type: 'point', shape: 'diamond', size: 160, strokeWidth: 2 },
          encoding: {
            x: { field: 'params', ...logX('parameters') },
            y: { field: 'loss', ...lossY },
            color,
          },
        },
      ],
    },
  });
}

/** A curve (or point set) of one group, coloured by family. */
export interface FamilyCurve {
  readonly family: string;
  /** Distinguishes lines of one family (e.g. "d64-l4 at 1e11"). */
  readonly group: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

async function familyLines(
  curves: readonly FamilyCurve[],
  axes: { x: string; y: string; logY: boolean; line: boolean },
  options: PlotOptions,
  fallback: string,
): Promise<string> {
  if (curves.length === 0) throw new ConfigError('curves', curves, 'a non-empty list');
  const values = curves.flatMap((c) =>
    c.points.map((p) => ({ family: c.family, group: c.group, x: p.x, y: p.y })),
  );
  return renderVegaLite({
    title: options.title ?? fallback,
    width: options.width ?? 520,
    height: options.height ?? 320,
    data: { values },
    mark: axes.line
      ? { type: 'line', point: true, strokeWidth: 1 }
      : { type: 'point', filled: true },
    encoding: {
      x: { field: 'x', ...logX(axes.x) },
      y: axes.logY
        ? { field: 'y', ...logX(axes.y), axis: { format: '~s' } }
        : { field: 'y', ...lossY, title: axes.y },
      color: { field: 'family', type: 'nominal', title: 'family' },
      detail: { field: 'group', type: 'nominal' },
    },
  });
}

/** Validation loss against training FLOPs: one line per (budget, family, size), mean over seeds. */
export function sweepLossVsFlopsSvg(curves: readonly FamilyCurve[], options: PlotOptions = {}) {
  const axes = { x: 'training FLOPs', y: 'validation bits per byte', logY: false, line: true };
  return familyLines(curves, axes, options, 'Validation loss against training FLOPs');
}

/** Median ms per training step against forward FLOPs per sequence, one point per size. */
export function stepTimeVsFlopsSvg(curves: readonly FamilyCurve[], options: PlotOptions = {}) {
  const axes = {
    x: 'forward FLOPs per sequence',
    y: 'ms per training step',
    logY: true,
    line: false,
  };
  return familyLines(curves, axes, options, 'Step time against forward FLOPs');
}
