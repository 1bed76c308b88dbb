// Framework presets of the token-choice router and the options they brought: each preset's
// settings (docs/routing.md "Framework presets"), MaxText's own generate_masks test vectors
// through the 'maxtext' preset, DeepSeek-V3's sequence-wise balance loss in closed form, GShard's
// random second expert, and the ConfigErrors of the new options. DeepSpeed's topkgating vectors
// run through the 'deepspeed' preset in tokenChoiceOptions.spec.ts; flaxformer's group layout in
// tokenGroups.spec.ts.
import assert from 'node:assert/strict';
import { ConfigError, tf } from '@moderoute/core';
import {
  CapacityPolicy,
  allGatesImportanceLoss,
  fixedNoiseLoadLoss,
  SECOND_EXPERT_STREAM,
  TOKEN_CHOICE_PRESETS,
  TokenChoiceRouter,
  disposePlan,
  secondExpertSkips,
  streamSeed,
  type TokenChoiceRouterConfig,
} from '@moderoute/routing';
import { expectClose, useBackend } from '@moderoute/testing';

const configError = (parameter: string) => (e: unknown) =>
  e instanceof ConfigError && e.parameter === parameter;

/** What each preset sets (docs/routing.md's table): placement, priority, weights, capacity. */
const TABLE: Record<string, [string, string, string, string]> = {
  switch: ['rank-major', 'position', 'none', 'max(round(f * n/E), 4)'],
  flaxformer: ['rank-major', 'position', 'none', 'max(round(f * n/E), 4)'],
  gshard: ['rank-major', 'position', 'before-drops', 'floor(f * n/E * K)'],
  vmoe: ['rank-major', 'score', 'none', 'roundUp(ceil(f * n/E * K), 4)'],
  deepspeed: ['rank-major', 'position', 'after-drops', 'max(ceil(f * n/E * K), 4)'],
  tutel: ['rank-major', 'position', 'before-drops', 'floor(f * ceil(n/E)) * K'],
  megablocks: ['token-major', 'position', 'none', 'floor(f * n/E * K)'],
  megatron: ['token-major', 'probs', 'before-drops', 'ceil(f * n/E * K)'],
  maxtext: ['token-major', 'position', 'before-drops', 'floor(f * ceil(n*K/E))'],
  'deepseek-v3': ['token-major', 'position', 'before-drops', 'max load (dropless)'],
};

