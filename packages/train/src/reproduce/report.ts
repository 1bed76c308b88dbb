// The reproduction's report directory: report.md (the table, a comparison with the best dense
// baseline, the plots), results.json (every number), and SVG plots rendered by the plots module
// (vega-lite): loss against training FLOPs, one routing heatmap per depth-routed variant, and
// the expert load of every block with experts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../checkpoint/CheckpointStore.js';
import type { EvalEvent, StopReason } from '../Trainer.js';
import { expertLoadSvg, lossVsFlopsSvg, routingHeatmapSvg } from '../report/plots.js';
import type { RunInspection } from './inspectRun.js';
import type { ResolvedReproductionSpec } from './spec.js';

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

export interface ReportInput {
  readonly spec: ResolvedReproductionSpec;
  readonly rows: readonly ReproductionRow[];
  readonly inspections: Readonly<Record<string, RunInspection>>;
  readonly backend: string;
  /** Wall time of this invocation so far (runs skipped as finished cost nothing). */
  readonly sessionSeconds: number;
}

const fmtSi = (n: number): string => {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toPrecision(3)}k`;
  return String(n);
};
const fmtExp = (n: number): string => n.toExponential(2).replace('e+', 'e');
const fmtSeconds = (s: number): string =>
  s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`;
const fmtBpb = (row: ReproductionRow): string =>
  row.finalValidationBitsPerByte === undefined ? '—' : row.finalValidationBitsPerByte.toFixed(3);
const fmtFractions = (fs: readonly number[]): string =>
  fs.map((f) => (f === 1 ? '1' : f.toFixed(2))).join(' / ');
const isDense = (row: ReproductionRow): boolean => row.blockKinds.every((k) => k === 'dense');
const fileName = (variant: string): string => `routing-${variant}.svg`;

/** The best (lowest final validation bits per byte) all-dense run, if any finished. */
export function bestDense(rows: readonly ReproductionRow[]): ReproductionRow | undefined {
  return rows
    .filter((r) => isDense(r) && r.finalValidationBitsPerByte !== undefined)
    .sort((a, b) => a.finalValidationBitsPerByte! - b.finalValidationBitsPerByte!)[0];
}

