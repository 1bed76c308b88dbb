// The reproduction presets: the paper's comparison (Raposo et al. 2024, section 4) at three
// small scales. Each preset trains, at one training-FLOP budget: dense baselines at several
// sizes; MoD at 12.5% capacity every other block (the paper's best) and every block; MoE with
// token-choice and with expert-choice routing; staged and integrated MoDE. The routed variants
// share the largest dense model's shape, so each is "that model, made conditional".
// Sizes and budgets were chosen from step times measured on the 2-core reference machine on the
// wasm backend (docs/reproduction.md).
import type { ScheduleEntry } from '@moderoute/model';
import type { ReproductionSpec, ReproductionVariant } from './spec.js';

/** The name of a built-in comparison: demo, quick or full. */
export type PresetName = 'demo' | 'quick' | 'full';
/** The built-in comparisons, smallest first. */
export const PRESET_NAMES: readonly PresetName[] = ['demo', 'quick', 'full'];

/** A transformer shape. */
export interface ModelShape {
  readonly width: number;
  readonly numLayers: number;
  readonly numHeads: number;
}

/** Options of `isoFlopVariants`: the dense shapes and the context length. */
export interface IsoFlopVariantsOptions {
  /** Dense baselines, smallest first; the last one is the routed variants' shape. */
  readonly dense: readonly ModelShape[];
  /** Context length of every model (at least the sequence length). */
  readonly contextLength: number;
  /** Real experts of the MoE and MoDE blocks (default 4). */
  readonly numExperts?: number;
  /** Fraction of tokens MoD blocks process (default 0.125, the paper's best). */
  readonly capacity?: number;
}

const shapeName = (s: ModelShape) => `dense-d${s.width}-l${s.numLayers}`;

/** The comparison's variants for a set of dense sizes (see the file header). */
export function isoFlopVariants(options: IsoFlopVariantsOptions): ReproductionVariant[] {
  const capacity = options.capacity ?? 0.125;
  const numExperts = options.numExperts ?? 4;
  const pct = `${+(capacity * 100).toFixed(1)}%`;
  const base = options.dense[options.dense.length - 1]!;
  const model = (shape: ModelShape, pattern?: readonly ScheduleEntry[]) => ({
    width: shape.width,
    numLayers: shape.numLayers,
    numHeads: shape.numHeads,
    contextLength: options.contextLength,
    mlpRatio: 4,
    ...(pattern ? { schedule: { pattern } } : {}),
  });
  const depth = { name: 'mixture-of-depths', config: { capacity } };
  const shape = `d${base.width}, ${base.numLayers} layers`;
  return [
    ...options.dense.map((s) => ({
      name: shapeName(s),
      description: `dense baseline (d${s.width}, ${s.numLayers} layers, ${s.numHeads} heads)`,
      model: model(s),
    })),
    {
      name: 'mod-every-other',
      description: `MoD, ${pct} capacity, every other block (${shape})`,
      model: model(base, ['dense', { kind: 'mod', depthRouter: depth }]),
    },
    {
      name: 'mod-every-block',
      description: `MoD, ${pct} capacity, every block (${shape})`,
      model: model(base, [{ kind: 'mod', depthRouter: depth }]),
    },
    {
      name: 'moe-token-choice',
      description: `MoE, ${numExperts} experts, token-choice top-1, capacity factor 1.25, every other block (${shape})`,
      model: model(base, [
        'dense',
        {
          kind: 'moe',
          numExperts,
          expertRouter: {
            name: 'token-choice',
            config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } },
          },
        },
      ]),
    },
    {
      name: 'moe-expert-choice',
      description: `MoE, ${numExperts} experts, expert-choice capacity factor 1, every other block (${shape})`,
      model: model(base, [
        'dense',
        { kind: 'moe', numExperts, expertRouter: { name: 'expert-choice', config: {} } },
      ]),
    },
    {
      name: 'mode-staged',
      description: `staged MoDE: MoD ${pct} then ${numExperts} token-choice experts, every other block (${shape})`,
      model: model(base, [
        'dense',
        {
          kind: 'mode-staged',
          numExperts,
          depthRouter: depth,
          expertRouter: {
            name: 'token-choice',
            config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } },
          },
        },
      ]),
    },
    {
      name: 'mode-integrated',
      description:
        `integrated MoDE: ${numExperts} experts + ${numExperts} no-op experts, ` +
        `token-choice top-1, every other block (${shape})`,
      model: model(base, [
        'dense',
        { kind: 'mode-integrated', numExperts, numNoopExperts: numExperts },
      ]),
    },
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
