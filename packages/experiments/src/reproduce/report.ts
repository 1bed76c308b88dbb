// The reproduction's report directory: report.md (the table, a comparison with the best dense
// baseline, the plots), results.json (every number), and SVG plots rendered by the plots module
// (vega-lite): loss against training FLOPs, one routing heatmap per depth-routed variant, and
// the expert load of every block with experts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, type EvalEvent, type StopReason } from '@moderoute/train';
import { expertLoadSvg, lossVsFlopsSvg, routingHeatmapSvg } from '../report/plots.js';
import type { RunInspection } from './inspectRun.js';
import { bestDense, fileName, fmtExp, markdown } from './reportMarkdown.js';
import type { ResolvedReproductionSpec } from './spec.js';

export { bestDense } from './reportMarkdown.js';

/** One variant's line of the report: every number comes from its run. */
export interface ReproductionRow {
  readonly variant: string;
  readonly description?: string;
  /** Kind of each block, in order. */
  readonly blockKinds: readonly string[];
  readonly status: StopReason;
  readonly parameters: number;
  /** Analytic forward FLOPs of one sequence of seqLen tokens. */
  readonly forwardFlopsPerSequence: number;
  /** Training FLOPs actually spent (steps x 3 x forward x batch). */
  readonly trainingFlops: number;
  /** trainingFlops / budgetFlops. */
  readonly budgetFraction: number;
  readonly steps: number;
  readonly tokensSeen: number;
  /** Wall time of the run (summed over resumed sessions), evaluation and checkpoints included. */
  readonly wallSeconds: number;
  /** Median wall time of a training step (from the metrics log). */
  readonly msPerStep: number;
  /** Training tokens per second at the median step time. */
  readonly tokensPerSecond: number;
  readonly finalValidationBitsPerByte?: number;
  /** Mean fraction of tokens each block processed during training (1 for dense blocks). */
  readonly routedFractionPerBlock: readonly number[];
  /** The validation curve. */
  readonly evals: readonly EvalEvent[];
  /** The run directory. */
  readonly runDir: string;
}

/** Where the report's files are: the folder, report.md, results.json and each plot. */
export interface ReportPaths {
  readonly dir: string;
  readonly report: string;
  readonly results: string;
  readonly lossVsFlops: string;
  /** Routing heatmap per depth-routed variant. */
  readonly routingHeatmaps: Readonly<Record<string, string>>;
  /** Absent when no variant has experts. */
  readonly expertLoad?: string;
}

/**
 * What the report is written from: the spec, the table rows, the inspections, the backend, the wall
 * time.
 */
export interface ReportInput {
  readonly spec: ResolvedReproductionSpec;
  readonly rows: readonly ReproductionRow[];
  readonly inspections: Readonly<Record<string, RunInspection>>;
  readonly backend: string;
  /** Wall time of this invocation so far (runs skipped as finished cost nothing). */
  readonly sessionSeconds: number;
}

/** Writes report.md, results.json and the plots under `dir`; returns their paths. */
export async function writeReproductionReport(
  dir: string,
  input: ReportInput,
): Promise<ReportPaths> {
  const plotsDir = join(dir, 'plots');
  mkdirSync(plotsDir, { recursive: true });
  const { rows, inspections } = input;

  const lossVsFlops = join(plotsDir, 'loss-vs-flops.svg');
  const curves = rows
    .map((r) => ({
      name: r.variant,
      points: r.evals
        .filter((e) => e.trainingFlops > 0 && Number.isFinite(e.validationBitsPerByte))
        .map((e) => ({ flops: e.trainingFlops, bitsPerByte: e.validationBitsPerByte })),
    }))
    .filter((c) => c.points.length > 0);
  if (curves.length > 0) {
    writeFileAtomic(
      lossVsFlops,
      await lossVsFlopsSvg(curves, {
        title: `${input.spec.name}: validation loss against training FLOPs (budget ${fmtExp(input.spec.budgetFlops)})`,
        width: 560,
        height: 340,
      }),
    );
  }

  const routingHeatmaps: Record<string, string> = {};
  for (const r of rows) {
    const sample = inspections[r.variant]?.routing;
    if (sample === undefined) continue;
    const path = join(plotsDir, fileName(r.variant));
    writeFileAtomic(
      path,
      await routingHeatmapSvg(
        { tokens: sample.tokens, blocks: sample.blocks, values: sample.processed },
        { title: `${r.variant}: tokens each routed block processed (validation text)` },
      ),
    );
    routingHeatmaps[r.variant] = path;
  }

  const loadBlocks = rows.flatMap((r) =>
    (inspections[r.variant]?.expertLoad ?? []).map((b) => ({
      name: `${r.variant} b${b.block}`,
      loads: b.loads,
    })),
  );
  let expertLoad: string | undefined;
  if (loadBlocks.length > 0) {
    expertLoad = join(plotsDir, 'expert-load.svg');
    writeFileAtomic(
      expertLoad,
      await expertLoadSvg(
        { blocks: loadBlocks },
        { title: 'Expert load per block (one validation batch)' },
      ),
    );
  }

  const paths: ReportPaths = {
    dir,
    report: join(dir, 'report.md'),
    results: join(dir, 'results.json'),
    lossVsFlops,
    routingHeatmaps,
    ...(expertLoad ? { expertLoad } : {}),
  };
  writeFileAtomic(paths.report, markdown(input, paths));
  const results = {
    format: 'moderoute-reproduction',
    version: 1,
    spec: input.spec,
    backend: input.backend,
    sessionSeconds: input.sessionSeconds,
    bestDense: bestDense(rows)?.variant ?? null,
    rows,
    inspections,
    paths,
  };
  writeFileAtomic(paths.results, `${JSON.stringify(results, null, 2)}\n`);
  return paths;
}
