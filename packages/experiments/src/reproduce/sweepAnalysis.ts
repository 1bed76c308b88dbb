// The numbers of a sweep's report, computed from its rows alone (no sentence of the report is
// chosen by hand): per budget and family, the final validation loss of each size over seeds, the
// quadratic in log10(parameters) fitted to it and its minimum (the isoFLOP-optimal size of
// Raposo et al. 2024, figure 3); per budget and routed family, the best loss minus the best dense
// loss per seed with its 95% interval over seeds and the verdict that interval gives, and the
// parameter, forward-FLOP and step-time ratios of the two optima (the paper's figure 4 claims).
import type { FamilyName } from './families.js';
import type { SweepRow } from './sweepManifest.js';
import {
  confidenceInterval95,
  evaluateQuadratic,
  fitQuadratic,
  meanSd,
  quadraticMinimum,
  type Quadratic,
} from './sweepStats.js';

/** One (budget, family, size) cell over its seeds. */
export interface SizeCell {
  readonly family: FamilyName;
  readonly size: string;
  readonly width: number;
  readonly numLayers: number;
  readonly parameters: number;
  readonly forwardFlopsPerSequence: number;
  readonly steps: number;
  readonly seeds: readonly number[];
  /** Final validation bits per byte per seed (in `seeds` order). */
  readonly losses: readonly number[];
  readonly mean: number;
  /** Sample standard deviation over seeds (0 with one seed). */
  readonly sd: number;
  readonly min: number;
  readonly max: number;
  /** Largest standard error of a loss over the validation windows among the seeds' runs. */
  readonly validationSe: number;
  /** Median over seeds of the runs' median ms per step. */
  readonly msPerStep: number;
}

/** One family at one budget: its sizes, the fit and the optimum. */
export interface FamilyAtBudget {
  readonly family: FamilyName;
  readonly cells: readonly SizeCell[];
  /** Loss = a + b (x - x0) + c (x - x0)^2, x = log10(parameters), over every seed's run. */
  readonly fit?: Quadratic;
  /** The fitted minimum when the parabola opens upwards and its minimum lies in the swept range. */
  readonly fittedOptimum?: { readonly parameters: number; readonly loss: number };
  /** The size with the lowest mean loss. */
  readonly best: SizeCell;
  /**
   * Set when `best` is the smallest or the largest of 2+ swept sizes: the family's optimum may lie
   * outside the sweep, so its best swept size is not necessarily its isoFLOP optimum.
   */
  readonly bestAtEdge?: 'smallest' | 'largest';
}

/** What the interval of a routed-minus-dense difference says of the paper's claim. */
export type Verdict = 'holds' | 'does not hold' | 'cannot be told apart';

/** A routed family's best against dense's best at one budget. */
export interface Comparison {
  readonly family: FamilyName;
  /** Seeds with both families' runs. */
  readonly seeds: readonly number[];
  /** Per seed: min over sizes of the family's loss minus min over sizes of dense's. */
  readonly differences: readonly number[];
  readonly mean: number;
  /** 95% Student-t interval of the mean difference over seeds (absent with one seed). */
  readonly interval?: { readonly low: number; readonly high: number };
  /** holds: the interval lies below 0; does not hold: above 0; else cannot be told apart. */
  readonly verdict: Verdict;
  /** Of the best-mean sizes: routed / dense. */
  readonly parameterRatio: number;
  readonly forwardFlopsRatio: number;
  readonly stepTimeRatio: number;
  /** Of the fitted optima, when both families have one. */
  readonly fittedParameterRatio?: number;
}

/** One budget: its families and each routed family's comparison with dense. */
export interface BudgetAnalysis {
  readonly budget: number;
  readonly families: readonly FamilyAtBudget[];
  readonly comparisons: readonly Comparison[];
}

/** Every number of a sweep's report: per budget, and the validation's standard errors. */
export interface SweepAnalysis {
  readonly budgets: readonly BudgetAnalysis[];
  /** Standard errors of the final losses over the validation windows, over every run. */
  readonly validation: {
    readonly windows: number;
    readonly medianSe: number;
    readonly maxSe: number;
  };
}

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

const sizeKey = (r: SweepRow) => `d${r.sweep.width}-l${r.sweep.numLayers}`;

function cellsOf(family: FamilyName, rows: readonly SweepRow[]): SizeCell[] {
  const bySize = new Map<string, SweepRow[]>();
  for (const r of rows) bySize.set(sizeKey(r), [...(bySize.get(sizeKey(r)) ?? []), r]);
  return [...bySize.entries()]
    .map(([size, runs]) => {
      const sorted = [...runs].sort((a, b) => a.sweep.seed - b.sweep.seed);
      const losses = sorted.map((r) => r.finalEval.bitsPerByte);
      const { mean, sd } = meanSd(losses);
      const first = sorted[0]!;
      return {
        family,
        size,
        width: first.sweep.width,
        numLayers: first.sweep.numLayers,
        parameters: first.parameters,
        forwardFlopsPerSequence: first.forwardFlopsPerSequence,
        steps: first.steps,
        seeds: sorted.map((r) => r.sweep.seed),
        losses,
        mean,
        sd,
        min: Math.min(...losses),
        max: Math.max(...losses),
        validationSe: Math.max(...sorted.map((r) => r.finalEval.standardError)),
        msPerStep: median(sorted.map((r) => r.msPerStep)),
      };
    })
    .sort((a, b) => a.parameters - b.parameters);
}

