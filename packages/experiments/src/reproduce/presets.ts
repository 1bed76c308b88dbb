// The reproduction presets: the paper's comparison (Raposo et al. 2024, section 4) at three
// small scales. Each preset trains, at one training-FLOP budget: dense baselines at several
// sizes; MoD at 12.5% capacity every other block (the paper's best) and every block; MoE with
// token-choice and with expert-choice routing; staged and integrated MoDE. The routed variants
// share the largest dense model's shape, so each is "that model, made conditional".
// Sizes and budgets were chosen from step times measured on the 2-core reference machine on the
// wasm backend (docs/reproduction.md).
import {
  FAMILY_NAMES,
  familyDescription,
  familyModel,
  type FamilyOptions,
  type ModelShape,
} from './families.js';
import type { ReproductionSpec, ReproductionVariant } from './spec.js';

/** The name of a built-in comparison: demo, quick or full. */
export type PresetName = 'demo' | 'quick' | 'full';
/** The built-in comparisons, smallest first. */
export const PRESET_NAMES: readonly PresetName[] = ['demo', 'quick', 'full'];

/** Options of `isoFlopVariants`: the dense shapes and the context length. */
export interface IsoFlopVariantsOptions extends FamilyOptions {
  /** Dense baselines, smallest first; the last one is the routed variants' shape. */
  readonly dense: readonly ModelShape[];
  /** Context length of every model (at least the sequence length). */
  readonly contextLength: number;
}

const shapeName = (s: ModelShape) => `dense-d${s.width}-l${s.numLayers}`;

/** The comparison's variants for a set of dense sizes (see the file header). */
export function isoFlopVariants(options: IsoFlopVariantsOptions): ReproductionVariant[] {
  const base = options.dense[options.dense.length - 1]!;
  const shape = `d${base.width}, ${base.numLayers} layers`;
  const routed = FAMILY_NAMES.filter((f) => f !== 'dense');
  return [
    ...options.dense.map((s) => ({
      name: shapeName(s),
      description: `dense baseline (d${s.width}, ${s.numLayers} layers, ${s.numHeads} heads)`,
      model: familyModel('dense', s, options.contextLength, options),
    })),
    ...routed.map((family) => ({
      name: family,
      description: `${familyDescription(family, options)} (${shape})`,
      model: familyModel(family, base, options.contextLength, options),
    })),
  ];
}

const DEMO: ReproductionSpec = {
  name: 'demo',
  description:
    "The README's main job: every variant for a few seconds each, to show the " +
    'pipeline end to end (at most 5 minutes on 2 CPU cores).',
  budgetFlops: 1e11,
  batchSize: 8,
  seqLen: 64,
  learningRate: 3e-3,
  evalPoints: 5,
  evalWindows: 32,
  seed: 0,
  expectedMinutes: 3,
  variants: isoFlopVariants({
    dense: [
      { width: 64, numLayers: 4, numHeads: 4 },
      { width: 96, numLayers: 4, numHeads: 4 },
    ],
    contextLength: 64,
  }),
};

const QUICK: ReproductionSpec = {
  name: 'quick',
  description: 'A longer comparison at a larger budget (at most 30 minutes on 2 CPU cores).',
  budgetFlops: 8e11,
  batchSize: 8,
  seqLen: 64,
  learningRate: 3e-3,
  evalPoints: 8,
  evalWindows: 64,
  checkpointsPerRun: 4,
  seed: 0,
  expectedMinutes: 10,
  variants: isoFlopVariants({
    dense: [
      { width: 64, numLayers: 4, numHeads: 4 },
      { width: 96, numLayers: 4, numHeads: 4 },
      { width: 128, numLayers: 4, numHeads: 4 },
    ],
    contextLength: 64,
  }),
};

const FULL: ReproductionSpec = {
  name: 'full',
  description:
    'The largest preset: longer sequences, deeper models, a budget of 2e13 training ' +
    'FLOPs per variant (about 5.5 hours on 2 CPU cores, estimated from measured step ' +
    'rates).',
  budgetFlops: 2e13,
  batchSize: 16,
  seqLen: 128,
  learningRate: 2e-3,
  evalPoints: 10,
  evalWindows: 128,
  checkpointsPerRun: 10,
  seed: 0,
  expectedMinutes: 330,
  variants: isoFlopVariants({
    dense: [
      { width: 128, numLayers: 4, numHeads: 4 },
      { width: 192, numLayers: 6, numHeads: 6 },
      { width: 256, numLayers: 8, numHeads: 8 },
    ],
    contextLength: 128,
  }),
};

/** The presets by name. */
export const REPRODUCTION_PRESETS: Readonly<Record<PresetName, ReproductionSpec>> = Object.freeze({
  demo: DEMO,
  quick: QUICK,
  full: FULL,
});
