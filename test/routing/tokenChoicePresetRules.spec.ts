// The rules that close the framework presets' gaps (docs/routing.md "Framework presets"), each
// checked against its system's equations: GShard's and Tutel's load-balancing loss over first
// choices, Megatron's 'probs' drops ranked by the normalized top-K probabilities, DeepSpeed's
// random token selection (use_rts) and sampled second expert (top2_2nd_expert_sampling), and the
// presets that use them; the ConfigErrors of the new options.
import assert from 'node:assert/strict';
import { ConfigError, tf } from '@moderoute/core';
import {
  CapacityPolicy,
  PRIORITY_STREAM,
  SECOND_EXPERT_STREAM,
  TokenChoiceRouter,
  sampleSecondExperts,
  streamSeed,
  type TokenChoiceRouterConfig,
} from '@moderoute/routing';
import { expectClose, useBackend } from '@moderoute/testing';

const configError = (parameter: string) => (e: unknown) =>
  e instanceof ConfigError && e.parameter === parameter;

/** Routes given probabilities float32[1, T, E] and returns the plan's host values. */
function routeProbs(config: TokenChoiceRouterConfig, probs: number[][], rngSeed = 1) {
  const router = new TokenChoiceRouter({ zLossCoefficient: 0, ...config });
  const result = tf.tidy(() => {
    const plan = router.routeScores(tf.tensor3d([probs]), { given: 'scores', rngSeed });
    return {
      choices: Array.from(plan.choices.dataSync()),
      kept: Array.from(plan.choiceKept.dataSync()),
      loss: plan.auxLosses['loadBalancing']?.dataSync()[0],
    };
  });
  router.dispose();
  return result;
}

