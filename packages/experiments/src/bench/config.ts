// The bench config: vocabulary 256, width 128, 4 layers, 4 heads, sequence 128,
// batch 8, MLP 4x. Routed variants put their block every other layer (["dense", X]).
import { tf, type NamedTensorMap, type Variable } from '@moderoute/core';
import type { LanguageModelConfig } from '@moderoute/model';
import { AdamW } from '@moderoute/train';

/** The bench config's model: vocabulary 256, width 128, 4 layers, 4 heads, context 128, MLP 4x. */
export const BENCH = {
  vocabSize: 256,
  width: 128,
  numLayers: 4,
  numHeads: 4,
  contextLength: 128,
  mlpRatio: 4,
} as const;
/** Sequences per training step at the bench config. */
export const BATCH = 8;
/** Tokens per sequence at the bench config. */
export const SEQ = 128;

/** The bench's runner name of the matmul peak measured with core's own product (training.ts). */
export const OWN_PEAK = 'own product peak';

/**
 * A pass figure beside the runners' medians: MoD's step over dense's step of the same round, the
 * median over the pass's rounds (passes.ts pairedRatio).
 */
export const PAIRED_MOD_DENSE = 'mod / dense, paired steps';

/** The bench config with a MoD block every other layer at `capacity` (the `mod` variant's 0.125). */
export function modAtCapacity(capacity: number): LanguageModelConfig {
  return {
    ...BENCH,
    schedule: {
      pattern: [
        'dense',
        { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity } } },
      ],
    },
  };
}

/** The variants, by their JSON names. */
export const VARIANTS: Record<string, LanguageModelConfig> = {
  dense: { ...BENCH },
  mod: modAtCapacity(0.125),
  moe: {
    ...BENCH,
    schedule: {
      pattern: [
        'dense',
        {
          kind: 'moe',
          numExperts: 4,
          expertRouter: {
            name: 'token-choice',
            config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } },
          },
        },
      ],
    },
  },
  staged_mode: {
    ...BENCH,
    schedule: {
      pattern: [
        'dense',
        {
          kind: 'mode-staged',
          numExperts: 4,
          depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125 } },
        },
      ],
    },
  },
  integrated_mode: {
    ...BENCH,
    schedule: { pattern: ['dense', { kind: 'mode-integrated', numExperts: 4, numNoopExperts: 4 }] },
  },
};

/** The optimizers the bench can train with: the project's AdamW (what the trainer runs) or tfjs's Adam. */
export const OPTIMIZERS = ['adamw', 'adam'] as const;
/** The optimizer of a bench run: the trainer's AdamW or tf.train.adam. */
export type OptimizerName = (typeof OPTIMIZERS)[number];

/**
 * Core's own wasm kernels in a bench run: on, off, or both (each variant also runs with them off,
 * as a runner of its own interleaved with it: `tfjsKernelsTwin`).
 */
export const OWN_KERNELS_MODES = ['on', 'off', 'both'] as const;
/** How a bench run uses core's own wasm kernels (`--own-kernels`). */
export type OwnKernelsMode = (typeof OWN_KERNELS_MODES)[number];

/** The name of variant `name`'s runner with core's own kernels off (`--own-kernels both`). */
export function tfjsKernelsTwin(name: string): string {
  return `${name} (tfjs kernels)`;
}

/** One optimizer update from tf.variableGrads's output (gradients keyed by variable name). */
export interface BenchOptimizer {
  readonly name: OptimizerName;
  apply(grads: NamedTensorMap): void;
  dispose(): void;
}

/**
 * The optimizer of a bench run, at learning rate 1e-3. 'adamw' is @moderoute/train's AdamW with
 * its defaults (beta2 0.95, decoupled weight decay 0.1 except biases and norms, global-norm
 * clipping at 1), as `moderoute train` runs it; 'adam' is tf.train.adam (the bench before
 * switch to AdamW, and the PyTorch peer's torch.optim.Adam).
 */
export function createBenchOptimizer(
  name: OptimizerName,
  params: ReadonlyMap<string, Variable>,
): BenchOptimizer {
  if (name === 'adam') {
    const adam = tf.train.adam(1e-3);
    return {
      name,
      apply: (grads) => adam.applyGradients(grads as never),
      dispose: () => adam.dispose(),
    };
  }
  const optimizer = new AdamW(params);
  const nameOf = new Map([...params].map(([pname, v]) => [v.name, pname]));
  return {
    name,
    apply: (grads) =>
      optimizer.apply(
        new Map(Object.entries(grads).map(([vname, g]) => [nameOf.get(vname) ?? vname, g])),
        1e-3,
      ),
    dispose: () => optimizer.dispose(),
  };
}
