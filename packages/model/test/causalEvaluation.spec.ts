// The measurement helpers of causal routing: agreement with top-k per routed block, and bits
// per byte with causal versus top-k decisions; plus the seeded sampler.
import assert from 'node:assert/strict';
import { tf, type Tensor2D } from '@moderoute/core';
import type { MixtureOfDepthsPlan } from '@moderoute/routing';
import { expectNoLeaks, useBackend } from '@moderoute/testing';
import {
  MODEL_IDS,
  bitsPerByte,
  causalAgreement,
  createContainer,
  evaluateCausalRouting,
  sampleToken,
  samplingDistribution,
  seededRandom,
  causalRules,
  type LanguageModelConfig,
} from '../src/index.js';

const CONFIG: LanguageModelConfig = {
  vocabSize: 32,
  contextLength: 16,
  width: 16,
  numHeads: 2,
  numLayers: 4,
  seed: 2,
  schedule: {
    layers: [
      'dense',
      {
        kind: 'mod',
        depthRouter: { name: 'mixture-of-depths', config: { causalMode: 'predictor' } },
      },
      'dense',
      {
        kind: 'mode-staged',
        depthRouter: {
          name: 'mixture-of-depths',
          config: { causalMode: 'predictor', capacity: 0.25 },
        },
      },
    ],
  },
};
const create = (config = CONFIG) => createContainer().get(MODEL_IDS.ModelFactory).create(config);
const windows = Array.from({ length: 5 }, (_, w) =>
  Array.from({ length: 17 }, (_, i) => (w * 7 + i * i) % 32),
);

describe('causal routing evaluation', () => {
  useBackend('wasm');

  describe('causalAgreement', () => {
    it(
      'should count agreement per routed block exactly as the routers ' +
        'decide (threshold from r > 0, against top-k)',
      () => {
        const model = create();
        try {
          const agreement = causalAgreement(model, windows, { batchSize: 2 });
          assert.deepEqual(
            agreement.map((a) => [a.block, a.kind]),
            [
              [1, 'mod'],
              [3, 'mode-staged'],
            ],
          );
          // Direct count: one forward over all windows, top-k membership vs r > 0.
          tf.tidy(() => {
            const inputs = tf.tensor2d(
              windows.map((w) => w.slice(0, 16)),
              [5, 16],
              'int32',
            ) as Tensor2D;
            const routing = model.forward(inputs, { mode: 'top-k' }).routing;
            for (const a of agreement) {
              const plan = routing[a.block]!['mod'] as MixtureOfDepthsPlan;
              const r = plan.routerLogits.dataSync();
              const member = new Uint8Array(r.length);
              for (const i of plan.tokenIndex.dataSync()) member[i] = 1;
              let tp = 0,
                fp = 0,
                fn = 0;
              r.forEach((v, i) => {
                if (v > 0 && member[i]) tp++;
                else if (v > 0) fp++;
                else if (member[i]) fn++;
              });
              const th = a.threshold!;
              assert.deepEqual(
                [th.tokens, th.truePositives, th.falsePositives, th.falseNegatives],
                [80, tp, fp, fn],
                `block ${a.block}`,
              );
              assert.equal(th.accuracy, (80 - fp - fn) / 80);
              assert.equal(a.topKFraction, plan.tokenIndex.shape[0] / 80);
              assert.ok(a.predictor !== undefined && a.predictor.tokens === 80);
            }
          });
        } finally {
          model.dispose();
        }
      },
    );
  });

  describe('bitsPerByte and evaluateCausalRouting', () => {
    it('should give the mean next-token loss in bits under each decision rule, without leaking', () => {
      const model = create();
      try {
        assert.deepEqual(causalRules(model).modes, ['threshold', 'predictor']);
        let result: ReturnType<typeof evaluateCausalRouting> | undefined;
        expectNoLeaks(() => {
          result = evaluateCausalRouting(model, windows, { batchSize: 3 });
        }, 'evaluateCausalRouting');
        const expected = (mode: 'top-k' | 'threshold' | 'predictor') =>
          tf.tidy(() => {
            const inputs = tf.tensor2d(
              windows.map((w) => w.slice(0, 16)),
              [5, 16],
              'int32',
            ) as Tensor2D;
            const targets = tf.tensor2d(
              windows.map((w) => w.slice(1)),
              [5, 16],
              'int32',
            ) as Tensor2D;
            return (
              (model.loss(inputs, targets, { mode }).lmLoss.dataSync()[0] as number) / Math.LN2
            );
          });
        for (const mode of ['top-k', 'threshold', 'predictor'] as const) {
          assert.ok(
            Math.abs(result!.bitsPerByte[mode]! - expected(mode)) < 1e-5,
            `${mode}: ${result!.bitsPerByte[mode]} vs ${expected(mode)}`,
          );
        }
        assert.ok(
          Math.abs(bitsPerByte(model, windows, { mode: 'threshold' }) - expected('threshold')) <
            1e-5,
        );
        assert.ok(
          Math.abs(
            result!.relativeLossIncrease.threshold! -
              (expected('threshold') / expected('top-k') - 1),
          ) < 1e-5,
        );
        assert.equal(result!.agreement.length, 2);
      } finally {
        model.dispose();
      }
    });

    it('should reject ragged or too long windows with a ConfigError', () => {
      const model = create();
      try {
        assert.throws(
          () =>
            causalAgreement(model, [
              [1, 2, 3],
              [1, 2],
            ]),
          /windows\[1\]\.length \(2\) must be 3/,
        );
        assert.throws(
          () => causalAgreement(model, [new Array(18).fill(1)]),
          /contextLength \+ 1 \(17\)/,
        );
      } finally {
        model.dispose();
      }
    });
  });
});

describe('sampling', () => {
  const logits = Float32Array.from([1, 3, 2, 3, -1]);

  it('should be greedy at temperature 0 (ties to the lower id), and with topK 1', () => {
    const random = seededRandom(1);
    assert.equal(sampleToken(logits, { temperature: 0 }, random), 1);
    assert.equal(sampleToken(logits, { temperature: 2, topK: 1 }, random), 1);
  });

  it('should keep the top-k, then the nucleus, and renormalize', () => {
    const top2 = samplingDistribution(logits, { topK: 2 });
    assert.deepEqual(top2.ids, [1, 3]);
    assert.deepEqual(top2.probs, [0.5, 0.5]);
    const nucleus = samplingDistribution(logits, { topP: 0.5 });
    assert.deepEqual(nucleus.ids, [1, 3]);
    const all = samplingDistribution(logits, { temperature: 0.5 });
    assert.ok(Math.abs(all.probs.reduce((a, p) => a + p, 0) - 1) < 1e-12);
  });

  it('should follow the softmax in frequency, and repeat with the same seed', () => {
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 4000 }, () => sampleToken(logits, {}, random));
    };
    const a = draw(3);
    assert.deepEqual(a, draw(3));
    assert.notDeepEqual(a, draw(4));
    const z = Array.from(logits).reduce((s, l) => s + Math.exp(l), 0);
    for (let id = 0; id < logits.length; id++) {
      const freq = a.filter((x) => x === id).length / a.length;
      assert.ok(Math.abs(freq - Math.exp(logits[id]!) / z) < 0.03, `id ${id}: ${freq}`);
    }
  });

  it('should name the parameter in errors', () => {
    assert.throws(() => samplingDistribution(logits, { topP: 0 }), /topP \(0\)/);
    assert.throws(() => samplingDistribution(logits, { temperature: -1 }), /temperature \(-1\)/);
    assert.throws(() => samplingDistribution(logits, { topK: 1.5 }), /topK \(1.5\)/);
  });
});
