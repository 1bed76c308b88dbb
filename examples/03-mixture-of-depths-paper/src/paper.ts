// Example 3: the isoFLOP comparison of the Mixture-of-Depths paper (Raposo et al. 2024,
// arXiv 2404.02258, section 4) at small scale, through the library behind `moderoute reproduce`:
// `runReproduction` from @moderoute/experiments. Every variant trains for the same budget of training
// FLOPs (analytic count: 3 x forward per sequence x sequences), so a cheaper model takes more
// steps; the report compares validation loss in bits per byte and draws loss against FLOPs and
// the routers' decisions on validation text.
//   - 'demo': the library's demo preset (dense baselines at two widths, MoD every other block and
//     every block, MoE token-choice and expert-choice, staged and integrated MoDE), about 3
//     minutes on 2 cores; the same as `moderoute reproduce --preset demo`.
//   - 'tiny': a custom ReproductionSpec of four micro variants (seconds), for the test suite.
import { join } from 'node:path';
import { createContainer, MODEL_IDS } from '@moderoute/model';
import {
  isoFlopVariants,
  runReproduction,
  type ReproductionOptions,
  type ReproductionResult,
  type ReproductionRow,
  type ReproductionSpec,
} from '@moderoute/experiments';

export type Size = 'tiny' | 'demo';

/** The tiny comparison's shape: one dense size, made conditional by the routed variants. */
export const TINY_SHAPE = { width: 16, numLayers: 2, numHeads: 2 } as const;
/** Sequences per batch and tokens per sequence of the tiny comparison. */
export const TINY_BATCH = { batchSize: 2, seqLen: 16 } as const;
/** The tiny budget: what this many steps of the dense model cost. */
export const TINY_DENSE_STEPS = 24;
/** The variants of the tiny comparison, by their names in `isoFlopVariants`. */
export const TINY_VARIANTS = [
  'dense-d16-l2',
  'mod-every-other',
  'mod-every-block',
  'mode-staged',
] as const;

/**
 * The tiny comparison as a custom ReproductionSpec: the standard variant list of
 * `isoFlopVariants` for one dense shape, cut to four variants, at a budget of
 * TINY_DENSE_STEPS steps of the dense model (so the dense run spends exactly 100% of it).
 */
export function tinySpec(): ReproductionSpec {
  const variants = isoFlopVariants({
    dense: [TINY_SHAPE],
    contextLength: TINY_BATCH.seqLen,
  }).filter((v) => (TINY_VARIANTS as readonly string[]).includes(v.name));
  const dense = createContainer()
    .get(MODEL_IDS.ModelFactory)
    .create({ ...variants[0]!.model, seed: 0 });
  let denseStepFlops: number;
  try {
    denseStepFlops = dense.flops(TINY_BATCH.seqLen).training * TINY_BATCH.batchSize;
  } finally {
    dense.dispose();
  }
  return {
    name: 'tiny',
    description:
      'Four micro variants (width 16, 2 layers, 16-token sequences) at a budget of 24 ' +
      'dense steps: the pipeline end to end in seconds.',
    budgetFlops: TINY_DENSE_STEPS * denseStepFlops,
    ...TINY_BATCH,
    learningRate: 1e-2,
    evalPoints: 2,
    evalWindows: 4,
    seed: 0,
    variants,
  };
}

export interface PaperOptions extends Omit<ReproductionOptions, 'outDir' | 'modelFactory'> {
  readonly size?: Size;
  /** Builds the variants' models (default: a container with the built-in modules). */
  readonly modelFactory?: ReproductionOptions['modelFactory'];
  /** The report directory (default `runs/reproduce-<size>` under the working directory). */
  readonly outDir?: string;
}

/** Runs the comparison (the demo preset, or the tiny spec) and writes the report directory. */
export async function reproducePaper(options: PaperOptions = {}): Promise<ReproductionResult> {
  const size = options.size ?? 'demo';
  const { size: _size, outDir, modelFactory, ...rest } = options;
  return runReproduction(size === 'demo' ? 'demo' : tinySpec(), {
    ...rest,
    modelFactory: modelFactory ?? createContainer().get(MODEL_IDS.ModelFactory),
    outDir: outDir ?? join('runs', `reproduce-${size}`),
  });
}

const fmtExp = (n: number): string => n.toExponential(2).replace('e+', 'e');

/** The comparison as a fixed-width table (report.md has the full one). */
export function formatTable(result: ReproductionResult): string {
  const header = [
    'variant',
    'params',
    'fwd FLOPs/seq',
    'train FLOPs',
    'of budget',
    'steps',
    'val bits/byte',
    'routed fraction per block',
  ];
  const rows = result.rows.map((r: ReproductionRow) => [
    r.variant,
    String(r.parameters),
    fmtExp(r.forwardFlopsPerSequence),
    fmtExp(r.trainingFlops),
    `${(100 * r.budgetFraction).toFixed(1)}%`,
    String(r.steps),
    r.finalValidationBitsPerByte?.toFixed(3) ?? '-',
    r.routedFractionPerBlock.map((f) => f.toFixed(3)).join(' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
