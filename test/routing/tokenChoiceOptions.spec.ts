// The token-choice options that reproduce other frameworks' routing: placement order, drop
// policy, normalization after drops, sigmoid scores, group-limited top-k, the importance loss,
// and routing from given scores. Golden values are worked by hand from the rules (docs/routing.md).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tf, type Tensor3D } from '@moderoute/core';
import {
  TokenChoiceRouter,
  chooseExperts,
  disposePlan,
  type TokenChoicePlan,
  metricsOf,
} from '@moderoute/routing';
import { expectClose, expectNoLeaks, forEachBackend } from '@moderoute/testing';
import { P, X, W, golden } from './goldenProblem.js';

// The golden problem (goldenProblem.ts): logits [[1,0,0], [0,1,0], [1,1,0], [2,0,0]], top-2,
// capacity 2 per expert.

const kept = (plan: TokenChoicePlan) => plan.choiceKept.arraySync();
const tokens = (plan: TokenChoicePlan) => Array.from(plan.tokenIndex.dataSync());
const experts = (plan: TokenChoicePlan) => Array.from(plan.expertIndex.dataSync());

describe('TokenChoiceRouter options', () => {
  forEachBackend(() => {
    describe("placement 'token-major' (DeepSpeed topkgating, MaxText generate_masks)", () => {
      it('should let each token place all its choices before the next token places any (golden)', () => {
        const router = golden({ placement: 'token-major' });
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // t0 takes e0 and e1, t1 takes e1 and e0: both experts are full for t2 and t3.
          assert.deepEqual(kept(plan), [
            [
              [1, 1],
              [1, 1],
              [0, 0],
              [0, 0],
            ],
          ]);
          assert.deepEqual(tokens(plan), [0, 1, 0, 1]);
          assert.deepEqual(experts(plan), [0, 0, 1, 1]);
          expectClose(plan.combineWeights, [P[0]![0]!, P[1]![0]!, P[0]![1]!, P[1]![1]!]);
          assert.equal(metricsOf(plan.counts).droppedFraction, 4 / 8);
        });
        router.dispose();
      });
    });

    describe("priority 'probs' (DeepSpeed drop_policy='probs')", () => {
      it('should keep, per expert, the assignments with the highest probabilities, in position order (golden)', () => {
        const router = golden({ priority: 'probs' });
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // e0 is wanted by t0 (p 0.576), t1 (0.212), t2 (0.422), t3 (0.787): keeps t3 and t0.
          // e1 is wanted by t0 (0.212), t1 (0.576), t2 (0.422), t3 (0.106): keeps t1 and t2.
          assert.deepEqual(kept(plan), [
            [
              [1, 0],
              [1, 0],
              [0, 1],
              [1, 0],
            ],
          ]);
          assert.deepEqual(tokens(plan), [0, 3, 1, 2]);
          assert.deepEqual(experts(plan), [0, 0, 1, 1]);
        });
        router.dispose();
      });
    });

    describe("DeepSpeed's topkgating test vectors", () => {
      // deepspeedai/DeepSpeed tests/unit/moe/test_moe.py (commit 0c691a52a6e00461dfd59eff07a840aaecb30d89),
      // TestTopkGate.test: logits, k, capacity factor 1 and min_capacity 1, and the asserted
      // (token, expert, slot) entries of the dispatch mask, for drop_policy 'probs' and 'position'.
      // (Older DeepSpeed ranked 'probs' by the top-k logits and asserted other entries for case 2.)
      // DeepSpeed's topkgating: softmax, top-k, capacity ceil(S / E * f * k) over the whole input,
      // token-major placement, weights normalized over the kept choices.
      const cases = [
        {
          logits: [
            [0.11, 0.2, 0.1, 0.3],
            [0.3, 0.4, 0.11, 0.1],
            [0.11, 0.1, 0.6, 0.5],
            [0.1, 0.11, 0.7, 0.8],
          ],
          k: 2,
          probs: [
            [0, 1, 0],
            [1, 0, 0],
            [1, 1, 1],
            [2, 2, 0],
            [2, 3, 0],
            [3, 2, 1],
            [3, 3, 1],
          ],
          position: [
            [0, 1, 0],
            [0, 3, 0],
            [1, 0, 0],
            [1, 1, 1],
            [2, 2, 0],
            [2, 3, 1],
            [3, 2, 1],
          ],
        },
        {
          logits: [
            [0.5858, 0.4801, 0.6269, 0.5397, 0.9722, 0.7034],
            [0.5445, 0.6332, 0.4519, 0.6308, 0.0519, 0.645],
            [0.4874, 0.811, 0.7467, 0.8474, 0.0277, 0.3068],
            [0.857, 0.6714, 0.531, 0.3274, 0.4836, 0.9892],
          ],
          k: 3,
          probs: [
            [0, 2, 0],
            [0, 4, 0],
            [1, 1, 0],
            [1, 3, 0],
            [1, 5, 0],
            [2, 1, 1],
            [2, 2, 1],
            [2, 3, 1],
            [3, 0, 0],
            [3, 5, 1],
          ],
          position: [
            [0, 2, 0],
            [0, 4, 0],
            [0, 5, 0],
            [1, 1, 0],
            [1, 3, 0],
            [1, 5, 1],
            [2, 1, 1],
            [2, 2, 1],
            [2, 3, 1],
            [3, 0, 0],
          ],
        },
      ];
      for (const [i, c] of cases.entries()) {
        for (const priority of ['probs', 'position'] as const) {
          it(`should dispatch case ${i + 1} (top-${c.k}, drop_policy '${priority}') as DeepSpeed asserts`, () => {
            const e = c.logits[0]!.length;
            const router = new TokenChoiceRouter({
              dModel: 1,
              numExperts: e,
              topK: c.k,
              placement: 'token-major',
              priority,
              renormalize: 'after-drops',
              capacity: { preset: 'deepspeed', minimum: 1, group: 'batch' },
            });
            tf.tidy(() => {
              const plan = router.routeScores(tf.tensor3d([c.logits]));
              assert.equal(plan.capacity, Math.ceil((4 / e) * c.k));
              const t = tokens(plan);
              const x = experts(plan);
              const slots = Array.from(plan.slotIndex.dataSync());
              const entries = t
                .map((tok, n) => [tok, x[n]!, slots[n]!])
                .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
              assert.deepEqual(entries, c[priority]);
              // Weights: each token's kept probabilities, normalized over what it kept.
              const weights = plan.combineWeights.dataSync();
              const probs = c.logits.map((row) =>
                row.map((v) => Math.exp(v) / row.reduce((a, u) => a + Math.exp(u), 0)),
              );
              t.forEach((tok, n) => {
                const keptExperts = t
                  .map((u, j) => (u === tok ? x[j]! : -1))
                  .filter((ex) => ex >= 0);
                const expected =
                  probs[tok]![x[n]!]! / keptExperts.reduce((a, ex) => a + probs[tok]![ex]!, 0);
                assert.ok(
                  Math.abs(weights[n]! - expected) < 1e-5,
                  `weight of (${tok}, ${x[n]}): ${weights[n]} vs ${expected}`,
                );
              });
            });
            router.dispose();
          });
        }
      }
    });

    describe("renormalize 'after-drops' (DeepSpeed topkgating)", () => {
      it('should divide by the sum over the choices kept, so a token with one kept choice weighs 1 (golden)', () => {
        const router = golden({ priority: 'probs', renormalize: 'after-drops', routedScale: 2.5 });
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // Every token kept exactly one choice: its weight is 1, times the routed scale.
          expectClose(plan.combineWeights, [2.5, 2.5, 2.5, 2.5]);
          assert.deepEqual(router.combineWeightRange, [0, 2.5]);
        });
        router.dispose();
      });

      it('should equal before-drops normalization when nothing is dropped', () => {
        const a = golden({ renormalize: 'after-drops', capacity: { dropless: true } });
        const b = golden({ renormalize: 'before-drops', capacity: { dropless: true } });
        tf.tidy(() =>
          expectClose(
            a.route(tf.tensor3d(X)).combineWeights,
            b.route(tf.tensor3d(X)).combineWeights.dataSync(),
          ),
        );
        a.dispose();
        b.dispose();
      });
    });

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

    describe('importanceCoefficient (Shazeer et al. 2017, eq. 6)', () => {
      it('should be w * CV^2 of the per-expert sums of chosen gates (golden)', () => {
        const router = golden({ importanceCoefficient: 0.1, capacity: { dropless: true } });
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // Choices: t0 {0,1}, t1 {1,0}, t2 {0,1}, t3 {0,1}: expert 2 is never chosen.
          const imp = [0, 1, 2].map((j) => (j === 2 ? 0 : P.reduce((a, row) => a + row[j]!, 0)));
          const mean = imp.reduce((a, b) => a + b, 0) / 3;
          const variance = imp.reduce((a, v) => a + (v - mean) ** 2, 0) / 3;
          expectClose(plan.auxLosses['importance']!, [(0.1 * variance) / (mean * mean + 1e-10)]);
        });
        router.dispose();
      });
    });

    describe('noisyGating and loadCoefficient (Shazeer et al. 2017, eq. 4 and 8-10)', () => {
      const make = () => {
        const router = new TokenChoiceRouter({
          dModel: 2,
          numExperts: 3,
          topK: 1,
          noisyGating: true,
          loadCoefficient: 0.1,
          renormalize: true,
          capacity: { dropless: true },
          seed: 5,
        });
        router.weight.assign(tf.tensor2d(W));
        return router;
      };
      const phi = (z: number) => {
        // Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7: enough for a 1e-4 check.
        const x = Math.abs(z) / Math.SQRT2;
        const t = 1 / (1 + 0.3275911 * x);
        const erf =
          1 -
          ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t +
            0.254829592) *
            t *
            Math.exp(-x * x);
        return 0.5 * (1 + Math.sign(z) * erf);
      };

      it(
        "should add noise to the logits in training only, keyed by the call's rngSeed, " +
          'and learn W_noise from zero',
        () => {
          const router = make();
          const again = make();
          tf.tidy(() => {
            const x = tf.tensor3d(X);
            const clean = [
              [1, 0, 0],
              [0, 1, 0],
              [1, 1, 0],
              [2, 0, 0],
            ].flat();
            expectClose(router.route(x).routerLogits!, clean, { rtol: 0, atol: 1e-6 });
            const a = Array.from(router.route(x, { training: true }).routerLogits!.dataSync());
            const b = Array.from(again.route(x, { training: true }).routerLogits!.dataSync());
            assert.deepEqual(a, b, 'same seed, same noise');
            assert.ok(
              a.some((v, i) => Math.abs(v - clean[i]!) > 1e-3),
              'training logits are noisy',
            );
            // No call counter: without an rngSeed every call draws the router's own noise.
            const again2 = Array.from(router.route(x, { training: true }).routerLogits!.dataSync());
            assert.deepEqual(again2, a, 'the same noise every call without an rngSeed');
            const keyed = (rngSeed: number) =>
              Array.from(router.route(x, { training: true, rngSeed }).routerLogits!.dataSync());
            assert.deepEqual(keyed(7), keyed(7), 'the same rngSeed, the same noise');
            assert.notDeepEqual(keyed(8), keyed(7), 'another rngSeed, other noise');
          });
          assert.deepEqual(Object.keys(router.namedVariables()), ['weight', 'noiseWeight']);
          tf.tidy(() => expectClose(router.noiseWeight!, [0, 0, 0, 0, 0, 0]));
          router.dispose();
          again.dispose();
        },
      );

      it('should give the load loss in closed form, with gradients into W_g and W_noise (training)', () => {
        const router = make();
        tf.tidy(() => {
          const x = tf.tensor3d(X);
          const plan = router.route(x, { training: true });
          const h = Array.from(plan.routerLogits!.dataSync());
          const clean = [
            [1, 0, 0],
            [0, 1, 0],
            [1, 1, 0],
            [2, 0, 0],
          ];
          const std = Math.log(2) + 1e-2; // softplus(0) + eps with W_noise = 0
          const load = [0, 0, 0];
          for (let tok = 0; tok < 4; tok++) {
            const row = h.slice(tok * 3, tok * 3 + 3);
            const order = [0, 1, 2].sort((i, j) => (row[i] === row[j] ? i - j : row[j]! - row[i]!));
            for (let i = 0; i < 3; i++) {
              const threshold = row[order[order.indexOf(i) < 1 ? 1 : 0]!]!;
              load[i]! += phi((clean[tok]![i]! - threshold) / std);
            }
          }
          const mean = load.reduce((s, v) => s + v, 0) / 3;
          const variance = load.reduce((s, v) => s + (v - mean) ** 2, 0) / 3;
          expectClose(plan.auxLosses['load']!, [(0.1 * variance) / (mean * mean + 1e-10)], {
            rtol: 1e-4,
            atol: 1e-7,
          });
        });
        const grads = tf.variableGrads(
          () => router.route(tf.tensor3d(X), { training: true }).auxLosses['load']!,
          [router.weight, router.noiseWeight!],
        ).grads;
        for (const v of [router.weight, router.noiseWeight!])
          assert.ok(
            tf.tidy(() => tf.max(tf.abs(grads[v.name]!)).dataSync()[0]!) > 0,
            `no gradient into ${v.name}`,
          );
        tf.dispose(Object.values(grads));
        router.dispose();
      });

      it('should count the load outside training (no noise, as tensor2tensor)', () => {
        const router = make();
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // Top-1 choices e0, e1, e0, e0: load [3, 1, 0].
          const load = [3, 1, 0];
          const variance = load.reduce((s, v) => s + (v - 4 / 3) ** 2, 0) / 3;
          expectClose(plan.auxLosses['load']!, [(0.1 * variance) / ((4 / 3) ** 2 + 1e-10)]);
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