function familyAtBudget(family: FamilyName, rows: readonly SweepRow[]): FamilyAtBudget {
  const cells = cellsOf(family, rows);
  const best = cells.reduce((b, c) => (c.mean < b.mean ? c : b));
  const fit = fitQuadratic(
    rows.map((r) => ({ x: Math.log10(r.parameters), y: r.finalEval.bitsPerByte })),
  );
  const xs = cells.map((c) => Math.log10(c.parameters));
  const minimum = fit ? quadraticMinimum(fit) : undefined;
  const inside = minimum && minimum.x >= Math.min(...xs) && minimum.x <= Math.max(...xs);
  const edge =
    cells.length < 2
      ? undefined
      : best === cells[0]
        ? 'smallest'
        : best === cells[cells.length - 1]
          ? 'largest'
          : undefined;
  return {
    family,
    cells,
    ...(fit ? { fit } : {}),
    ...(inside ? { fittedOptimum: { parameters: 10 ** minimum.x, loss: minimum.y } } : {}),
    best,
    ...(edge ? { bestAtEdge: edge } : {}),
  };
}

/** Per seed, the lowest loss of `rows` over sizes. */
function bestPerSeed(rows: readonly SweepRow[]): Map<number, number> {
  const best = new Map<number, number>();
  for (const r of rows)
    best.set(r.sweep.seed, Math.min(best.get(r.sweep.seed) ?? Infinity, r.finalEval.bitsPerByte));
  return best;
}

function compare(
  routed: FamilyAtBudget,
  dense: FamilyAtBudget,
  routedRows: readonly SweepRow[],
  denseRows: readonly SweepRow[],
): Comparison {
  const mine = bestPerSeed(routedRows);
  const base = bestPerSeed(denseRows);
  const seeds = [...mine.keys()].filter((s) => base.has(s)).sort((a, b) => a - b);
  const differences = seeds.map((s) => mine.get(s)! - base.get(s)!);
  const interval = confidenceInterval95(differences);
  const verdict: Verdict =
    interval === undefined
      ? 'cannot be told apart'
      : interval.high < 0
        ? 'holds'
        : interval.low > 0
          ? 'does not hold'
          : 'cannot be told apart';
  return {
    family: routed.family,
    seeds,
    differences,
    mean: meanSd(differences).mean,
    ...(interval ? { interval: { low: interval.low, high: interval.high } } : {}),
    verdict,
    parameterRatio: routed.best.parameters / dense.best.parameters,
    forwardFlopsRatio: routed.best.forwardFlopsPerSequence / dense.best.forwardFlopsPerSequence,
    stepTimeRatio: routed.best.msPerStep / dense.best.msPerStep,
    ...(routed.fittedOptimum && dense.fittedOptimum
      ? { fittedParameterRatio: routed.fittedOptimum.parameters / dense.fittedOptimum.parameters }
      : {}),
  };
}

/** The analysis of a sweep's finished runs (see the file header). */
export function analyseSweep(
  rows: readonly SweepRow[],
  families: readonly FamilyName[],
): SweepAnalysis {
  const budgets = [...new Set(rows.map((r) => r.sweep.budget))].sort((a, b) => a - b);
  const out = budgets.map((budget) => {
    const at = rows.filter((r) => r.sweep.budget === budget);
    const rowsOf = (f: FamilyName) => at.filter((r) => r.sweep.family === f);
    const present = families.filter((f) => rowsOf(f).length > 0);
    const fams = present.map((f) => familyAtBudget(f, rowsOf(f)));
    const dense = fams.find((f) => f.family === 'dense');
    const comparisons = dense
      ? fams
          .filter((f) => f.family !== 'dense')
          .map((f) => compare(f, dense, rowsOf(f.family), rowsOf('dense')))
      : [];
    return { budget, families: fams, comparisons };
  });
  const ses = rows.map((r) => r.finalEval.standardError);
  return {
    budgets: out,
    validation: {
      windows: Math.min(...rows.map((r) => r.finalEval.windows)),
      medianSe: median(ses),
      maxSe: Math.max(...ses),
    },
  };
}

/** The fitted curve sampled over the swept range (for plots). */
export function fitCurve(f: FamilyAtBudget, points = 24): { parameters: number; loss: number }[] {
  if (!f.fit) return [];
  const xs = f.cells.map((c) => Math.log10(c.parameters));
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
  return Array.from({ length: points }, (_, i) => {
    const x = lo + ((hi - lo) * i) / (points - 1);
    return { parameters: 10 ** x, loss: evaluateQuadratic(f.fit!, x) };
  });
}
