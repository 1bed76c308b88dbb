// MixtureOfDepthsRouter (Raposo et al. 2024): top-k selection on the golden problem (modGolden.ts),
// gates, causal decisions, the predictor's stop-gradient, and config errors. The causal cuts
// (tau, their folding and calibration) are in mixtureOfDepthsCuts.spec.ts.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, tf, type Tensor3D } from '@moderoute/core';
import {
  MixtureOfDepthsRouter,
  combineRows,
  disposePlan,
  dispatchRows,
  metricsOf,
} from '@moderoute/routing';
import { expectClose, expectNoLeaks, forEachBackend, runs } from '@moderoute/testing';
import { R, X, bce, golden } from './modGolden.js';

describe(MixtureOfDepthsRouter.name, () => {
  forEachBackend(() => {
    describe('.route', () => {
      it('should select the top-k tokens in ascending order, ties to the lower position (golden)', () => {
        const router = golden();
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // k = floor(0.25 * 8) = 2: r = 3 at t5, then r = 2 at t1 and t3 (t1 wins the tie).
          assert.equal(plan.capacity, 2);
          assert.deepEqual(Array.from(plan.tokenIndex.dataSync()), [1, 5]);
          assert.deepEqual(Array.from(plan.positions.dataSync()), [1, 5]);
          assert.deepEqual(plan.rowCounts, [2]);
          expectClose(plan.combineWeights, [2, 3]);
          // BCE on r against membership {1, 5}, mean over tokens, coefficient 1e-2 (the default).
          const target = R.map((_, i) => (i === 1 || i === 5 ? 1 : 0));
          expectClose(plan.auxLosses['causalBce']!, [
            (1e-2 * R.reduce((a, r, i) => a + bce(r, target[i]!), 0)) / 8,
          ]);
          // sigmoid(r) > 0.5 selects t0, t1, t3, t4, t5: agrees on 5 of 8, precision 2/5, recall 1.
          assert.deepEqual(metricsOf(plan.counts).causal?.threshold, {
            accuracy: 5 / 8,
            precision: 2 / 5,
            recall: 1,
          });
          assert.equal(metricsOf(plan.counts).droppedFraction, 6 / 8);
          // out = x + g(r) f(x) for the selected tokens, x for the rest (f = identity here).
          const x = tf.tensor3d(X);
          const out = tf
            .add(x, combineRows(plan, dispatchRows(plan, x)))
            .arraySync() as number[][][];
          assert.deepEqual(out[0]![0], [0.5, 0]);
          expectClose(out[0]![5]!, [3 + 3 * 3, 0]);
        });
        router.dispose();
      });

      it('should gate with sigmoid or tanh when asked', () => {
        for (const [gate, g] of [
          ['sigmoid', (v: number) => 1 / (1 + Math.exp(-v))],
          ['tanh', Math.tanh],
        ] as const) {
          const router = golden({ gate });
          tf.tidy(() => expectClose(router.route(tf.tensor3d(X)).combineWeights, [g(2), g(3)]));
          router.dispose();
        }
      });

      it('should make causal decisions that do not depend on later tokens', () => {
        const router = new MixtureOfDepthsRouter({ dModel: 3, causalMode: 'predictor', seed: 5 });
        fc.assert(
          fc.property(
            fc.integer({ min: 2, max: 10 }),
            fc.nat(1000),
            fc.constantFrom('threshold' as const, 'predictor' as const),
            (t, seed, mode) => {
              tf.tidy(() => {
                const x = tf.randomNormal([1, t, 3], 0, 1, 'float32', seed + 1) as Tensor3D;
                const cut = 1 + (seed % (t - 1));
                // Same tokens up to `cut`, different after.
                const y = tf.concat(
                  [
                    tf.slice(x, [0, 0, 0], [1, cut, 3]),
                    tf.randomNormal([1, t - cut, 3], 0, 1, 'float32', seed + 2),
                  ],
                  1,
                ) as Tensor3D;
                const before = (plan: { tokenIndex: { dataSync(): ArrayLike<number> } }) =>
                  Array.from(plan.tokenIndex.dataSync()).filter((i) => i < cut);
                assert.deepEqual(
                  before(router.route(y, { mode })),
                  before(router.route(x, { mode })),
                );
              });
            },
          ),
          runs(10),
        );
        router.dispose();
      });

      for (const [target, loss] of [
        ['logit', 'predictorRmse'],
        ['membership', 'predictorBce'],
      ] as const) {
        it(`should train the predictor (target ${target}) on stop-gradient(x) only`, () => {
          const router = new MixtureOfDepthsRouter({
            dModel: 3,
            causalMode: 'predictor',
            predictorTarget: target,
            seed: 2,
          });
          tf.tidy(() => {
            const x = tf.variable(tf.randomNormal([2, 8, 3], 0, 1, 'float32', 4));
            // w2 starts at zero (no gradient reaches W1 and b1 then): give it a value.
            const w2 = router.namedVariables()['predictor.w2']!;
            w2.assign(tf.randomNormal(w2.shape, 0, 1, 'float32', 5));
            const [w, ...predictor] = router.trainableVariables();
            const { grads } = tf.variableGrads(
              () => router.route(x as unknown as Tensor3D, { training: true }).auxLosses[loss]!,
              [x, w!, ...predictor],
            );
            assert.equal(
              tf.max(tf.abs(grads[x.name]!)).dataSync()[0],
              0,
              'the predictor loss reached x',
            );
            assert.ok(
              grads[w!.name] === undefined || tf.max(tf.abs(grads[w!.name]!)).dataSync()[0] === 0,
              'the predictor loss reached the router',
            );
            assert.equal(predictor.length, 5);
            for (const v of predictor)
              assert.ok(
                tf.max(tf.abs(grads[v.name]!)).dataSync()[0]! > 0,
                `predictor variable ${v.name} got no gradient`,
              );
            const plan = router.route(x as unknown as Tensor3D, { mode: 'predictor' });
            assert.equal(plan.mode, 'predictor');
            assert.ok(metricsOf(plan.counts).causal?.predictor !== undefined);
            x.dispose();
          });
          router.dispose();
        });
      }

      it('should not leak tensors', () => {
        const router = golden({ causalMode: 'predictor' });
        const x = tf.tensor3d(X);
        for (const mode of ['top-k', 'threshold', 'predictor'] as const)
          expectNoLeaks(() => disposePlan(router.route(x, { mode, training: true })), mode);
        tf.dispose(x);
        router.dispose();
      });
    });
  });

  describe('when the config or mode is invalid', () => {
    it('should name the parameter, the value and the rule', () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [
          { dModel: 2, capacity: 1.5 },
          /^capacity \(1\.5\) must be a fraction of the sequence in \(0, 1\]$/,
        ],
        [
          { dModel: 2, capacity: 0 },
          /^capacity \(0\) must be a fraction of the sequence in \(0, 1\]$/,
        ],
        [{ dModel: 2, capacity: Number.NaN }, /^capacity \(NaN\) must be a fraction/],
        [
          { dModel: 2, gate: 'relu' },
          /^gate \("relu"\) must be one of "identity", "sigmoid", "tanh"$/,
        ],
        [{ dModel: 2, causalMode: 'oracle' }, /^causalMode \("oracle"\) must be one of/],
      ];
      for (const [config, message] of cases) {
        assert.throws(
          () => new MixtureOfDepthsRouter(config as never),
          (err: unknown) => err instanceof ConfigError && message.test(err.message),
          String(message),
        );
      }
      const router = golden();
      tf.tidy(() => {
        assert.throws(
          () => router.route(tf.tensor3d(X), { mode: 'predictor' }),
          /^ConfigError|mode \("predictor"\) must be a mode this router was configured for/,
        );
        assert.throws(
          () => router.route(tf.tensor3d(X), { mode: 'random' as never }),
          /mode \("random"\) must be one of "top-k", "threshold", "predictor"/,
        );
      });
      router.dispose();
    });
  });
});
