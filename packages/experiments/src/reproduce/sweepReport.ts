// A sweep's report directory: report.md (sweepMarkdown.ts), results.json (the spec, the shards
// and their backends, the analysis, every run's row) and three vega-lite SVGs: plots/isoflop.svg
// (loss against parameters per budget), plots/loss-vs-flops.svg and plots/step-time.svg.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@moderoute/train';
import {
  isoFlopSvg,
  stepTimeVsFlopsSvg,
  sweepLossVsFlopsSvg,
  type FamilyCurve,
} from '../report/sweepPlots.js';
import { analyseSweep, fitCurve, type SweepAnalysis } from './sweepAnalysis.js';
import type { SweepRow } from './sweepManifest.js';
import { sweepMarkdown } from './sweepMarkdown.js';
import type { ShardSpec } from './shard.js';
import { budgetLabel, sweepFingerprint, type ResolvedSweepSpec } from './sweepSpec.js';

/** Where one shard's runs were: its directory, its index and its backends. */
export interface ShardInfo {
  readonly dir: string;
  readonly shard: ShardSpec;
  readonly backends: readonly string[];
}

/** What a sweep report is written from. */
export interface SweepReportInput {
  readonly spec: ResolvedSweepSpec;
  /** Every run's row (any order). */
  readonly rows: readonly SweepRow[];
  readonly shards: readonly ShardInfo[];
}

/** The report's files. */
export interface SweepReportPaths {
  readonly dir: string;
  readonly report: string;
  readonly results: string;
  readonly isoflop: string;
  readonly lossVsFlops: string;
  readonly stepTime: string;
}

/** Writes report.md, results.json and the plots under `dir`; returns their paths and the analysis. */
export async function writeSweepReport(
  dir: string,
  input: SweepReportInput,
): Promise<SweepReportPaths> {
  const rows = [...input.rows].sort((a, b) => a.sweep.order - b.sweep.order);
  const analysis = analyseSweep(rows, input.spec.families);
  const plots = join(dir, 'plots');
  mkdirSync(plots, { recursive: true });
  const paths: SweepReportPaths = {
    dir,
    report: join(dir, 'report.md'),
    results: join(dir, 'results.json'),
    isoflop: join(plots, 'isoflop.svg'),
    lossVsFlops: join(plots, 'loss-vs-flops.svg'),
    stepTime: join(plots, 'step-time.svg'),
  };
  await writePlots(paths, analysis, rows);
  writeFileAtomic(paths.report, sweepMarkdown(input, analysis));
  const results = {
    format: 'moderoute-sweep',
    version: 1,
    spec: input.spec,
    fingerprint: sweepFingerprint(input.spec),
    shards: input.shards,
    analysis,
    rows,
  };
  writeFileAtomic(paths.results, `${JSON.stringify(results, null, 2)}\n`);
  return paths;
}

async function writePlots(
  paths: SweepReportPaths,
  analysis: SweepAnalysis,
  rows: readonly SweepRow[],
) {
  const series = analysis.budgets.flatMap((b) =>
    b.families.map((f) => ({
      budget: `${budgetLabel(b.budget)} FLOPs`,
      family: f.family,
      points: f.cells.map((c) => ({
        parameters: c.parameters,
        mean: c.mean,
        low: c.min,
        high: c.max,
      })),
      fit: fitCurve(f),
      optimum: f.fittedOptimum ?? { parameters: f.best.parameters, loss: f.best.mean },
    })),
  );
  writeFileAtomic(paths.isoflop, await isoFlopSvg(series));
  // Loss curves: mean over seeds at each evaluation of a (budget, family, size).
  const curves: FamilyCurve[] = [];
  for (const b of analysis.budgets)
    for (const f of b.families)
      for (const c of f.cells) {
        const runs = rows.filter(
          (r) =>
            r.sweep.budget === b.budget &&
            r.sweep.family === f.family &&
            `d${r.sweep.width}-l${r.sweep.numLayers}` === c.size,
        );
        const steps = runs[0]!.evals.map((e) => e.trainingFlops);
        const points = steps
          .map((flops, i) => {
            const ys = runs
              .map((r) => r.evals[i]?.validationBitsPerByte)
              .filter((y): y is number => Number.isFinite(y));
            return { x: flops, y: ys.reduce((s, y) => s + y, 0) / ys.length };
          })
          .filter((p) => p.x > 0 && Number.isFinite(p.y));
        if (points.length > 0)
          curves.push({ family: f.family, group: `${c.size} at ${budgetLabel(b.budget)}`, points });
      }
  if (curves.length > 0) writeFileAtomic(paths.lossVsFlops, await sweepLossVsFlopsSvg(curves));
  const times: FamilyCurve[] = analysis.budgets.flatMap((b) =>
    b.families.flatMap((f) =>
      f.cells
        .filter((c) => Number.isFinite(c.msPerStep))
        .map((c) => ({
          family: f.family,
          group: `${c.size} at ${budgetLabel(b.budget)}`,
          points: [{ x: c.forwardFlopsPerSequence, y: c.msPerStep }],
        })),
    ),
  );
  if (times.length > 0) writeFileAtomic(paths.stepTime, await stepTimeVsFlopsSvg(times));
}