describe('TokenChoiceRouter rules of the presets (gaps closed)', () => {
  useBackend('wasm');

  describe("loadBalancingChoices 'first' (GShard Algorithm 1, Tutel gshard_loss)", () => {
    // p rows; first choices e0, e1; second choices e1, e2. m = mean gate = (.4, .4, .2).
    const probs = [
      [0.6, 0.3, 0.1],
      [0.2, 0.5, 0.3],
    ];
    const base = { dModel: 1, numExperts: 3, topK: 2, capacity: { dropless: true } } as const;

    it('should count first choices only: alpha E sum_e (c_e / S) m_e (golden)', () => {
      // c / S = (.5, .5, 0): 1e-2 * 3 * (.5 * .4 + .5 * .4) = 0.012.
      const first = routeProbs({ ...base, loadBalancingChoices: 'first' }, probs).loss!;
      expectClose(first, 0.012, { rtol: 1e-5, atol: 1e-8 });
      // Every (token, choice) pair: f = (.25, .5, .25): 1e-2 * 3 * .35 = 0.0105.
      expectClose(routeProbs(base, probs).loss!, 0.0105, { rtol: 1e-5, atol: 1e-8 });
    });

    it('should be what the gshard and tutel presets and DeepSpeed top-2 use', () => {
      for (const preset of ['gshard', 'tutel', 'deepspeed'] as const) {
        const router = new TokenChoiceRouter({ preset, dModel: 1, numExperts: 4, topK: 2 });
        assert.equal(router.config.loadBalancingChoices, 'first', preset);
        router.dispose();
      }
      const topk = new TokenChoiceRouter({
        preset: 'deepspeed',
        dModel: 1,
        numExperts: 4,
        topK: 3,
      });
      assert.equal(topk.config.loadBalancingChoices, 'all');
      topk.dispose();
    });
  });

  describe("probsRanking 'weights' (Megatron-Core topk_softmax_with_capacity)", () => {
    // A chooses e0 (.5), e1 (.4): normalized e1 = .4 / .9 = .444; B chooses e1 (.35), e2 (.33):
    // normalized e1 = .35 / .68 = .515. Capacity 1: by p, A keeps e1; normalized, B keeps it.
    const probs = [
      [0.5, 0.4, 0.1],
      [0.32, 0.35, 0.33],
    ];
    const capacity = {
      trainFactor: 0.75,
      evalFactor: 0.75,
      rounding: 'ceil',
      minimum: 0,
      scaleByK: true,
      group: 'batch',
    } as const;
    const config = { dModel: 1, numExperts: 3, topK: 2, capacity } as const;

    it('should rank the assignments of an expert by p / sum over the K choices (golden)', () => {
      const megatron = routeProbs({ ...config, preset: 'megatron' }, probs);
      assert.deepEqual(megatron.choices, [0, 1, 1, 2]);
      assert.deepEqual(megatron.kept, [1, 0, 1, 1]);
      const byScore = routeProbs({ ...config, preset: 'megatron', probsRanking: 'scores' }, probs);
      assert.deepEqual(byScore.kept, [1, 1, 0, 1]);
    });

    it("should be the megatron preset's, with Megatron's default aux loss coefficient 0", () => {
      const router = new TokenChoiceRouter({
        preset: 'megatron',
        dModel: 1,
        numExperts: 4,
        topK: 2,
      });
      assert.equal(router.config.probsRanking, 'weights');
      assert.equal(router.config.loadBalancingCoefficient, 0);
      router.dispose();
    });
  });

  describe("priority 'random' (DeepSpeed top1gating use_rts)", () => {
    const probs = Array.from({ length: 8 }, (_, i) => [0.6 + i * 0.01, 0.4 - i * 0.01]);
    const config = {
      dModel: 1,
      numExperts: 2,
      priority: 'random',
      capacity: { trainFactor: 0.5, evalFactor: 0.5, minimum: 1, group: 'batch' },
    } as const;

    it("should keep each expert's C choices with the highest U(0, 1) draws of the call's seed", () => {
      // Every token chooses e0; C = round(.5 * 8 / 2) = 2 keep it.
      const draws = Array.from(
        tf.tidy(() =>
          tf.randomUniform([8], 0, 1, 'float32', streamSeed(5, 0, PRIORITY_STREAM)).dataSync(),
        ),
      );
      const winners = draws
        .map((d, i) => [d, i] as const)
        .sort((a, b) => b[0] - a[0])
        .slice(0, 2)
        .map(([, i]) => i);
      const { kept } = routeProbs(
        { ...config, capacity: { ...config.capacity, preset: 'switch' } },
        probs,
        5,
      );
      assert.deepEqual(
        kept,
        draws.map((_, i) => (winners.includes(i) ? 1 : 0)),
      );
      assert.notDeepEqual(kept, [1, 1, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(
        routeProbs({ ...config, capacity: { ...config.capacity, preset: 'switch' } }, probs, 5)
          .kept,
        kept,
      );
    });

    it("should be DeepSpeed's top-1 preset and declare no causal rule", () => {
      const router = new TokenChoiceRouter({ preset: 'deepspeed', dModel: 1, numExperts: 4 });
      assert.equal(router.config.priority, 'random');
      assert.deepEqual(router.describe().causalModes, []);
      const capacity = CapacityPolicy.from({ dropless: true });
      assert.throws(
        () => router.causal({ mode: 'causal', capacity, capacityLength: 8 }),
        configError('priority'),
      );
      router.dispose();
    });
  });

  describe("secondExpertPolicy 'sampled' (DeepSpeed top2gating top2_2nd_expert_sampling)", () => {
    it('should take the second expert as argmax of log p + Gumbel over the others (golden)', () => {
      // log .3 = -1.204 < log .2 + 1 = -0.609: the noise moves the second choice to e2.
      const choices = Int32Array.from([0, 1]);
      sampleSecondExperts([0.5, 0.3, 0.2], choices, Float32Array.from([5, 0, 1]), 3);
      assert.deepEqual(Array.from(choices), [0, 2]);
    });

    it("should draw the Gumbel noise from the call's seed (the deepspeed top-2 preset)", () => {
      const probs = Array.from({ length: 16 }, (_, i) => [
        0.4,
        0.3 - i * 0.01,
        0.2,
        0.1 + i * 0.01,
      ]);
      const config = {
        preset: 'deepspeed',
        dModel: 1,
        numExperts: 4,
        topK: 2,
        capacity: { dropless: true },
      } as const;
      const { choices } = routeProbs(config, probs, 9);
      const gumbel = tf.tidy(() =>
        tf
          .randomUniform([64], 1e-20, 1, 'float32', streamSeed(9, 0, SECOND_EXPERT_STREAM))
          .dataSync()
          .map((u) => -Math.log(-Math.log(u))),
      ) as Float32Array;
      const expected = Int32Array.from(choices.map((c, i) => (i % 2 === 0 ? c : 0)));
      sampleSecondExperts(probs.flat(), expected, gumbel, 4);
      assert.deepEqual(choices, Array.from(expected));
      assert.ok(choices.every((c, i) => i % 2 === 1 || c === 0));
      assert.ok(
        choices.some((c, i) => i % 2 === 1 && c !== 1),
        'the noise changed no second choice',
      );
    });
  });

  it("should set V-MoE's paper configuration (vmoe_paper/common.py): capacity factor 1.05, no batch priority", () => {
    const router = new TokenChoiceRouter({ preset: 'vmoe', dModel: 1, numExperts: 8, topK: 2 });
    const { trainFactor, evalFactor } = router.defaultCapacity.config;
    assert.deepEqual([trainFactor, evalFactor, router.config.priority], [1.05, 1.05, 'position']);
    assert.deepEqual(
      [router.config.importanceCoefficient, router.config.loadCoefficient],
      [5e-3, 5e-3],
    );
    assert.equal(router.config.noiseStd, 1);
    router.dispose();
  });

  describe('when a new option is out of range', () => {
    const cases: [string, Partial<TokenChoiceRouterConfig>][] = [
      ['loadBalancingChoices', { loadBalancingChoices: 'second' as never }],
      ['probsRanking', { probsRanking: 'logits' as never }],
      ['secondExpertPolicy', { secondExpertPolicy: 'sampled', topK: 1 }],
      [
        'secondExpertPolicy',
        { secondExpertPolicy: 'sampled', topK: 2, scoreFunction: 'sigmoid', zLossCoefficient: 0 },
      ],
      ['secondExpertPolicy', { secondExpertPolicy: 'sampled', topK: 2, expertGroups: 2 }],
      ['priority', { priority: 'lottery' as never }],
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
});