function markdown(input: ReportInput, paths: ReportPaths): string {
  const { spec, rows, inspections } = input;
  const lines: string[] = [];
  lines.push(`# Reproduction: ${spec.name}`, '');
  if (spec.description) lines.push(spec.description, '');
  lines.push(
    `IsoFLOP comparison (Raposo et al. 2024, arXiv 2404.02258): every variant trains ` +
      `for floor(budget / training FLOPs per step) steps ` +
      `of ${spec.batchSize} sequences of ${spec.seqLen} byte tokens, budget ` +
      `${fmtExp(spec.budgetFlops)} training FLOPs (analytic count: ` +
      `3 x forward). Data: ` +
      `${spec.data.kind === 'sotu' ? 'the embedded State of the Union corpus' : spec.data.path}; ` +
      `seed ${spec.seed}; backend ${input.backend}. ` +
      `Validation loss in bits per byte on ${spec.evalWindows} fixed validation windows.`,
    '',
  );
  lines.push(
    '| variant | parameters | FLOPs / forward pass | training FLOPs (of budget) | ' +
      'steps | tokens seen | wall time | ms / step | tokens / s | final validation ' +
      'bits/byte | routed fraction per block |',
  );
  lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|');
  for (const r of rows) {
    const status = r.status === 'completed' ? '' : ` (${r.status})`;
    lines.push(
      `| ${r.variant}${status} | ${fmtSi(r.parameters)} | ` +
        `${fmtExp(r.forwardFlopsPerSequence)} | ${fmtExp(r.trainingFlops)} ` +
        `(${(100 * r.budgetFraction).toFixed(1)}%) | ${r.steps} | ${fmtSi(r.tokensSeen)} ` +
        `| ${fmtSeconds(r.wallSeconds)} | ${r.msPerStep.toFixed(0)} | ` +
        `${r.tokensPerSecond.toFixed(0)} | ${fmtBpb(r)} | ` +
        `${fmtFractions(r.routedFractionPerBlock)} |`,
    );
  }
  lines.push('');
  lines.push('Variants:', '');
  for (const r of rows)
    lines.push(`- **${r.variant}**: ${r.description ?? ''} (blocks: ${r.blockKinds.join(', ')})`);
  lines.push('');
  const base = bestDense(rows);
  if (base) {
    lines.push(
      `## Against the best dense baseline (${base.variant}, ${fmtBpb(base)} bits/byte)`,
      '',
    );
    lines.push(
      '| variant | Δ validation bits/byte | forward FLOPs per sequence | ms per step | steps |',
    );
    lines.push('|---|--:|--:|--:|--:|');
    for (const r of rows) {
      if (r === base) continue;
      const difference =
        r.finalValidationBitsPerByte === undefined
          ? undefined
          : r.finalValidationBitsPerByte - base.finalValidationBitsPerByte!;
      const delta =
        difference === undefined ? '—' : `${difference >= 0 ? '+' : ''}${difference.toFixed(3)}`;
      lines.push(
        `| ${r.variant} | ${delta} | ` +
          `${(r.forwardFlopsPerSequence / base.forwardFlopsPerSequence).toFixed(2)}x | ` +
          `${(r.msPerStep / base.msPerStep).toFixed(2)}x | ` +
          `${(r.steps / base.steps).toFixed(2)}x |`,
      );
    }
    lines.push(
      '',
      'Negative Δ: lower loss than the best dense model at the same training FLOPs.',
      '',
    );
  }
  const causal = rows.filter((r) => inspections[r.variant]?.causalBitsPerByte !== undefined);
  if (causal.length > 0) {
    lines.push('## Causal routing', '');
    lines.push(
      'The table evaluates depth-routed models as they train: top-k over each whole ' +
        'window, which looks at later tokens. Sampling cannot; it decides token by token ' +
        "with r > tau (the threshold rule: tau is each router's running estimate of the " +
        'top-k cut over training batches). The same validation windows under that causal ' +
        'rule:',
      '',
    );
    lines.push('| variant | top-k bits/byte | causal bits/byte |', '|---|--:|--:|');
    for (const r of causal)
      lines.push(
        `| ${r.variant} | ${fmtBpb(r)} | ${inspections[r.variant]!.causalBitsPerByte!.toFixed(3)} |`,
      );
    lines.push('');
  }
  lines.push(
    '## Validation loss against training FLOPs',
    '',
    `![validation loss against training FLOPs](plots/loss-vs-flops.svg)`,
    '',
  );
  const heatmaps = Object.keys(paths.routingHeatmaps);
  if (heatmaps.length > 0) {
    lines.push('## Routing decisions on validation text', '');
    lines.push(
      'Each depth-routed block of the trained model (final checkpoint, evaluation ' +
        'mode, top-k over the window) on one validation window: blue tokens went through ' +
        'the block, grey ones took the residual path.',
      '',
    );
    for (const v of heatmaps) {
      const sample = inspections[v]?.routing;
      lines.push(`### ${v}`, '', `![routing of ${v}](plots/${fileName(v)})`, '');
      if (sample)
        lines.push(
          `Validation bytes ${sample.offset}..${sample.offset + sample.tokens.length - 1}.`,
          '',
        );
    }
  }
  if (paths.expertLoad) {
    lines.push(
      '## Expert load',
      '',
      "Fraction of one validation batch's tokens each expert received, per block " +
        '(integrated MoDE: the last experts are no-ops).',
      '',
    );
    lines.push('![expert load](plots/expert-load.svg)', '');
  }
  lines.push(
    `Report written in a session of ${fmtSeconds(input.sessionSeconds)} (runs already finished are not re-run).`,
    '',
  );
  return lines.join('\n');
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
