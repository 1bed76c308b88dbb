// The token-choice options brought with the framework presets: V-MoE's gating losses on V-MoE's
// own test vectors, DeepSeek-V3's sequence-wise balance loss in closed form, GShard's random
// second expert, and the ConfigErrors of the new options (docs/routing.md "Token-choice options"). The presets themselves:
// tokenChoicePresets.spec.ts.
import assert from 'node:assert/strict';
import { ConfigError, tf } from '@moderoute/core';
import {
  CapacityPolicy,
  SECOND_EXPERT_STREAM,
  TokenChoiceRouter,
  allGatesImportanceLoss,
  fixedNoiseLoadLoss,
  disposePlan,
  secondExpertSkips,
  streamSeed,
  type TokenChoiceRouterConfig,
} from '@moderoute/routing';
import { expectClose, useBackend } from '@moderoute/testing';

const configError = (parameter: string) => (e: unknown) =>
  e instanceof ConfigError && e.parameter === parameter;

describe('TokenChoiceRouter options of the presets', () => {
  useBackend('wasm');
  describe("preset 'vmoe' on V-MoE's routing test vectors", () => {
    // google-research/vmoe vmoe/nn/routing_test.py at 0b17946f93575747549408cb7ee23d6677f66139:
    // the asserted importance, load and GShard auxiliary losses of NoisyTopExpertsPerItemRouter.
    const gates = [
      [0.5, 0.4, 0.1],
      [0.3, 0.3, 0.4],
      [0.1, 0.2, 0.7],
      [0.8, 0.2, 0.0],
    ];
    const all = new Uint8Array(4).fill(1);

    it('should give the importance loss V-MoE asserts (0.03874999)', () => {
      tf.tidy(() => {
        expectClose(allGatesImportanceLoss(tf.tensor2d(gates), all, 1), 0.03874999, {
          rtol: 1e-5,
          atol: 1e-7,
        });
      });
    });

    it('should give the load loss V-MoE asserts (0.48573864536489236)', () => {
      const clean = [
        [0.9, 0.06, 0.04],
        [0.7, 0.18, 0.12],
        [0.85, 0.05, 0.1],
      ];
      const noise = [
        [-0.037, 0.026, -0.018],
        [-0.074, 0.045, -0.015],
        [-0.067, -0.059, 0.073],
      ];
      tf.tidy(() => {
        const logits = tf.tensor2d(clean);
        const noisy = tf.add(logits, tf.tensor2d(noise)) as tf.Tensor2D;
        const loss = fixedNoiseLoadLoss(noisy, logits, 0.1, all.subarray(0, 3), 2, 1);
        expectClose(loss, 0.48573864536489236, { rtol: 1e-5, atol: 1e-7 });
      });
    });

    it('should give, as loadBalancing with alpha 1 and top-1, the GShard loss V-MoE asserts (1.0875)', () => {
      const router = new TokenChoiceRouter({
        dModel: 1,
        numExperts: 3,
        loadBalancingCoefficient: 1,
        zLossCoefficient: 0,
        capacity: { dropless: true },
      });
      tf.tidy(() => {
        const plan = router.routeScores(tf.tensor3d([gates]), { given: 'scores' });
        expectClose(plan.auxLosses['loadBalancing']!, 1.0875);
      });
      router.dispose();
    });

    it('should add fixed noise and the load loss in training only, importance from the clean gates', () => {
      const router = new TokenChoiceRouter({ preset: 'vmoe', dModel: 3, numExperts: 4, topK: 2 });
      tf.tidy(() => {
        const x = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 3) as tf.Tensor3D;
        const a = router.route(x, { training: true, rngSeed: 1 });
        const b = router.route(x, { training: true, rngSeed: 2 });
        const evaluation = router.route(x, { rngSeed: 1 });
        assert.ok(a.auxLosses['load'] !== undefined && a.auxLosses['importance'] !== undefined);
        assert.notDeepEqual(a.routerLogits!.arraySync(), b.routerLogits!.arraySync());
        assert.equal(evaluation.auxLosses['load'], undefined);
        // Importance reads the clean softmax: the same under any noise.
        expectClose(a.auxLosses['importance']!, b.auxLosses['importance']!);
        expectClose(evaluation.auxLosses['importance']!, a.auxLosses['importance']!);
      });
      router.dispose();
    });
  });

  describe('sequenceBalanceCoefficient (DeepSeek-V3 eq. 17-20)', () => {
    it('should be alpha * mean over sequences of sum_i f_i P_i, per sequence (closed form)', () => {
      // Sequence 0 routes e0, e1: s' rows [.6, 1/3, 1/15] and [1/6, .5, 1/3], f = 3/2 [1, 1, 0],
      // sum f P = 1.5 (.38333 + .41667) = 1.2. Sequence 1 routes e2 twice: f = [0, 0, 3],
      // P_2 = (.6 + .8 / 1.1) / 2, sum f P = 1.990909. Mean 1.5954545.
      const router = new TokenChoiceRouter({
        dModel: 1,
        numExperts: 3,
        scoreFunction: 'sigmoid',
        loadBalancingCoefficient: 0,
        sequenceBalanceCoefficient: 0.5,
        capacity: { dropless: true, group: 'batch' },
      });
      tf.tidy(() => {
        const scores = tf.tensor3d([
          [
            [0.9, 0.5, 0.1],
            [0.2, 0.6, 0.4],
          ],
          [
            [0.3, 0.3, 0.9],
            [0.1, 0.2, 0.8],
          ],
        ]);
        const plan = router.routeScores(scores, { given: 'scores' });
        expectClose(plan.auxLosses['sequenceBalance']!, 0.5 * 1.5954545);
        assert.equal(plan.auxLosses['loadBalancing'], undefined);
      });
      router.dispose();
    });
  });

  describe("secondExpertPolicy 'random' (GShard, Algorithm 1)", () => {
    it('should leave a second choice out exactly when the draw is not below min(1, 2 g2) (golden)', () => {
      // p1 = .6, p2 = .3: g2 = 1/3, kept with probability 2/3.
      const p = [0.6, 0.3, 0.1, 0.6, 0.3, 0.1];
      const choices = Int32Array.from([0, 1, 0, 1]);
      assert.deepEqual(
        Array.from(secondExpertSkips(p, choices, Float32Array.from([0.5, 0.7]), 3)),
        [0, 0, 0, 1],
      );
    });

    it("should draw from the call's seed, dispatching the seconds the draws keep", () => {
      const router = new TokenChoiceRouter({
        dModel: 1,
        numExperts: 4,
        topK: 2,
        renormalize: true,
        secondExpertPolicy: 'random',
        capacity: { dropless: true },
      });
      tf.tidy(() => {
        const logits = tf.randomNormal([2, 16, 4], 0, 1, 'float32', 7) as tf.Tensor3D;
        const plan = router.routeScores(logits, { rngSeed: 99 });
        const again = router.routeScores(logits, { rngSeed: 99 });
        assert.deepEqual(plan.choiceKept.arraySync(), again.choiceKept.arraySync());
        const draws = tf
          .randomUniform([32], 0, 1, 'float32', streamSeed(99, 0, SECOND_EXPERT_STREAM))
          .dataSync() as Float32Array;
        const skips = secondExpertSkips(
          plan.routerProbs!.dataSync(),
          plan.choices.dataSync() as Int32Array,
          draws,
          4,
        );
        const kept = plan.choiceKept.dataSync();
        for (let tok = 0; tok < 32; tok++) {
          assert.equal(kept[tok * 2], 1);
          assert.equal(kept[tok * 2 + 1], 1 - skips[tok * 2 + 1]!);
        }
        assert.ok(skips.some((v) => v === 1) && skips.some((v, i) => i % 2 === 1 && v === 0));
      });
      router.dispose();
    });

    it('should refuse causal decisions with a ConfigError naming secondExpertPolicy', () => {
      const router = new TokenChoiceRouter({ preset: 'gshard', dModel: 1, numExperts: 4 });
      assert.throws(
        () =>
          router.causal({
            mode: 'causal',
            capacity: CapacityPolicy.from({ dropless: true }),
            capacityLength: 8,
          }),
        configError('secondExpertPolicy'),
      );
      router.dispose();
    });
  });

  describe('when an option is out of range', () => {
    const cases: [string, Partial<TokenChoiceRouterConfig>][] = [
      ['preset', { preset: 'fairseq' as never }],
      ['biasUpdateRate', { biasUpdateRate: -1 }],
      ['sequenceBalanceCoefficient', { sequenceBalanceCoefficient: Number.NaN }],
      ['secondExpertPolicy', { secondExpertPolicy: 'random', topK: 1 }],
      ['secondExpertPolicy', { secondExpertPolicy: 'sampling' as never }],
      ['capacity.maxGroupSize', { capacity: { maxGroupSize: 8 } }],
      ['capacity.maxGroupSize', { capacity: { group: 'max-size' } }],
      ['capacity.strictGroupSize', { capacity: { strictGroupSize: true } }],
      ['noiseStd', { noiseStd: 1, noisyGating: true }],
      ['noiseStd', { noiseStd: -1 }],
      ['importanceGates', { importanceGates: 'some' as never }],
      ['loadCoefficient', { loadCoefficient: 1 }],
      ['expertGroups', { preset: 'deepseek-v3', numExperts: 6, expertGroups: 4 }],
      ['topK', { numExperts: 8, topK: 3, expertGroups: 4, topKGroups: 1 }],
      ['zLossCoefficient', { preset: 'deepseek-v3', zLossCoefficient: 1e-3 }],
    ];
    for (const [parameter, config] of cases) {
      it(`should throw a ConfigError naming ${parameter} for ${JSON.stringify(config)}`, () => {
        assert.throws(
          () => new TokenChoiceRouter({ dModel: 1, numExperts: 4, ...config }),
          configError(parameter),
        );
      });
    }
  });

  it('should route a preset router and dispose its plan', () => {
    const router = new TokenChoiceRouter({ preset: 'gshard', dModel: 2, numExperts: 4 });
    const x = tf.tensor3d([
      [
        [1, 2],
        [3, 4],
      ],
    ]);
    disposePlan(router.route(x, { training: true, rngSeed: 3 }));
    x.dispose();
    router.dispose();
  });
});
