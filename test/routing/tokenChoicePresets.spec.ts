// Framework presets of the token-choice router: each preset's settings (docs/routing.md
// "Framework presets"), and goldens from the systems' own test suites: MaxText's generate_masks
// vectors through the 'maxtext' preset and DeepSeek-V3's group-limited selection with its bias
// worked from the equations; V-MoE's asserted losses are in tokenChoicePresetOptions.spec.ts. DeepSpeed's topkgating vectors run through
// the 'deepspeed' preset in tokenChoiceOptions.spec.ts; flaxformer's group layout in
// tokenGroups.spec.ts; the options' own tests in tokenChoicePresetOptions.spec.ts.
import assert from 'node:assert/strict';
import { tf } from '@moderoute/core';
import { TOKEN_CHOICE_PRESETS, TokenChoiceRouter } from '@moderoute/routing';
import { expectClose, useBackend } from '@moderoute/testing';

/** What each preset sets (docs/routing.md's table): placement, priority, weights, capacity. */
const TABLE: Record<string, [string, string, string, string]> = {
  switch: ['rank-major', 'position', 'none', 'max(round(f * n/E), 4)'],
  flaxformer: ['rank-major', 'position', 'none', 'max(round(f * n/E), 4)'],
  gshard: ['rank-major', 'position', 'before-drops', 'floor(f * n/E * K)'],
  vmoe: ['rank-major', 'position', 'none', 'roundUp(ceil(f * n/E * K), 4)'],
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
      assert.deepEqual(of(1), ['rank-major', 'random', 'none']);
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
});