describe('TokenChoiceRouter presets', () => {
  useBackend('wasm');

  describe('when a preset is named', () => {
    for (const preset of TOKEN_CHOICE_PRESETS) {
      it(`should set every option of '${preset}' as the docs' table says`, () => {
        const router = new TokenChoiceRouter({ preset, dModel: 2, numExperts: 8, topK: 2 });
        const c = router.getConfig();
        const [placement, priority, renormalize, formula] = TABLE[preset]!;
        assert.deepEqual(
          [c['placement'], c['priority'], c['renormalize']],
          [placement, priority, renormalize],
        );
        assert.equal(router.defaultCapacity.describe(), formula);
        assert.equal(c['preset'], preset);
        const again = new TokenChoiceRouter(JSON.parse(JSON.stringify(c)));
        assert.deepEqual(again.getConfig(), c);
        router.dispose();
        again.dispose();
      });
    }

    it("should follow DeepSpeed's gate for each K (top1gating, top2gating, topkgating)", () => {
      const of = (topK: number) => {
        const router = new TokenChoiceRouter({
          preset: 'deepspeed',
          dModel: 1,
          numExperts: 4,
          topK,
        });
        const { placement, priority, renormalize } = router.config;
        router.dispose();
        return [placement, priority, renormalize];
      };
      assert.deepEqual(of(1), ['rank-major', 'position', 'none']);
      assert.deepEqual(of(2), ['rank-major', 'position', 'after-drops']);
      assert.deepEqual(of(3), ['token-major', 'probs', 'after-drops']);
    });

    it('should let options given beside it override it', () => {
      const router = new TokenChoiceRouter({
        preset: 'deepspeed',
        dModel: 2,
        topK: 3,
        priority: 'position',
      });
      assert.equal(router.config.priority, 'position');
      assert.equal(router.config.placement, 'token-major');
      router.dispose();
    });

    it("should set DeepSeek-V3's scoring, bias and losses", () => {
      const router = new TokenChoiceRouter({
        preset: 'deepseek-v3',
        dModel: 2,
        numExperts: 8,
        topK: 2,
        expertGroups: 4,
        topKGroups: 2,
      });
      const c = router.config;
      assert.deepEqual(
        [c.scoreFunction, c.groupScore, c.routedScale, c.biasUpdateRate],
        ['sigmoid', 'top2-sum', 2.5, 1e-3],
      );
      assert.deepEqual(
        [c.loadBalancingCoefficient, c.sequenceBalanceCoefficient, c.zLossCoefficient],
        [0, 1e-4, 0],
      );
      assert.ok(router.selectionBias !== undefined);
      router.dispose();
    });
  });

  describe("preset 'deepseek-v3' (DeepSeek-V3 eq. 12-16, worked by hand)", () => {
    // No public test asserts DeepSeek-V3's routing; the golden follows the equations and the
    // reference Gate (inference/model.py): 4 groups of 2 experts, 2 groups kept, top-2, sigmoid
    // scores s, bias b on expert 6. Selection s + b = [.9, .1, .5, .45, .3, .8, .7, .6]: group
    // scores (sum of the top two) [1.0, .95, 1.1, 1.3] keep groups 3 and 2, whose best experts are
    // e5 (.8) and e6 (.7); e0 (.9, the best score) is outside them. Weights: unbiased s normalized
    // over the two, times 2.5: [.8, .2] / 1.0 * 2.5 = [2, .5]. Without the bias group 3 scores .8,
    // groups 2 and 0 are kept and the token takes e0 and e5, 2.5 [.9, .8] / 1.7.
    const s = [0.9, 0.1, 0.5, 0.45, 0.3, 0.8, 0.2, 0.6];
    const route = (bias: number[]) => {
      const router = new TokenChoiceRouter({
        preset: 'deepseek-v3',
        dModel: 1,
        numExperts: 8,
        topK: 2,
        expertGroups: 4,
        topKGroups: 2,
      });
      router.selectionBias!.assign(tf.tensor1d(bias));
      const out = tf.tidy(() => {
        const plan = router.routeScores(tf.tensor3d([[s]]), { given: 'scores' });
        return {
          experts: Array.from(plan.expertIndex.dataSync()),
          weights: Array.from(plan.combineWeights.dataSync()),
        };
      });
      router.dispose();
      return out;
    };

    it('should choose within the best groups of the biased scores and weigh by the unbiased ones', () => {
      const biased = route([0, 0, 0, 0, 0, 0, 0.5, 0]);
      assert.deepEqual(biased.experts, [5, 6]);
      expectClose(biased.weights, [2, 0.5]);
      const plain = route(new Array<number>(8).fill(0));
      assert.deepEqual(plain.experts, [0, 5]);
      expectClose(plain.weights, [(2.5 * 0.9) / 1.7, (2.5 * 0.8) / 1.7]);
    });
  });

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

    it('should add fixed noise, the importance and the load losses in training, and neither noise nor load loss in evaluation', () => {
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

  describe("preset 'maxtext' on MaxText's generate_masks test vectors", () => {
    // google/maxtext MaxText/tests/moe_test.py at e64f6813e0e22b57395f070741d24948029a59ba,
    // test_generate_masks: 4 sequences of 4 tokens, 8 experts, top-2, capacity_factor 2
    // (capacity 2 per sequence); the given weights and the asserted combine mask entries
    // (sequence, token, expert, slot, weight).
    const weights = [
      [
        [0, 0.2, 5, 0.8],
        [0, 0.68, 4, 0.32],
        [1, 0.78, 0, 0.22],
        [3, 0.32, 5, 0.68],
      ],
      [
        [1, 0.26, 2, 0.74],
        [1, 0.79, 4, 0.21],
        [0, 0.89, 5, 0.11],
        [1, 0.11, 7, 0.89],
      ],
      [
        [2, 0.26, 6, 0.74],
        [2, 0.88, 3, 0.12],
        [2, 0.17, 4, 0.83],
        [1, 0.35, 2, 0.65],
      ],
      [
        [1, 0.47, 4, 0.53],
        [0, 0.36, 7, 0.64],
        [0, 0.15, 5, 0.85],
        [4, 0.18, 7, 0.82],
      ],
    ];
    const expected = [
      [0, 0, 0, 0, 0.2],
      [0, 0, 5, 0, 0.8],
      [0, 1, 0, 1, 0.68],
      [0, 1, 4, 0, 0.32],
      [0, 2, 1, 0, 0.78],
      [0, 3, 3, 0, 0.32],
      [0, 3, 5, 1, 0.68],
      [1, 0, 1, 0, 0.26],
      [1, 0, 2, 0, 0.74],
      [1, 1, 1, 1, 0.79],
      [1, 1, 4, 0, 0.21],
      [1, 2, 0, 0, 0.89],
      [1, 2, 5, 0, 0.11],
      [1, 3, 7, 0, 0.89],
      [2, 0, 2, 0, 0.26],
      [2, 0, 6, 0, 0.74],
      [2, 1, 2, 1, 0.88],
      [2, 1, 3, 0, 0.12],
      [2, 2, 4, 0, 0.83],
      [2, 3, 1, 0, 0.35],
      [3, 0, 1, 0, 0.47],
      [3, 0, 4, 0, 0.53],
      [3, 1, 0, 0, 0.36],
      [3, 1, 7, 0, 0.64],
      [3, 2, 0, 1, 0.15],
      [3, 2, 5, 0, 0.85],
      [3, 3, 4, 1, 0.18],
      [3, 3, 7, 1, 0.82],
    ];

    it('should keep and weigh the same assignments as MaxText asserts', () => {
      const probs = weights.map((row) =>
        row.map(([e1, w1, e2, w2]) =>
          Array.from({ length: 8 }, (_, e) => (e === e1 ? w1! : e === e2 ? w2! : 0)),
        ),
      );
      const router = new TokenChoiceRouter({
        preset: 'maxtext',
        dModel: 1,
        numExperts: 8,
        topK: 2,
        capacity: { preset: 'maxtext', trainFactor: 2, evalFactor: 2 },
      });
      tf.tidy(() => {
        const plan = router.routeScores(tf.tensor3d(probs), { given: 'scores' });
        assert.equal(plan.capacity, 2);
        const t = plan.tokenIndex.dataSync();
        const e = plan.expertIndex.dataSync();
        const s = plan.slotIndex.dataSync();
        const w = plan.combineWeights.dataSync();
        const entries = Array.from(t, (tok, n) => [
          Math.floor(tok / 4),
          tok % 4,
          e[n]!,
          s[n]!,
          w[n]!,
        ]);
        entries.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!);
        assert.deepEqual(
          entries.map((x) => x.slice(0, 4)),
          expected.map((x) => x.slice(0, 4)),
        );
        expectClose(
          entries.map((x) => x[4]!),
          expected.map((x) => x[4]!),
        );
      });
      router.dispose();
    });
  });

  describe('sequenceBalanceCoefficient (DeepSeek-V3 eq. 17-20)', () => {
    it('should be alpha * mean over sequences of sum_i f_i P_i, per sequence whatever the capacity groups (closed form)', () => {
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
