// The token-choice options on scores: sigmoid scores with group-limited top-k (DeepSeek-V2/V3)
// and routing from given logits or scores (routeScores). Golden values are worked by hand from
// the rules (docs/routing.md).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tf, type Tensor3D } from '@moderoute/core';
import {
  TokenChoiceRouter,
  chooseExperts,
  disposePlan,
  type TokenChoicePlan,
} from '@moderoute/routing';
import { expectClose, expectNoLeaks, forEachBackend } from '@moderoute/testing';

// The golden problem (goldenProblem.ts): logits [[1,0,0], [0,1,0], [1,1,0], [2,0,0]], top-2,
// capacity 2 per expert.

const tokens = (plan: TokenChoicePlan) => Array.from(plan.tokenIndex.dataSync());
const experts = (plan: TokenChoicePlan) => Array.from(plan.expertIndex.dataSync());

describe('TokenChoiceRouter options', () => {
  forEachBackend(() => {
    describe("scoreFunction 'sigmoid' with group-limited top-k (DeepSeek-V2/V3)", () => {
      // D = E = 4, W = I: logits = x. Groups {e0, e1} and {e2, e3}; one group per token, top-2.
      const x = [[[3, -5, 2, 2]]];
      const make = (extra: Record<string, unknown>) => {
        const router = new TokenChoiceRouter({
          dModel: 4,
          numExperts: 4,
          topK: 2,
          scoreFunction: 'sigmoid',
          capacity: { dropless: true },
          ...extra,
        });
        router.weight.assign(tf.eye(4));
        return router;
      };
      const sig = (z: number) => 1 / (1 + Math.exp(-z));

      for (const [groupScore, chosen] of [
        ['top2-sum', [2, 3]],
        ['max', [0, 1]],
      ] as const) {
        it(`should choose inside the best group by '${groupScore}' (golden)`, () => {
          // top2-sum: group 0 scores s(3) + s(-5) = 0.960, group 1 scores 2 s(2) = 1.762;
          // max: s(3) = 0.953 beats s(2) = 0.881.
          const router = make({
            expertGroups: 2,
            topKGroups: 1,
            groupScore,
            renormalize: 'before-drops',
          });
          tf.tidy(() => {
            const plan = router.route(tf.tensor3d(x));
            assert.deepEqual(plan.choices.arraySync(), [[chosen]]);
            const s = chosen.map((ex) => sig(x[0]![0]![ex]!));
            expectClose(
              plan.combineWeights,
              s.map((v) => v / (s[0]! + s[1]!)),
            );
          });
          router.dispose();
        });
      }

      it('should choose the plain top-K without groups, and weigh by the sigmoid scores', () => {
        const router = make({});
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(x));
          assert.deepEqual(plan.choices.arraySync(), [[[0, 2]]]);
          expectClose(plan.combineWeights, [sig(3), sig(2)]);
          assert.equal(plan.auxLosses['zLoss'], undefined, 'no z-loss with sigmoid scores');
        });
        router.dispose();
      });

      it('should never pick an expert outside the kept groups (property)', () => {
        fc.assert(
          fc.property(
            fc.constantFrom(
              [4, 2, 1, 2, 'max'],
              [8, 4, 2, 3, 'top2-sum'],
              [8, 2, 1, 4, 'top2-sum'],
              [6, 3, 2, 2, 'max'],
            ),
            fc.array(fc.float({ min: -5, max: 5, noNaN: true }), {
              minLength: 8 * 5,
              maxLength: 8 * 5,
            }),
            ([numExperts, count, keep, topK, score], values) => {
              const tokens = 5;
              const scores = values.slice(0, tokens * (numExperts as number));
              const rule = {
                count: count as number,
                keep: keep as number,
                score: score as 'max' | 'top2-sum',
              };
              const choices = chooseExperts(
                scores,
                tokens,
                numExperts as number,
                topK as number,
                rule,
              );
              const per = (numExperts as number) / rule.count;
              for (let tok = 0; tok < tokens; tok++) {
                const s = (ex: number) => scores[tok * (numExperts as number) + ex]!;
                const groupScore = (g: number) => {
                  const v = Array.from({ length: per }, (_, i) => s(g * per + i)).sort(
                    (a, b) => b - a,
                  );
                  return rule.score === 'max' ? v[0]! : v[0]! + v[1]!;
                };
                const ranked = Array.from({ length: rule.count }, (_, g) => g).sort((a, b) =>
                  groupScore(b) === groupScore(a) ? a - b : groupScore(b) - groupScore(a),
                );
                const allowed = new Set(ranked.slice(0, rule.keep));
                const mine = Array.from(
                  choices.subarray(tok * (topK as number), (tok + 1) * (topK as number)),
                );
                assert.equal(new Set(mine).size, topK, 'distinct experts');
                for (const ex of mine)
                  assert.ok(
                    allowed.has(Math.floor(ex / per)),
                    `token ${tok}: expert ${ex} is outside the kept groups ${[...allowed]}`,
                  );
                // And they are the best K of the allowed experts.
                const best = Array.from({ length: numExperts as number }, (_, ex) => ex)
                  .filter((ex) => allowed.has(Math.floor(ex / per)))
                  .sort((a, b) => (s(b) === s(a) ? a - b : s(b) - s(a)))
                  .slice(0, topK as number);
                assert.deepEqual(mine, best);
              }
            },
          ),
          { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 100) },
        );
      });

      it('should balance over the sigmoid scores normalized per token (DeepSeek-V3 eq. 17-20)', () => {
        const router = make({ loadBalancingCoefficient: 1e-2 });
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(x));
          const s = x[0]![0]!.map(sig);
          const norm = s.map((v) => v / s.reduce((a, b) => a + b, 0));
          // One token chose e0 and e2: f = [1, 0, 1, 0] / (1 * 2); loss = alpha * E * sum f_i P_i.
          expectClose(plan.auxLosses['loadBalancing']!, [1e-2 * 4 * 0.5 * (norm[0]! + norm[2]!)]);
        });
        router.dispose();
      });
    });

    describe('.routeScores', () => {
      it('should give route()’s plan when given the logits x W, for any option set (property)', () => {
        fc.assert(
          fc.property(
            fc.record({
              b: fc.integer({ min: 1, max: 3 }),
              t: fc.integer({ min: 1, max: 6 }),
              topK: fc.integer({ min: 1, max: 2 }),
              placement: fc.constantFrom('rank-major', 'token-major'),
              priority: fc.constantFrom('position', 'score', 'probs'),
              renormalize: fc.constantFrom('none', 'before-drops', 'after-drops'),
              scoreFunction: fc.constantFrom('softmax', 'sigmoid'),
              seed: fc.integer({ min: 0, max: 1000 }),
            }),
            ({ b, t, seed, ...options }) => {
              const router = new TokenChoiceRouter({
                dModel: 3,
                numExperts: 4,
                capacity: { trainFactor: 1, evalFactor: 1, minimum: 1 },
                seed,
                loadBalancingCoefficient: 1e-2,
                ...(options.scoreFunction === 'sigmoid' ? { zLossCoefficient: 0 } : {}),
                ...(options as Record<string, unknown>),
              });
              tf.tidy(() => {
                const x = tf.randomNormal([b, t, 3], 0, 1, 'float32', seed) as Tensor3D;
                const a = router.route(x);
                const logits = tf.reshape(tf.matMul(tf.reshape(x, [b * t, 3]), router.weight), [
                  b,
                  t,
                  4,
                ]) as Tensor3D;
                const c = router.routeScores(logits);
                assert.deepEqual(tokens(c), tokens(a));
                assert.deepEqual(experts(c), experts(a));
                assert.deepEqual(
                  Array.from(c.slotIndex.dataSync()),
                  Array.from(a.slotIndex.dataSync()),
                );
                expectClose(c.combineWeights, a.combineWeights.dataSync(), {
                  rtol: 1e-5,
                  atol: 1e-6,
                });
                for (const name of Object.keys(a.auxLosses))
                  expectClose(c.auxLosses[name]!, a.auxLosses[name]!.dataSync(), {
                    rtol: 1e-5,
                    atol: 1e-7,
                  });
              });
              router.dispose();
            },
          ),
          { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 40) },
        );
      });

      it('should take given probabilities, send gradients into them, and leak nothing', () => {
        const router = new TokenChoiceRouter({
          dModel: 2,
          numExperts: 3,
          topK: 1,
          zLossCoefficient: 0,
          capacity: { dropless: true },
        });
        const probs = tf.tensor3d([
          [
            [0.7, 0.2, 0.1],
            [0.1, 0.3, 0.6],
          ],
        ]);
        tf.tidy(() => {
          const plan = router.routeScores(probs, { given: 'scores' });
          assert.deepEqual(plan.choices.arraySync(), [[[0], [2]]]);
          expectClose(plan.combineWeights, [0.7, 0.6]);
          assert.equal(plan.routerLogits, undefined);
          const grad = tf.grad((p) =>
            tf.sum(router.routeScores(p as Tensor3D, { given: 'scores' }).combineWeights),
          )(probs);
          expectClose(grad, [1, 0, 0, 0, 0, 1]);
        });
        expectNoLeaks(
          () => disposePlan(router.routeScores(probs, { given: 'scores' })),
          'routeScores',
        );
        tf.dispose(probs);
        router.dispose();
      });

      it('should run the example of docs/routing.md', () => {
        const router = new TokenChoiceRouter({
          dModel: 1,
          numExperts: 3,
          topK: 2,
          placement: 'token-major',
          renormalize: 'after-drops',
          capacity: { dropless: true },
        });
        const logits = tf.tensor3d([
          [
            [2, 1, 0],
            [0, 3, 1],
          ],
        ]);
        const plan = router.routeScores(logits);
        // Token 0 -> experts 0 and 1, token 1 -> experts 1 and 2 (assignments in expert order).
        assert.deepEqual(Array.from(plan.expertIndex.dataSync()), [0, 1, 1, 2]);
        assert.deepEqual(Array.from(plan.tokenIndex.dataSync()), [0, 0, 1, 1]);
        disposePlan(plan);
        logits.dispose();
        router.dispose();
      });

      it('should refuse scores of the wrong shape, naming numExperts', () => {
        const router = new TokenChoiceRouter({ dModel: 2, numExperts: 3 });
        const bad = tf.zeros([1, 2, 4]) as Tensor3D;
        assert.throws(
          () => router.routeScores(bad),
          /scores .*float32\[1, 2, 4\].* must be float32\[B, T, 3\] \(numExperts is 3\)/,
        );
        tf.dispose(bad);
        router.dispose();
      });
    });
  });
});
