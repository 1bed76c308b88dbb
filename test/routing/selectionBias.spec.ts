// DeepSeek-V3's auxiliary-loss-free load balancing (Wang et al. 2024, Algorithm 1; DeepSeek-V3
// section 2.1.2, eq. 16): the selection bias enters the top-K selection only, moves by
// gamma * sign(mean load - load_i) once per training step through foldStatistics, balances a
// skewed router, and resumes exactly from its saved value (old checkpoints load it as zeros).
import assert from 'node:assert/strict';
import { tf, type Tensor3D } from '@moderoute/core';
import {
  TokenChoiceRouter,
  disposePlan,
  updatedBias,
  type RouterStatistics,
  type TokenChoiceRouterConfig,
} from '@moderoute/routing';
import { assignWeights, toHostTensors } from '@moderoute/train';
import { expectClose, expectNoLeaks, useBackend } from '@moderoute/testing';

const base: TokenChoiceRouterConfig = {
  dModel: 1,
  numExperts: 3,
  scoreFunction: 'sigmoid',
  biasUpdateRate: 0.1,
  capacity: { dropless: true },
};

const loadsOf = (plan: { expertCounts: readonly number[] }) => [...plan.expertCounts];
const biasOf = (router: TokenChoiceRouter) => Array.from(router.biasValues()!);

/** Scores float32[1, T, 4] (sigmoid outputs) that all prefer expert 0 by 0.2, from a fixed LCG. */
function skewedScores(t: number): Tensor3D {
  let state = 12345;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 0.6 + 0.1;
  const rows = Array.from({ length: t }, () =>
    [0, 1, 2, 3].map((e) => next() + (e === 0 ? 0.2 : 0)),
  );
  return tf.tensor3d([rows]);
}

/** Routes `scores` in training `steps` times, folding each step's statistics. */
function train(router: TokenChoiceRouter, scores: Tensor3D, steps: number): void {
  for (let s = 0; s < steps; s++) {
    const plan = router.routeScores(scores, { given: 'scores', training: true });
    router.foldStatistics([plan.statistics!]);
    disposePlan(plan);
  }
}

