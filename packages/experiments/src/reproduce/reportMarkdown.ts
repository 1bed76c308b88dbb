// report.md of a reproduction: the table of every variant, the comparison with the best dense
// baseline, the causal routing and the plots (report.ts writes it beside results.json).
import type { ReportInput, ReportPaths, ReproductionRow } from './report.js';

const fmtSi = (n: number): string => {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toPrecision(3)}k`;
  return String(n);
};
export const fmtExp = (n: number): string => n.toExponential(2).replace('e+', 'e');
const fmtSeconds = (s: number): string =>
  s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`;
const fmtBpb = (row: ReproductionRow): string =>
  row.finalValidationBitsPerByte === undefined ? '—' : row.finalValidationBitsPerByte.toFixed(3);
const fmtFractions = (fs: readonly number[]): string =>
  fs.map((f) => (f === 1 ? '1' : f.toFixed(2))).join(' / ');
const isDense = (row: ReproductionRow): boolean => row.blockKinds.every((k) => k === 'dense');
export const fileName = (variant: string): string => `routing-${variant}.svg`;

/** The best (lowest final validation bits per byte) all-dense run, if any finished. */
export function bestDense(rows: readonly ReproductionRow[]): ReproductionRow | undefined {
  return rows
    .filter((r) => isDense(r) && r.finalValidationBitsPerByte !== undefined)
    .sort((a, b) => a.finalValidationBitsPerByte! - b.finalValidationBitsPerByte!)[0];
}

/** report.md: the table, the comparison with the best dense baseline, the plots. */
export function markdown(input: ReportInput, paths: ReportPaths): string {
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
