// The token-choice options from Shazeer et al. 2017: the importance loss (eq. 6) and noisy top-k
// gating with its load loss (eq. 4, 8-10).
import assert from 'node:assert/strict';
import { tf } from '@moderoute/core';
import { TokenChoiceRouter } from '@moderoute/routing';
import { expectClose, forEachBackend } from '@moderoute/testing';
import { P, X, W, golden } from './goldenProblem.js';

// The golden problem (goldenProblem.ts): logits [[1,0,0], [0,1,0], [1,1,0], [2,0,0]], top-2,
// capacity 2 per expert.

describe('TokenChoiceRouter options', () => {
  forEachBackend(() => {
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
  });
});