describe('TokenChoiceRouter biasUpdateRate (DeepSeek-V3 auxiliary-loss-free balancing)', () => {
  useBackend('wasm');
  describe('when the bias is set', () => {
    it('should change which experts are chosen but weigh them by their unbiased scores (golden)', () => {
      const router = new TokenChoiceRouter(base);
      const scores = tf.tensor3d([
        [
          [0.9, 0.5, 0.1],
          [0.2, 0.6, 0.4],
        ],
      ]);
      router.selectionBias!.assign(tf.tensor1d([0, 0, 0.6]));
      tf.tidy(() => {
        const plan = router.routeScores(scores, { given: 'scores' });
        // Token 0: 0.9 + 0 is still the best (e0); token 1: 0.4 + 0.6 beats 0.6 (e2), weight 0.4.
        assert.deepEqual(Array.from(plan.choices.dataSync()), [0, 2]);
        expectClose(plan.combineWeights, [0.9, 0.4]);
      });
      router.dispose();
      scores.dispose();
    });
  });

  describe('.foldStatistics', () => {
    it('should move each bias by gamma * sign(mean load - load) over every replica (closed form)', () => {
      const stats = (loads: number[]): RouterStatistics =>
        Object.fromEntries(loads.map((sum, i) => [`selectionLoad.${i}`, { sum, count: 1 }]));
      // Loads [3, 1, 0, 0] + [1, 1, 2, 0] = [4, 2, 2, 0], mean 2: signs [-1, 0, 0, +1].
      const router = new TokenChoiceRouter({ ...base, numExperts: 4, biasUpdateRate: 0.25 });
      router.foldStatistics([stats([3, 1, 0, 0]), stats([1, 1, 2, 0])]);
      assert.deepEqual(biasOf(router), [-0.25, 0, 0, 0.25]);
      router.foldStatistics([]);
      assert.deepEqual(biasOf(router), [-0.25, 0, 0, 0.25]);
      assert.deepEqual(
        Array.from(updatedBias(new Float32Array(2), [stats([5, 1])], 0.5)!),
        [-0.5, 0.5],
      );
      router.dispose();
    });

    it("should be fed by training plans' per-expert loads, and by no evaluation plan", () => {
      const router = new TokenChoiceRouter(base);
      const scores = tf.tensor3d([
        [
          [0.9, 0.5, 0.1],
          [0.8, 0.6, 0.4],
          [0.1, 0.6, 0.4],
        ],
      ]);
      const training = router.routeScores(scores, { given: 'scores', training: true });
      assert.deepEqual(training.statistics, {
        'selectionLoad.0': { sum: 2, count: 1 },
        'selectionLoad.1': { sum: 1, count: 1 },
        'selectionLoad.2': { sum: 0, count: 1 },
      });
      const evaluation = router.routeScores(scores, { given: 'scores' });
      assert.equal(evaluation.statistics, undefined);
      router.foldStatistics([training.statistics!]);
      expectClose(router.selectionBias!, [-0.1, 0, 0.1]);
      disposePlan(training);
      disposePlan(evaluation);
      router.dispose();
      scores.dispose();
    });
  });

  describe('when routing a skewed input step after step', () => {
    it('should balance the loads', () => {
      const router = new TokenChoiceRouter({ ...base, numExperts: 4, biasUpdateRate: 0.01 });
      const scores = skewedScores(64);
      const before = tf.tidy(() => loadsOf(router.routeScores(scores, { given: 'scores' })));
      train(router, scores, 150);
      const after = tf.tidy(() => loadsOf(router.routeScores(scores, { given: 'scores' })));
      assert.ok(Math.max(...before) > 32, `skewed before: ${before.join(', ')}`);
      assert.ok(Math.max(...after) <= 24, `balanced after: ${after.join(', ')}`);
      assert.ok(Math.min(...after) >= 8, `balanced after: ${after.join(', ')}`);
      router.dispose();
      scores.dispose();
    });
  });

  describe('when training resumes from a saved bias', () => {
    it('should continue exactly as the uninterrupted run', async () => {
      const config = { ...base, numExperts: 4, biasUpdateRate: 0.01 };
      const scores = skewedScores(16);
      const whole = new TokenChoiceRouter(config);
      train(whole, scores, 20);
      const first = new TokenChoiceRouter(config);
      train(first, scores, 12);
      const saved = await toHostTensors(new Map(Object.entries(first.namedVariables())));
      const resumed = new TokenChoiceRouter(config);
      assignWeights(new Map(Object.entries(resumed.namedVariables())), saved);
      train(resumed, scores, 8);
      assert.deepEqual(biasOf(resumed), biasOf(whole));
      for (const r of [whole, first, resumed]) r.dispose();
      scores.dispose();
    });

    it('should load a checkpoint written before the bias existed with a zero bias', async () => {
      const old = new TokenChoiceRouter({ ...base, biasUpdateRate: 0 });
      const saved = await toHostTensors(new Map(Object.entries(old.namedVariables())));
      assert.deepEqual([...saved.keys()], ['weight']);
      const router = new TokenChoiceRouter(base);
      assignWeights(new Map(Object.entries(router.namedVariables())), saved);
      assert.deepEqual(biasOf(router), [0, 0, 0]);
      tf.tidy(() => expectClose(router.weight, old.weight, { rtol: 0, atol: 0 }));
      old.dispose();
      router.dispose();
    });
  });

  it('should not leak tensors', () => {
    const router = new TokenChoiceRouter({ ...base, dModel: 2 });
    const x = tf.tensor3d([[[1, 2]]]);
    expectNoLeaks(() => {
      const plan = router.route(x, { training: true });
      router.foldStatistics([plan.statistics!]);
      disposePlan(plan);
    }, 'route and fold');
    x.dispose();
    router.dispose();
  });
});
