// Example 4: both kinds of Mixture-of-Depths-and-Experts (Raposo et al. 2024, section 3.6,
// figure 7) against MoE and dense, at equal training FLOPs. Each variant gets the steps a fixed
// FLOP budget buys it, counted analytically: model.flops(seqLen).training * batchSize per step.
//   - staged MoDE: a MoD router picks 12.5% of each sequence, which then goes through attention
//     and a token-choice MoE; the other tokens skip the block.
//   - integrated MoDE: one token-choice router over 4 expert MLPs and 4 no-op experts; a token
//     sent to a no-op skips the MLP (attention still runs on every token).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockSpec } from '@moderoute/blocks';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';
import { CorpusCache, Trainer, type TrainConfig, type TrainResult } from '@moderoute/train';

export const VARIANTS = ['dense', 'moe', 'mode-staged', 'mode-integrated'] as const;
export type Variant = (typeof VARIANTS)[number];

export type Size = 'tiny' | 'full';

export interface SizeSettings {
  readonly model: LanguageModelConfig;
  readonly train: Omit<TrainConfig, 'model' | 'steps'>;
  /** The FLOP budget: what this many steps of the dense model cost. */
  readonly denseSteps: number;
}

export const SIZES: Record<Size, SizeSettings> = {
  tiny: {
    model: { width: 16, numHeads: 2, numLayers: 2, contextLength: 16, seed: 4 },
    train: { batchSize: 2, seqLen: 16, learningRate: 1e-2, warmupSteps: 1, evalWindows: 2 },
    denseSteps: 4,
  },
  full: {
    model: { width: 64, numHeads: 4, numLayers: 4, contextLength: 64, seed: 4 },
    train: { batchSize: 8, seqLen: 64, learningRate: 3e-3, warmupSteps: 10, evalWindows: 32 },
    denseSteps: 100,
  },
};

const TOKEN_CHOICE = {
  name: 'token-choice',
  config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } },
};
const DEPTH = { name: 'mixture-of-depths', config: { capacity: 0.125 } };

/** The routed block of each variant (alternating with dense blocks, the paper's placement). */
export const ROUTED_BLOCKS: Record<Variant, BlockSpec> = {
  dense: { kind: 'dense' },
  moe: { kind: 'moe', numExperts: 4, expertRouter: TOKEN_CHOICE },
  'mode-staged': {
    kind: 'mode-staged',
    numExperts: 4,
    depthRouter: DEPTH,
    expertRouter: TOKEN_CHOICE,
  },
  'mode-integrated': {
    kind: 'mode-integrated',
    numExperts: 4,
    numNoopExperts: 4,
    expertRouter: TOKEN_CHOICE,
  },
};

export function variantModel(variant: Variant, size: Size): LanguageModelConfig {
  return { ...SIZES[size].model, schedule: { pattern: ['dense', ROUTED_BLOCKS[variant]] } };
}

/** Analytic training FLOPs of one step: 3 x forward per sequence x sequences per batch. */
export function flopsPerStep(variant: Variant, size: Size): number {
  const model = createContainer().get(MODEL_IDS.ModelFactory).create(variantModel(variant, size));
  try {
    return model.flops(SIZES[size].train.seqLen).training * SIZES[size].train.batchSize!;
  } finally {
    model.dispose();
  }
}

/** The budget and each variant's steps: as many as the budget pays for (at least one). */
export function isoFlopPlan(
  size: Size,
  variants: readonly Variant[] = VARIANTS,
): { budget: number; steps: Record<string, number>; perStep: Record<string, number> } {
  const budget = SIZES[size].denseSteps * flopsPerStep('dense', size);
  const perStep = Object.fromEntries(variants.map((v) => [v, flopsPerStep(v, size)]));
  const steps = Object.fromEntries(
    variants.map((v) => [v, Math.max(1, Math.floor(budget / perStep[v]!))]),
  );
  return { budget, steps, perStep };
}

export interface VariantResult {
  readonly variant: Variant;
  readonly steps: number;
  readonly flopsPerStep: number;
  readonly trainingFlops: number;
  readonly validationBitsPerByte: number;
  readonly wallSeconds: number;
  readonly parameters: number;
  readonly routedFractionPerBlock: readonly number[];
  /**
   * Of the routed blocks' expert assignments at the last step, the share that went to real experts
   * (integrated MoDE: the rest took a no-op).
   */
  readonly realExpertShare?: number;
  readonly result: TrainResult;
}

/** Trains every variant on its share of the same FLOP budget. */
export async function compareAtEqualFlops(
  options: {
    size?: Size;
    variants?: readonly Variant[];
    onResult?: (r: VariantResult) => void;
  } = {},
): Promise<{ budget: number; results: VariantResult[] }> {
  const size = options.size ?? 'tiny';
  const variants = options.variants ?? VARIANTS;
  const plan = isoFlopPlan(size, variants);
  const outDir = mkdtempSync(join(tmpdir(), 'moderoute-mode-'));
  const corpusCache = new CorpusCache();
  const results: VariantResult[] = [];
  try {
    for (const variant of variants) {
      const steps = plan.steps[variant]!;
      const spec = ROUTED_BLOCKS[variant];
      const realExperts = spec.numExperts ?? 0;
      let real = 0;
      let all = 0;
      const result = await new Trainer({
        ...SIZES[size].train,
        steps,
        model: variantModel(variant, size),
      }).run({
        outDir: join(outDir, variant),
        resume: false,
        corpusCache,
        onStep: (event) => {
          if (event.step !== event.totalSteps) return;
          // Expert loads of the routed blocks (MoE, integrated MoDE: real experts first, then no-ops).
          for (const block of event.routing) {
            if (block.kind !== 'moe' && block.kind !== 'mode-integrated') continue;
            real += block.load.slice(0, realExperts).reduce((a, n) => a + n, 0);
            all += block.load.reduce((a, n) => a + n, 0);
          }
        },
      });
      const row: VariantResult = {
        variant,
        steps,
        flopsPerStep: plan.perStep[variant]!,
        trainingFlops: result.trainingFlops,
        validationBitsPerByte: result.finalValidationBitsPerByte ?? Number.NaN,
        wallSeconds: result.wallSeconds,
        parameters: result.parameters,
        routedFractionPerBlock: result.routedFractionPerBlock,
        ...(all > 0 ? { realExpertShare: real / all } : {}),
        result,
      };
      results.push(row);
      options.onResult?.(row);
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  return { budget: plan.budget, results };
}

/** The comparison as a fixed-width table. */
export function formatTable(budget: number, results: readonly VariantResult[]): string {
  const header = [
    'variant',
    'steps',
    'MFLOPs/step',
    'train GFLOPs',
    'val bits/byte',
    'wall s',
    'params',
    'real-expert share',
    'routed fraction per block',
  ];
  const rows = results.map((r) => [
    r.variant,
    String(r.steps),
    (r.flopsPerStep / 1e6).toFixed(1),
    (r.trainingFlops / 1e9).toFixed(3),
    r.validationBitsPerByte.toFixed(3),
    r.wallSeconds.toFixed(1),
    String(r.parameters),
    r.realExpertShare === undefined ? '-' : r.realExpertShare.toFixed(3),
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
  return [
    `FLOP budget: ${(budget / 1e9).toFixed(3)} GFLOPs (the dense model's steps)`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}
