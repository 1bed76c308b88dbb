import assert from 'node:assert/strict';
import { ConfigError, tf } from '@moderoute/core';
import { ExpertChoiceRouter, disposePlan, metricsOf } from '@moderoute/routing';
import { expectClose, expectNoLeaks, forEachBackend } from '@moderoute/testing';
import { P, X } from './goldenProblem.js';

// The token-choice golden problem again (goldenProblem.ts): logits [[1,0,0], [0,1,0], [1,1,0], [2,0,0]].

describe(ExpertChoiceRouter.name, () => {
  forEachBackend(() => {
    describe('.route', () => {
      it('should let each expert take its top-C tokens, kept in position order (golden)', () => {
        // C = ceil(4 * 1 / 3) = 2.
        const router = new ExpertChoiceRouter({ dModel: 2, numExperts: 3 });
        router.weight.assign(
          tf.tensor2d([
            [1, 0, 0],
            [0, 1, 0],
          ]),
        );
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          assert.equal(plan.capacity, 2);
          // Expert 0: t3, t0. Expert 1: t1, t2. Expert 2: t0 and t1 tie; t1 beats t2; lower position wins.
          assert.deepEqual(Array.from(plan.tokenIndex.dataSync()), [0, 3, 1, 2, 0, 1]);
          assert.deepEqual(Array.from(plan.expertIndex.dataSync()), [0, 0, 1, 1, 2, 2]);
          assert.deepEqual(Array.from(plan.slotIndex.dataSync()), [0, 1, 0, 1, 0, 1]);
          expectClose(plan.combineWeights, [
            P[0]![0]!,
            P[3]![0]!,
            P[1]![1]!,
            P[2]![1]!,
            P[0]![2]!,
            P[1]![2]!,
          ]);
          assert.deepEqual(metricsOf(plan.counts).expertsPerToken, [0, 0.5, 0.5, 0]);
          assert.equal(metricsOf(plan.counts).meanExpertsPerToken, 1.5);
          assert.equal(metricsOf(plan.counts).droppedFraction, 0);
          assert.deepEqual(Object.keys(plan.auxLosses), []);
        });
        router.dispose();
      });

      it("should fill each expert's slots best first with slotOrder 'score' (V-MoE) (golden)", () => {
        const router = new ExpertChoiceRouter({ dModel: 2, numExperts: 3, slotOrder: 'score' });
        router.weight.assign(
          tf.tensor2d([
            [1, 0, 0],
            [0, 1, 0],
          ]),
        );
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // The same tokens as position order, each expert's best first: expert 0 t3 (P 0.787) before t0.
          assert.deepEqual(Array.from(plan.tokenIndex.dataSync()), [3, 0, 1, 2, 0, 1]);
          assert.deepEqual(Array.from(plan.slotIndex.dataSync()), [0, 1, 0, 1, 0, 1]);
          expectClose(plan.combineWeights, [
            P[3]![0]!,
            P[0]![0]!,
            P[1]![1]!,
            P[2]![1]!,
            P[0]![2]!,
            P[1]![2]!,
          ]);
        });
        router.dispose();
      });

      it('should route given logits as route() does, and given probabilities with gradients into them', () => {
        const router = new ExpertChoiceRouter({ dModel: 2, numExperts: 3 });
        router.weight.assign(
          tf.tensor2d([
            [1, 0, 0],
            [0, 1, 0],
          ]),
        );
        tf.tidy(() => {
          const a = router.route(tf.tensor3d(X));
          const logits = tf.tensor3d([
            [
              [1, 0, 0],
              [0, 1, 0],
              [1, 1, 0],
              [2, 0, 0],
            ],
          ]);
          const b = router.routeScores(logits);
          assert.deepEqual(
            Array.from(b.tokenIndex.dataSync()),
            Array.from(a.tokenIndex.dataSync()),
          );
          expectClose(b.combineWeights, a.combineWeights.dataSync());
          const probs = tf.tensor3d([P]);
          const c = router.routeScores(probs, { given: 'scores' });
          assert.deepEqual(
            Array.from(c.tokenIndex.dataSync()),
            Array.from(a.tokenIndex.dataSync()),
          );
          const grad = tf.grad((p) =>
            tf.sum(router.routeScores(p as typeof probs, { given: 'scores' }).combineWeights),
          )(probs);
          // Each assignment's weight is its own probability: gradient 1 there, 0 elsewhere.
          expectClose(grad, [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0]);
        });
        router.dispose();
      });

      it('should leave a token no expert wants out, and skip padding', () => {
        const router = new ExpertChoiceRouter({
          dModel: 2,
          numExperts: 3,
          capacity: { trainFactor: 0.5, evalFactor: 0.5, minimum: 1 },
        });
        router.weight.assign(
          tf.tensor2d([
            [1, 0, 0],
            [0, 1, 0],
          ]),
        );
        tf.tidy(() => {
          // C = ceil(4 * 0.5 / 3) = 1; token 3 is padding.
          const plan = router.route(tf.tensor3d(X), { mask: tf.tensor2d([[1, 1, 1, 0]]) });
          assert.deepEqual(Array.from(plan.tokenIndex.dataSync()), [0, 1, 0]);
          assert.deepEqual(metricsOf(plan.counts).expertsPerToken, [1 / 3, 1 / 3, 1 / 3, 0]);
        });
        router.dispose();
      });

      it('should not leak tensors', () => {
        const router = new ExpertChoiceRouter({ dModel: 2, numExperts: 3, zLossCoefficient: 1e-3 });
        const x = tf.tensor3d(X);
        expectNoLeaks(() => disposePlan(router.route(x, { training: true })), 'route');
        tf.dispose(x);
        router.dispose();
      });
    });
  });

  describe('when the config is invalid', () => {
    it('should name the parameter, the value and the rule', () => {
      assert.throws(
        () => new ExpertChoiceRouter({ dModel: 2, numExperts: 0 }),
        /^ConfigError|numExperts \(0\) must be an integer >= 1/,
      );
      assert.throws(
        () => new ExpertChoiceRouter({ dModel: 2, capacity: { trainFactor: -1 } }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /capacity\.trainFactor \(-1\) must be a finite number > 0/.test(err.message),
      );
      assert.throws(
        () => new ExpertChoiceRouter({ dModel: 2, capacity: { dropless: true } }),
        /capacity\.dropless \(true\) must be false for expert-choice routing/,
      );
    });
  });
});
