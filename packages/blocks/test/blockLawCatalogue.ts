// The blocks the block law suite checks (laws.spec.ts runs every entry on cpu and wasm; the
// in-browser law page, test/browser/laws, runs a subset on webgl and against cpu): every block
// kind with its default routers, then variants with other routers, presets and capacities.
import type { BlockLawOptions, LawCausalMode } from '@moderoute/testing';
import { BLOCK_KINDS, type BlockKind, type BlockSpec } from '../src/index.js';
import { WIDTH, makeBlock } from './helpers.js';

/** One block configuration: its name, a fresh block of it, and what it promises the laws. */
export interface BlockLawEntry {
  readonly name: string;
  readonly make: () => ReturnType<typeof makeBlock>;
  readonly options: BlockLawOptions;
}

/** The causal rules each block kind decodes with (default routers). */
const CAUSAL: Record<BlockKind, readonly LawCausalMode[]> = {
  dense: ['causal'],
  mod: ['threshold', 'causal'],
  moe: ['causal'],
  'mode-staged': ['threshold', 'causal'],
  'mode-integrated': ['causal'],
};

/** An entry of a spec, its block made by `makeBlock(spec)`. */
const ofSpec = (
  name: string,
  spec: BlockSpec,
  options: Omit<BlockLawOptions, 'width'>,
): BlockLawEntry => ({ name, make: () => makeBlock(spec), options: { width: WIDTH, ...options } });

const variants: [string, BlockSpec, readonly LawCausalMode[]][] = [
  ['moe with expert-choice routing', { kind: 'moe', expertRouter: 'expert-choice' }, []],
  [
    'moe, token-choice top-1, capacity factor 1 (the legacy config key)',
    {
      kind: 'moe',
      numExperts: 4,
      expertRouter: {
        name: 'token-choice',
        config: { capacity: { trainFactor: 1, evalFactor: 1, minimum: 1 } },
      },
    },
    ['causal'],
  ],
  [
    'moe, token-choice top-2, token-major, finite capacity, normalized after drops',
    {
      kind: 'moe',
      numExperts: 3,
      expertRouter: {
        name: 'token-choice',
        config: { topK: 2, placement: 'token-major', renormalize: 'after-drops' },
        capacity: { trainFactor: 0.5, evalFactor: 0.5, minimum: 1, scaleByK: true },
      },
    },
    ['causal'],
  ],
  [
    'moe with shared experts, token-choice dropless top-2',
    {
      kind: 'moe',
      numExperts: 3,
      numSharedExperts: 1,
      expertRouter: { name: 'token-choice', config: { topK: 2 }, capacity: { dropless: true } },
    },
    ['causal'],
  ],
  [
    'mod with the predictor rule',
    {
      kind: 'mod',
      depthRouter: {
        name: 'mixture-of-depths',
        config: { causalMode: 'predictor', gate: 'sigmoid' },
      },
    },
    ['threshold', 'predictor'],
  ],
  [
    'staged MoDE with a finite-capacity token-choice stage',
    {
      kind: 'mode-staged',
      numExperts: 2,
      depthRouter: { name: 'mixture-of-depths', capacity: 0.5 },
      expertRouter: {
        name: 'token-choice',
        capacity: { trainFactor: 1, evalFactor: 1, minimum: 1 },
      },
    },
    ['threshold', 'causal'],
  ],
  [
    'staged MoDE with expert-choice experts',
    { kind: 'mode-staged', expertRouter: 'expert-choice' },
    [],
  ],
];

export const BLOCK_LAWS: readonly BlockLawEntry[] = [
  ...BLOCK_KINDS.map((kind) =>
    ofSpec(
      kind,
      { kind, depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } } },
      {
        unprocessedPassThrough: kind === 'mod' || kind === 'mode-staged',
        causalModes: CAUSAL[kind],
      },
    ),
  ),
  ...variants.map(([name, spec, causalModes]) => ofSpec(name, spec, { causalModes })),
  // GShard's random second expert draws one number per token of the batch (and its groups are the
  // batch): no causal rule, and a sequence's outputs depend on its batch.
  ofSpec(
    'moe, GShard preset (random second expert)',
    {
      kind: 'moe',
      numExperts: 4,
      expertRouter: { name: 'token-choice', config: { preset: 'gshard' } },
    },
    { causalModes: [], perSequence: false },
  ),
  // DeepSeek-V3 routing with a non-zero selection bias (folded from one step's loads: expert 0
  // took everything, so b = [-0.5, 0.5, 0.5, 0.5]), group-limited top-2 and a shared expert.
  {
    name: 'moe, DeepSeek-V3 preset with a selection bias, groups and a shared expert',
    make: () => {
      const block = makeBlock({
        kind: 'moe',
        numExperts: 4,
        numSharedExperts: 1,
        expertRouter: {
          name: 'token-choice',
          config: {
            preset: 'deepseek-v3',
            topK: 2,
            expertGroups: 2,
            topKGroups: 1,
            biasUpdateRate: 0.5,
          },
        },
      });
      const loads = [8, 0, 0, 0].map((sum) => ({ sum, count: 1 }));
      block.block.routers()[0]!.foldStatistics!([
        Object.fromEntries(loads.map((l, i) => [`selectionLoad.${i}`, l])),
      ]);
      return block;
    },
    options: { width: WIDTH, causalModes: ['causal'] },
  },
];
