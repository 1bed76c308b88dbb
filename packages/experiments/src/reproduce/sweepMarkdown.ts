// report.md of a sweep. Every sentence is a template filled from the analysis: the verdicts,
// ratios and intervals come from sweepAnalysis.ts, none is written for a particular outcome.
import type { Comparison, FamilyAtBudget, SizeCell, SweepAnalysis } from './sweepAnalysis.js';
import type { SweepReportInput } from './sweepReport.js';
import { budgetLabel } from './sweepSpec.js';

const si = (n: number): string =>
  n >= 1e6
    ? `${(n / 1e6).toPrecision(3)}M`
    : n >= 1e3
      ? `${(n / 1e3).toPrecision(3)}k`
      : n.toFixed(0);
const exp = (n: number): string => n.toExponential(2).replace('e+', 'e');
const bits = (n: number): string => n.toFixed(3);
const signed = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(3)}`;
const ratio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '—');

const CLAIM =
  "the paper's claim (Raposo et al. 2024, figures 3-4: the routed family's isoFLOP optimum " +
  "reaches a lower loss than the dense family's)";

function verdictText(c: Comparison): string {
  switch (c.verdict) {
    case 'holds':
      return 'holds here: the whole interval lies below 0';
    case 'does not hold':
      return 'does not hold here: the whole interval lies above 0';
    case 'cannot be told apart':
      return c.interval
        ? 'cannot be told apart at this scale: the interval contains 0'
        : 'cannot be told apart: one seed gives no interval';
  }
}

function cellRow(c: SizeCell): string {
  return (
    `| ${c.family} | ${c.size} | ${si(c.parameters)} | ${exp(c.forwardFlopsPerSequence)} | ${c.steps} | ` +
    `${bits(c.mean)} ± ${c.sd.toFixed(3)} (${c.seeds.length}) | ${bits(c.min)}..${bits(c.max)} | ` +
    `${c.validationSe.toFixed(4)} | ${Number.isFinite(c.msPerStep) ? c.msPerStep.toFixed(0) : '—'} |`
  );
}

function optimumLine(f: FamilyAtBudget): string {
  const best =
    `best measured size ${f.best.size} (${si(f.best.parameters)} parameters, ` +
    `${bits(f.best.mean)} bits/byte)`;
  if (!f.fit) return `- **${f.family}**: fewer than 3 sizes, no fit; ${best}.`;
  const q = f.fit;
  const curve =
    `loss = ${q.a.toFixed(3)} ${q.b < 0 ? '-' : '+'} ${Math.abs(q.b).toFixed(3)} u ` +
    `${q.c < 0 ? '-' : '+'} ${Math.abs(q.c).toFixed(3)} u², u = log10(parameters) - ${q.x0.toFixed(3)}`;
  if (f.fittedOptimum)
    return (
      `- **${f.family}**: ${curve}; fitted optimum ${si(f.fittedOptimum.parameters)} parameters at ` +
      `${bits(f.fittedOptimum.loss)} bits/byte (marked); ${best}.`
    );
  return `- **${f.family}**: ${curve}; no minimum inside the swept sizes, so the ${best} is marked.`;
}

/** Which of the two families' best sizes lie at an edge of the sweep, as a sentence (or ''). */
function edgeSentence(routed: FamilyAtBudget | undefined, dense: FamilyAtBudget | undefined) {
  const atEdge = [dense, routed].filter((f): f is FamilyAtBudget => f?.bestAtEdge !== undefined);
  if (atEdge.length === 0) return '';
  const which = atEdge.map(
    (f) => `${f.family}'s best (${f.best.size}) is its ${f.bestAtEdge} swept size`,
  );
  return (
    ` But ${which.join(' and ')}: an optimum may lie outside the sweep, so this compares the best ` +
    `swept sizes, not necessarily the isoFLOP optima.`
  );
}

function comparisonSentence(
  budget: number,
  c: Comparison,
  a: SweepAnalysis,
  families: readonly FamilyAtBudget[],
): string {
  const ci = c.interval
    ? `95% interval ${signed(c.interval.low)}..${signed(c.interval.high)}`
    : 'no interval';
  const se = a.validation.maxSe;
  const resolution =
    Math.abs(c.mean) > 0
      ? `; the largest validation standard error of a loss (${se.toFixed(4)}) is ` +
        `${(Math.abs(c.mean) / se).toFixed(1)}x smaller than this difference`
      : '';
  return (
    `At ${budgetLabel(budget)} FLOPs, ${c.family}'s best loss minus dense's best loss is ` +
    `${signed(c.mean)} bits/byte (mean over ${c.seeds.length} seeds, ${ci}): ${CLAIM} ${verdictText(c)}. ` +
    `Its best size has ${ratio(c.parameterRatio)} the parameters, ${ratio(c.forwardFlopsRatio)} the ` +
    `forward FLOPs and ${ratio(c.stepTimeRatio)} the step time of dense's best` +
    (c.fittedParameterRatio !== undefined
      ? ` (fitted optima: ${ratio(c.fittedParameterRatio)} the parameters)`
      : '') +
    `${resolution}.` +
    edgeSentence(
      families.find((f) => f.family === c.family),
      families.find((f) => f.family === 'dense'),
    )
  );
}

