// Calibrating the causal rules' cuts on windows, and the guard that flags a routed block whose
// causal rule selects far from top-k's fraction (docs/sampling.md).
import assert from 'node:assert/strict';
import { tf } from '@moderoute/core';
import { expectNoLeaks, useBackend } from '@moderoute/testing';
import {
  MODEL_IDS,
  SELECTION_MARGIN,
  calibrateCausalRouting,
  causalAgreement,
  checkCausalSelection,
  checkDecodeSelection,
  createContainer,
  generateText,
  selectionTolerance,
  selectionWarnings,
  type BlockAgreement,
  type LanguageModelConfig,
} from '../src/index.js';

const CONFIG: LanguageModelConfig = {
  vocabSize: 256,
  contextLength: 16,
  width: 16,
  numHeads: 2,
  numLayers: 4,
  seed: 3,
  schedule: {
    layers: [
      'dense',
      {
        kind: 'mod',
        depthRouter: {
          name: 'mixture-of-depths',
          config: { causalMode: 'predictor', capacity: 0.25 },
        },
      },
      'dense',
      {
        kind: 'mode-staged',
        depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } },
      },
    ],
  },
};
const create = () => createContainer().get(MODEL_IDS.ModelFactory).create(CONFIG);
const windows = Array.from({ length: 6 }, (_, w) =>
  Array.from({ length: 17 }, (_, i) => (w * 37 + i * i * 11) % 256),
);

describe('causal selection', () => {
  useBackend('wasm');

  describe('calibrateCausalRouting', () => {
    it(
      "should make every routed block's causal rules select exactly " +
        "top-k's fraction of the windows' tokens, without leaking",
      () => {
        const model = create();
        try {
          // Stale cuts far above every logit: every rule selects nothing.
          for (const [name, v] of model.namedParameters())
            if (name.endsWith('threshold')) v.assign(tf.tensor1d([1e6, 3]));
          const stale = causalAgreement(model, windows);
          // Block 1's router decides by its predictor (its threshold rule has no cut of its own: r > 0).
          assert.deepEqual(
            stale.map((a) => [
              a.block,
              (a.block === 1 ? a.predictor : a.threshold)!.selectedFraction,
            ]),
            [
              [1, 0],
              [3, 0],
            ],
          );
          const failed = checkCausalSelection(stale)
            .filter((c) => !c.ok)
            .map((c) => [c.block, c.rule]);
          assert.ok(
            failed.some(([b, r]) => b === 1 && r === 'predictor') &&
              failed.some(([b, r]) => b === 3 && r === 'threshold'),
            JSON.stringify(failed),
          );
          let cuts: ReturnType<typeof calibrateCausalRouting> = [];
          expectNoLeaks(() => {
            cuts = calibrateCausalRouting(model, windows, { batchSize: 4 });
          }, 'calibrateCausalRouting');
          assert.deepEqual(
            cuts.map((c) => [c.block, c.kind, c.threshold?.[0], c.predictor?.[0]]),
            [
              [1, 'mod', undefined, 1e6],
              [3, 'mode-staged', 1e6, undefined],
            ],
          );
          const agreement = causalAgreement(model, windows);
          // 6 windows x 16 tokens, k = 4 per window: 24 tokens above each cut (random logits, no ties).
          assert.equal(agreement[0]!.predictor!.selectedFraction, 0.25, 'block 1 predictor');
          assert.equal(agreement[1]!.threshold!.selectedFraction, 0.25, 'block 3 threshold');
          assert.ok(
            checkCausalSelection(agreement)
              .filter((c) => (c.block === 1) === (c.rule === 'predictor'))
              .every((c) => c.ok),
          );
        } finally {
          model.dispose();
        }
      },
    );
  });

  describe('checkCausalSelection', () => {
    const agreement = (selected: number, tokens: number): BlockAgreement[] => [
      {
        block: 1,
        kind: 'mod',
        topKFraction: 0.125,
        threshold: {
          accuracy: 0.9,
          precision: 0.5,
          recall: 0.5,
          selectedFraction: selected,
          tokens,
          truePositives: 0,
          falsePositives: 0,
          falseNegatives: 0,
        },
      },
    ];

    it('should pass within max(2 points, 3 binomial sd) of top-k, and flag beyond it or zero', () => {
      assert.equal(SELECTION_MARGIN, 0.02);
      assert.equal(selectionTolerance(0.125, 1e6), 0.02);
      assert.ok(
        Math.abs(selectionTolerance(0.125, 64) - 3 * Math.sqrt((0.125 * 0.875) / 64)) < 1e-12,
      );
      assert.ok(checkCausalSelection(agreement(0.14, 1e5))[0]!.ok);
      assert.ok(!checkCausalSelection(agreement(0.15, 1e5))[0]!.ok);
      assert.ok(!checkCausalSelection(agreement(0.1, 1e5))[0]!.ok);
      // Zero is flagged once top-k would have taken 4 tokens.
      assert.ok(!checkCausalSelection(agreement(0, 32))[0]!.ok);
      assert.ok(checkCausalSelection(agreement(0, 16))[0]!.ok);
      const [warning] = selectionWarnings(checkCausalSelection(agreement(0, 8192)));
      assert.match(
        warning!,
        new RegExp(
          /block 1 \(mod\) threshold rule selects no token: the block is switched off while sampling; /
            .source + /top-k selects 12\.5%/.source,
        ),
      );
      assert.deepEqual(selectionWarnings(checkCausalSelection(agreement(0.13, 8192))), []);
    });
  });

  describe('checkDecodeSelection', () => {
    it('should check the fraction each routed block attended while generating, by the rule used', async () => {
      const model = create();
      try {
        for (const [name, v] of model.namedParameters())
          if (name.endsWith('threshold')) v.assign(tf.tensor1d([1e6, 3]));
        const result = await generateText(model, 'We the', { maxTokens: 11, seed: 1 });
        const checks = checkDecodeSelection(model, result.blocks);
        assert.deepEqual(
          checks.map((c) => [c.block, c.rule, c.selectedFraction, c.capacity, c.tokens, c.ok]),
          [
            [1, 'predictor', 0, 0.25, 16, false],
            [3, 'threshold', 0, 0.25, 16, false],
          ],
        );
        assert.deepEqual(
          checkDecodeSelection(model, result.blocks, 'threshold').map((c) => c.rule),
          ['threshold', 'threshold'],
        );
      } finally {
        model.dispose();
      }
    });
  });
});
