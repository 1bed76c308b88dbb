// MixtureOfDepthsRouter's causal cuts (Raposo et al. 2024 section 3.5): tau and the predictor's
// cut follow the top-k cut of training batches (folded from replicas' statistics as a running
// mean, then at THRESHOLD_RATE), and calibration sets them to the exact top-k quantile.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tf, type Tensor3D } from '@moderoute/core';
import { MixtureOfDepthsRouter, THRESHOLD_RATE, quantileCut, metricsOf } from '@moderoute/routing';
import { forEachBackend, runs } from '@moderoute/testing';
import { X, golden, trainRoute } from './modGolden.js';

describe(MixtureOfDepthsRouter.name, () => {
  forEachBackend(() => {
    describe('.route', () => {
      it('should decide causally by r > tau in threshold mode, tau 0 before any training batch', () => {
        const router = golden();
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X), { mode: 'threshold' });
          assert.deepEqual(Array.from(plan.tokenIndex.dataSync()), [0, 1, 3, 4, 5]);
          assert.equal(plan.mode, 'threshold');
        });
        router.dispose();
      });

      it('should move tau to the top-k cut of training batches only, and decide against it (golden)', () => {
        const router = golden();
        tf.tidy(() => {
          const x = tf.tensor3d(X);
          // Not in training, or not top-k: tau stays 0.
          router.route(x);
          router.route(x, { mode: 'threshold', training: true });
          assert.equal(router.thresholdValue(), 0);
          // route itself changes nothing: the step folds the plan's statistics.
          const plan = router.route(x, { training: true });
          assert.equal(router.thresholdValue(), 0);
          assert.deepEqual(plan.statistics, { thresholdCut: { sum: 2, count: 1 } });
          router.foldStatistics([plan.statistics!]);
          const loss = plan.auxLosses['causalBce']!.dataSync()[0];
          // k = 2 of R: 3 and 2 are in, the next is 2 (a tie, left out): the cut is (2 + 2) / 2.
          assert.equal(router.thresholdValue(), 2);
          assert.deepEqual(Array.from(router.threshold!.dataSync()), [2, 1]);
          // The BCE is on r itself: updating tau leaves the loss (and its gradient) unchanged.
          assert.equal(trainRoute(router, x).auxLosses['causalBce']!.dataSync()[0], loss);
          // The second batch's cut is 2 again: the running mean of (2, 2).
          assert.equal(router.thresholdValue(), 2);
          // r > 2 selects t5 (r = 3) only.
          assert.deepEqual(
            Array.from(router.route(x, { mode: 'threshold' }).tokenIndex.dataSync()),
            [5],
          );
        });
        router.dispose();
      });

      it('should fold the statistics of replicas into the cut of one replica, a replica without a cut included', () => {
        const one = golden({ capacity: 0.25 });
        const two = golden({ capacity: 0.25 });
        tf.tidy(() => {
          // Row 0 has a cut (k = 1 of 4 real tokens: midpoint of 3 and 2); row 1 has one real token
          // (no cut). One replica routes both rows; two replicas route a row each.
          const x = tf.tensor3d([
            [
              [1, 0],
              [3, 0],
              [2, 0],
              [0, 0],
            ],
            [
              [5, 0],
              [9, 0],
              [9, 0],
              [9, 0],
            ],
          ]) as Tensor3D;
          const mask = tf.tensor2d([
            [1, 1, 1, 1],
            [1, 0, 0, 0],
          ]);
          const whole = one.route(x, { training: true, mask });
          one.foldStatistics([whole.statistics!]);
          const rows = [0, 1].map((row) =>
            two.route(tf.slice(x, [row, 0, 0], [1, 4, 2]) as Tensor3D, {
              training: true,
              mask: tf.slice(mask, [row, 0], [1, 4]),
            }),
          );
          assert.deepEqual(rows[1]!.statistics, { thresholdCut: { sum: 0, count: 0 } });
          two.foldStatistics(rows.map((p) => p.statistics!));
          assert.deepEqual(Array.from(two.threshold!.dataSync()), [2.5, 1]);
          assert.deepEqual(
            Array.from(two.threshold!.dataSync()),
            Array.from(one.threshold!.dataSync()),
          );
          // The former rule, averaging the replicas' updated states by their rows, gave
          // (2.5 + 0) / 2: the replica without a cut pulled the estimate towards its stale value.
        });
        one.dispose();
        two.dispose();
      });

      it('should average the cuts as a running mean, then with rate THRESHOLD_RATE', () => {
        const router = golden({ capacity: 0.125 });
        tf.tidy(() => {
          // One sequence of two tokens with k = 1: the cut is the midpoint of its two r values.
          const batch = (a: number, b: number) =>
            tf.tensor3d([
              [
                [a, 0],
                [b, 0],
              ],
            ]);
          const expected: number[] = [];
          let tau = 0;
          for (let i = 1; i <= 103; i++) {
            const cut = i % 2 === 0 ? 1 : 3;
            trainRoute(router, batch(cut - 1, cut + 1));
            tau += Math.max(1 / i, THRESHOLD_RATE) * (cut - tau);
            if (i === 2 || i === 100 || i === 103) expected.push(tau);
            if (i === 2 || i === 100 || i === 103)
              assert.ok(
                Math.abs(router.thresholdValue() - tau) < 1e-5,
                `batch ${i}: ${router.thresholdValue()} vs ${tau}`,
              );
          }
          assert.ok(
            Math.abs((expected[0] as number) - 2) < 1e-6 &&
              Math.abs((expected[1] as number) - 2) < 1e-6,
          );
        });
        router.dispose();
      });

      it('should agree exactly with top-k on a one-sequence batch it was calibrated on (property)', () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 2, max: 40 }),
            fc.double({ min: 0.05, max: 0.9, noNaN: true }),
            fc.nat(1000),
            (t, capacity, seed) => {
              const router = new MixtureOfDepthsRouter({ dModel: 4, capacity, seed });
              try {
                tf.tidy(() => {
                  const x = tf.randomNormal([1, t, 4], 0, 1, 'float32', seed + 7) as Tensor3D;
                  const k = router.tokensPerSequence(t);
                  trainRoute(router, x);
                  const plan = router.route(x);
                  const causal = metricsOf(plan.counts).causal!.threshold!;
                  if (k < t)
                    assert.deepEqual(
                      causal,
                      { accuracy: 1, precision: 1, recall: 1 },
                      `T ${t}, k ${k}, tau ${router.thresholdValue()}`,
                    );
                });
              } finally {
                router.dispose();
              }
            },
          ),
          runs(30),
        );
      });

      it('should calibrate the predictor rule to its own top-k cut: k tokens of the batch it saw (property)', () => {
        fc.assert(
          fc.property(fc.integer({ min: 2, max: 40 }), fc.nat(1000), (t, seed) => {
            const router = new MixtureOfDepthsRouter({ dModel: 4, causalMode: 'predictor', seed });
            try {
              tf.tidy(() => {
                const x = tf.randomNormal([1, t, 4], 0, 1, 'float32', seed + 3) as Tensor3D;
                assert.equal(router.predictorCutValue(), 0);
                trainRoute(router, x);
                const k = router.tokensPerSequence(t);
                if (k < t)
                  assert.equal(router.route(x, { mode: 'predictor' }).tokenIndex.shape[0], k);
                assert.equal(router.namedVariables()['predictor.threshold']?.trainable, false);
                assert.ok(
                  !router
                    .trainableVariables()
                    .includes(router.namedVariables()['predictor.threshold']!),
                );
              });
            } finally {
              router.dispose();
            }
          }),
          runs(20),
        );
      });

      it('should cut between the K-th and (K+1)-th largest value, K = round(fraction n) in [1, n - 1]', () => {
        assert.equal(quantileCut(Float32Array.from([3, 1, 2, 0]), 0.25), 2.5);
        assert.equal(quantileCut(Float32Array.from([3, 1, 2, 0]), 0.5), 1.5);
        assert.equal(quantileCut(Float32Array.from([3, 1, 2, 0]), 0.01), 2.5);
        assert.equal(quantileCut(Float32Array.from([3, 1, 2, 0]), 1), 0.5);
        assert.equal(quantileCut(Float32Array.from([3]), 0.5), undefined);
      });

      it(
        'should set both causal cuts to the exact top-k quantile of pooled samples, ' +
          'keeping the batch count (property)',
        () => {
          fc.assert(
            fc.property(
              fc.integer({ min: 1, max: 4 }),
              fc.integer({ min: 8, max: 40 }),
              fc.nat(1000),
              fc.double({ min: -20, max: 20, noNaN: true }),
              (b, t, seed, stale) => {
                const router = new MixtureOfDepthsRouter({
                  dModel: 4,
                  causalMode: 'predictor',
                  seed,
                });
                const thresholdRouter = new MixtureOfDepthsRouter({ dModel: 4, seed });
                try {
                  tf.tidy(() => {
                    // Sequences of different levels, so that per-sequence cuts differ from the pooled one.
                    const x = tf.add(
                      tf.randomNormal([b, t, 4], 0, 1, 'float32', seed + 3),
                      tf.reshape(tf.range(0, b), [b, 1, 1]),
                    ) as Tensor3D;
                    // A stale cut, as a lagging running estimate leaves it.
                    thresholdRouter.threshold!.assign(tf.tensor1d([stale, 7]));
                    const plan = router.route(x);
                    const samples = {
                      seqLen: t,
                      threshold: plan.routerLogits.dataSync() as Float32Array,
                      predictor: plan.predictorLogits!.dataSync() as Float32Array,
                    };
                    router.calibrateCausalCuts(samples);
                    const r = thresholdRouter.route(x).routerLogits.dataSync() as Float32Array;
                    thresholdRouter.calibrateCausalCuts({ seqLen: t, threshold: r });
                    // K = round(k / T * B T) = k B tokens of the pool pass each rule (distinct values).
                    const k = router.tokensPerSequence(t);
                    assert.equal(router.route(x, { mode: 'predictor' }).tokenIndex.shape[0], k * b);
                    assert.equal(
                      thresholdRouter.route(x, { mode: 'threshold' }).tokenIndex.shape[0],
                      k * b,
                    );
                    assert.equal(thresholdRouter.threshold!.dataSync()[1], 7);
                  });
                } finally {
                  router.dispose();
                  thresholdRouter.dispose();
                }
              },
            ),
            runs(20),
          );
        },
      );
    });
  });
});