/** A sentence when the runs were trained on more than one backend (a mixed run), or ''. */
function backendSentence(input: SweepReportInput): string {
  const all = [...new Set(input.shards.flatMap((s) => s.backends))];
  return all.length > 1
    ? `The runs were trained on ${all.length} backends (${all.join(', ')}): step times ` +
        `compare only between runs of one backend (each run's backend is in results.json).`
    : '';
}

/** report.md of a sweep (see the file header). */
export function sweepMarkdown(input: SweepReportInput, a: SweepAnalysis): string {
  const { spec } = input;
  const lines: string[] = [`# Sweep: ${spec.name}`, ''];
  if (spec.description) lines.push(spec.description, '');
  lines.push(
    `IsoFLOP sweep (Raposo et al. 2024, arXiv 2404.02258, figures 3-4): each run trains for ` +
      `steps = floor(budget / (3 x F_fwd(T) x B)) with F_fwd(T) the analytic forward FLOPs of ` +
      `one sequence (training = 3 x forward), B = ${spec.batchSize} sequences of T = ` +
      `${spec.seqLen} byte tokens, peak learning rate ${spec.learningRate}; budgets ` +
      `${spec.budgets.map(budgetLabel).join(', ')} FLOPs; seeds ${spec.seeds.join(', ')} (each ` +
      `seeds the data order and the model). Data: ` +
      `${spec.data.kind === 'sotu' ? 'the embedded State of the Union corpus' : spec.data.path}.`,
    '',
    `Final loss: validation bits per byte on ${a.validation.windows} evenly spaced validation ` +
      `windows (${a.validation.windows * spec.seqLen} bytes), top-k routing as in training. Its ` +
      `standard error over the windows (batch means): median ${a.validation.medianSe.toFixed(4)}, ` +
      `largest ${a.validation.maxSe.toFixed(4)} bits/byte. The spread over seeds (± sample ` +
      `standard deviation, min..max) is the run-to-run variation.`,
    '',
    '| shard | directory | backends |',
    '|---|---|---|',
    ...input.shards.map(
      (s) => `| ${s.shard.index}/${s.shard.count} | ${s.dir} | ${s.backends.join(', ')} |`,
    ),
    '',
  );
  if (backendSentence(input)) lines.push(backendSentence(input), '');
  for (const b of a.budgets) {
    lines.push(`## Budget ${budgetLabel(b.budget)} training FLOPs`, '');
    lines.push(
      '| family | size | parameters | FLOPs / forward pass | steps | loss mean ± sd (seeds) | ' +
        'min..max | validation SE | ms / step |',
      '|---|---|--:|--:|--:|--:|--:|--:|--:|',
      ...b.families.flatMap((f) => f.cells.map(cellRow)),
      '',
      "Fits (quadratic in log10 parameters over every seed's run):",
      '',
      ...b.families.map(optimumLine),
      '',
    );
    if (b.comparisons.length > 0) {
      lines.push(
        '| family | best − best dense (bits/byte) | 95% interval | verdict | parameters | ' +
          'forward FLOPs | step time |',
        '|---|--:|--:|---|--:|--:|--:|',
        ...b.comparisons.map(
          (c) =>
            `| ${c.family} | ${signed(c.mean)} | ` +
            `${c.interval ? `${signed(c.interval.low)}..${signed(c.interval.high)}` : '—'} | ` +
            `${c.verdict} | ${ratio(c.parameterRatio)} | ${ratio(c.forwardFlopsRatio)} | ${ratio(c.stepTimeRatio)} |`,
        ),
        '',
        ...b.comparisons.map((c) => comparisonSentence(b.budget, c, a, b.families)),
        '',
      );
    }
  }
  lines.push(
    '## Plots',
    '',
    'Loss against parameters per budget (mean over seeds, min..max bars, dashed fit, diamond at the optimum):',
    '',
    '![isoFLOP curves](plots/isoflop.svg)',
    '',
    '![validation loss against training FLOPs](plots/loss-vs-flops.svg)',
    '',
    'Median step time against forward FLOPs per sequence (wall-clock: noisy on a shared machine):',
    '',
    '![step time against forward FLOPs](plots/step-time.svg)',
    '',
  );
  return lines.join('\n');
}
