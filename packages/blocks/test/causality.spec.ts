// Causality: in a causal mode, a block's output at position t must not depend on tokens after t.
// Expert-choice routing over a whole sequence (and MoD's top-k) is not causal: asserted too.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, initBackend, tf, type Tensor3D } from '@moderoute/core';
import type { DecisionMode } from '@moderoute/routing';
import { forEachBackend, randomTensor, runs } from '@moderoute/testing';
import type { BlockSpec } from '../src/index.js';
import { WIDTH, makeBlock } from './helpers.js';

const T = 8;

/** Whether the block's output at positions <= cut is unchanged when tokens after cut change. */
function prefixStable(
  spec: BlockSpec,
  mode: DecisionMode | undefined,
  seed: number,
  cut: number,
): boolean {
  const made = makeBlock(spec, 1 + (seed % 5));
  try {
    return tf.tidy(() => {
      const x = randomTensor([1, T, WIDTH], seed) as Tensor3D;
      const keep = tf
        .less(tf.range(0, T), cut + 1)
        .reshape([1, T, 1])
        .tile([1, 1, WIDTH]);
      const x2 = tf.where(keep, x, randomTensor([1, T, WIDTH], seed + 1, 3)) as Tensor3D;
      const options = { training: false, ...(mode ? { mode } : {}) };
      const y1 = made.block.forward(x, options).output.slice([0, 0, 0], [1, cut + 1, WIDTH]);
      const y2 = made.block.forward(x2, options).output.slice([0, 0, 0], [1, cut + 1, WIDTH]);
      return (tf.max(tf.abs(tf.sub(y1, y2))).dataSync()[0] as number) <= 1e-5;
    });
  } finally {
    made.dispose();
  }
}

const cases = fc.record({ seed: fc.nat(1e5), cut: fc.integer({ min: 0, max: T - 2 }) });
const tokenChoice = {
  name: 'token-choice',
  config: { topK: 1, priority: 'position', capacity: { trainFactor: 1, evalFactor: 1 } },
};

const CAUSAL: [string, BlockSpec, DecisionMode | undefined][] = [
  ['dense', { kind: 'dense' }, undefined],
  [
    'MoD, threshold decisions',
    {
      kind: 'mod',
      depthRouter: {
        name: 'mixture-of-depths',
        config: { capacity: 0.5, causalMode: 'threshold' },
      },
    },
    'threshold',
  ],
  [
    'MoD, predictor decisions',
    {
      kind: 'mod',
      depthRouter: {
        name: 'mixture-of-depths',
        config: { capacity: 0.5, causalMode: 'predictor' },
      },
    },
    'predictor',
  ],
  [
    'MoE, token-choice top-1 with position priority and capacity',
    { kind: 'moe', expertRouter: tokenChoice },
    undefined,
  ],
  [
    'MoE, token-choice top-2 dropless',
    {
      kind: 'moe',
      expertRouter: { name: 'token-choice', config: { topK: 2, capacity: { dropless: true } } },
    },
    undefined,
  ],
  [
    'staged MoDE, threshold decisions then token-choice',
    {
      kind: 'mode-staged',
      depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.5 } },
      expertRouter: tokenChoice,
    },
    'threshold',
  ],
  [
    'integrated MoDE, token-choice',
    { kind: 'mode-integrated', expertRouter: tokenChoice },
    undefined,
  ],
];

describe('block causality', () => {
  forEachBackend(() => {
    for (const [name, spec, mode] of CAUSAL) {
      it(`${name}: the output at t should not change when tokens after t do`, () => {
        fc.assert(
          fc.property(cases, ({ seed, cut }) => prefixStable(spec, mode, seed, cut)),
          runs(8),
        );
      });
    }

    it('MoE with expert-choice routing over the sequence is not causal (documented; the property must fail)', () => {
      const spec: BlockSpec = {
        kind: 'moe',
        expertRouter: {
          name: 'expert-choice',
          config: { capacity: { trainFactor: 0.5, evalFactor: 0.5 } },
        },
      };
      const result = fc.check(
        fc.property(cases, ({ seed, cut }) => prefixStable(spec, undefined, seed, cut)),
        { numRuns: 40 },
      );
      assert.equal(
        result.failed,
        true,
        'expert-choice routing unexpectedly behaved causally on every case',
      );
    });

    it('MoD with top-k decisions is not causal (the paper trains with it, and samples with a causal rule)', () => {
      const spec: BlockSpec = {
        kind: 'mod',
        depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } },
      };
      const result = fc.check(
        fc.property(cases, ({ seed, cut }) => prefixStable(spec, 'top-k', seed, cut)),
        { numRuns: 40 },
      );
      assert.equal(
        result.failed,
        true,
        'top-k routing unexpectedly behaved causally on every case',
      );
    });
  });
});

describe('block training under a causal rule', () => {
  // Causal sessions carry no auxiliary losses and token-choice sessions no router gradient.
  const REFUSED: [string, BlockSpec, DecisionMode][] = [
    ['MoD', CAUSAL[1]![1], 'threshold'],
    ['MoE, token-choice', CAUSAL[3]![1], 'causal'],
    ['staged MoDE', CAUSAL[5]![1], 'predictor'],
  ];
  before(async () => {
    await initBackend({ backend: 'cpu' });
  });
  for (const [name, spec, mode] of REFUSED) {
    it(`${name}: a training forward with mode '${mode}' should be a ConfigError naming mode`, () => {
      const made = makeBlock(spec, 1);
      const before = tf.memory().numTensors;
      try {
        const x = randomTensor([2, T, WIDTH], 3) as Tensor3D;
        assert.throws(
          // In a tidy, as the model calls blocks (a block's forward leaves its tensors to the caller).
          () => tf.tidy(() => made.block.forward(x, { training: true, mode }).output),
          (e: unknown) =>
            e instanceof ConfigError &&
            e.parameter === 'mode' &&
            e.value === mode &&
            /evaluation and decoding/.test(e.message),
        );
        x.dispose();
        assert.equal(tf.memory().numTensors, before);
      } finally {
        made.dispose();
      }
    });
  }
});
