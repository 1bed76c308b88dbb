import assert from 'node:assert/strict';
import { tf, type Tensor3D } from '@moderoute/core';
import {
  TokenChoiceRouter,
  combineRows,
  disposePlan,
  dispatchRows,
  type TokenChoicePlan,
  metricsOf,
} from '@moderoute/routing';
import { expectClose, expectNoLeaks, forEachBackend } from '@moderoute/testing';
import { P, X, golden } from './goldenProblem.js';

// The golden problem (goldenProblem.ts): logits [[1,0,0], [0,1,0], [1,1,0], [2,0,0]], top-2,
// capacity 2 per expert.

function read(plan: TokenChoicePlan) {
  return {
    tokens: Array.from(plan.tokenIndex.dataSync()),
    experts: Array.from(plan.expertIndex.dataSync()),
    slots: Array.from(plan.slotIndex.dataSync()),
    buffers: Array.from(plan.bufferIndex.dataSync()),
    choices: plan.choices.arraySync(),
    kept: plan.choiceKept.arraySync(),
  };
}

describe(TokenChoiceRouter.name, () => {
  forEachBackend(() => {
    describe('.route', () => {
      it('should place top-1 choices first, by position, and drop what overflows (golden)', () => {
        const router = golden();
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          const r = read(plan);
          assert.equal(plan.capacity, 2);
          // Rank 1: t0->e0, t1->e1, t2->e0 (tie with e1 goes to the lower expert), t3->e0 dropped.
          // Rank 2: t0->e1 fits, t1->e0, t2->e1, t3->e1 find their experts full.
          assert.deepEqual(r.choices, [
            [
              [0, 1],
              [1, 0],
              [0, 1],
              [0, 1],
            ],
          ]);
          assert.deepEqual(r.kept, [
            [
              [1, 1],
              [1, 0],
              [1, 0],
              [0, 0],
            ],
          ]);
          assert.deepEqual(r.tokens, [0, 2, 1, 0]);
          assert.deepEqual(r.experts, [0, 0, 1, 1]);
          assert.deepEqual(r.slots, [0, 1, 0, 1]);
          assert.deepEqual(r.buffers, [0, 1, 2, 3]);
          assert.deepEqual(plan.expertCounts, [2, 2, 0]);
          expectClose(plan.combineWeights, [P[0]![0]!, P[2]![0]!, P[1]![1]!, P[0]![1]!]);
          assert.equal(metricsOf(plan.counts).droppedFraction, 4 / 8);
          // Dropped token 3 gets exactly zero from the experts.
          const out = combineRows(plan, dispatchRows(plan, tf.tensor3d(X))).arraySync();
          assert.deepEqual(out[0]![3], [0, 0]);
        });
        router.dispose();
      });

      it('should let the most confident tokens go first with score priority (golden)', () => {
        const router = golden({ priority: 'score' });
        tf.tidy(() => {
          const r = read(router.route(tf.tensor3d(X)));
          // Top-1 probabilities order the tokens t3, t0, t1 (tie with t0: lower position), t2.
          assert.deepEqual(r.kept, [
            [
              [1, 0],
              [1, 0],
              [0, 0],
              [1, 1],
            ],
          ]);
          assert.deepEqual(r.tokens, [3, 0, 1, 3]);
          assert.deepEqual(r.experts, [0, 0, 1, 1]);
        });
        router.dispose();
      });

      it('should renormalize the K weights over the chosen experts, before drops', () => {
        const router = golden({ renormalize: true, capacity: { dropless: true } });
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          const weights = Array.from(plan.combineWeights.dataSync());
          const tokens = Array.from(plan.tokenIndex.dataSync());
          const sums = new Map<number, number>();
          tokens.forEach((t, i) => sums.set(t, (sums.get(t) ?? 0) + weights[i]!));
          for (const [t, s] of sums)
            assert.ok(Math.abs(s - 1) < 1e-6, `token ${t} weights sum to ${s}`);
          assert.equal(metricsOf(plan.counts).droppedFraction, 0);
          assert.equal(plan.capacity, 4);
        });
        router.dispose();
      });

      it('should compute the load-balancing and z losses in closed form (golden)', () => {
        const router = golden();
        tf.tidy(() => {
          const plan = router.route(tf.tensor3d(X));
          // f: expert 0 chosen 4 times, expert 1 four times, of 8 choices; P = column means.
          const pMean = [0, 1, 2].map((j) => P.reduce((a, row) => a + row[j]!, 0) / 4);
          const lbl = 1e-2 * 3 * (0.5 * pMean[0]! + 0.5 * pMean[1]!);
          expectClose(plan.auxLosses['loadBalancing']!, [lbl]);
          const lse = [
            [1, 0, 0],
            [0, 1, 0],
            [1, 1, 0],
            [2, 0, 0],
          ].map((row) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0)));
          expectClose(plan.auxLosses['zLoss']!, [(1e-3 * lse.reduce((a, v) => a + v * v, 0)) / 4]);
        });
        router.dispose();
      });

      it('should apply jitter in training only, reproducibly', () => {
        const a = new TokenChoiceRouter({ dModel: 4, numExperts: 4, jitter: 0.5, seed: 3 });
        const b = new TokenChoiceRouter({ dModel: 4, numExperts: 4, jitter: 0.5, seed: 3 });
        tf.tidy(() => {
          const x = tf.randomNormal([2, 6, 4], 0, 1, 'float32', 9) as Tensor3D;
          const evalLogits = a.route(x).routerLogits!;
          expectClose(a.route(x).routerLogits!, evalLogits, { rtol: 0, atol: 0 });
          const trainA = a.route(x, { training: true }).routerLogits!;
          assert.ok(
            tf.max(tf.abs(tf.sub(trainA, evalLogits))).dataSync()[0]! > 1e-4,
            'jitter changed nothing',
          );
          expectClose(b.route(x, { training: true }).routerLogits!, trainA, { rtol: 0, atol: 0 });
        });
        a.dispose();
        b.dispose();
      });

      it('should not leak tensors', () => {
        const router = golden();
        const x = tf.tensor3d(X);
        expectNoLeaks(() => disposePlan(router.route(x, { training: true })), 'route');
        tf.dispose(x);
        router.dispose();
      });
    });
  });

  describe('.getConfig', () => {
    it('should list every default and rebuild an equal router', () => {
      const router = new TokenChoiceRouter({ dModel: 4 });
      const config = router.getConfig();
      assert.deepEqual(
        { ...config, capacity: undefined },
        {
          preset: null,
          dModel: 4,
          numExperts: 8,
          topK: 1,
          capacity: undefined,
          scoreFunction: 'softmax',
          expertGroups: 1,
          topKGroups: 1,
          groupScore: 'max',
          placement: 'rank-major',
          priority: 'position',
          renormalize: 'none',
          routedScale: 1,
          jitter: 0,
          loadBalancingCoefficient: 1e-2,
          zLossCoefficient: 1e-3,
          importanceCoefficient: 0,
          noisyGating: false,
          loadCoefficient: 0,
          noiseStd: 0,
          importanceGates: 'chosen',
          biasUpdateRate: 0,
          sequenceBalanceCoefficient: 0,
          secondExpertPolicy: 'all',
          loadBalancingChoices: 'all',
          probsRanking: 'scores',
          initScale: 0.1,
          seed: 0,
        },
      );
      assert.equal((config['capacity'] as { preset: string }).preset, 'switch');
      const again = new TokenChoiceRouter(JSON.parse(JSON.stringify(config)));
      assert.deepEqual(again.getConfig(), config);
      tf.tidy(() => expectClose(again.weight, router.weight, { rtol: 0, atol: 0 }));
      router.dispose();
      again.dispose();
    });
  });
});
