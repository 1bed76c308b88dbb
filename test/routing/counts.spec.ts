// Routing counts (counts.ts): one shared pure function computes them, aggregation adds them, and
// metricsOf turns them into ratios for display only. A padded batch is where the old conversion
// of ratios back into counts (assuming B * T real tokens) went wrong.
import assert from 'node:assert/strict';
import { initBackend, tf, type Tensor3D } from '@moderoute/core';
import {
  MixtureOfDepthsRouter,
  disposePlan,
  metricsOf,
  routingCounts,
  sumCounts,
  type RoutingCounts,
} from '@moderoute/routing';
import { defaultContext } from '@moderoute/testing';

describe('routingCounts', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('should count a padded batch over its real tokens only, and add up across batches', () => {
    // One sequence of 8 tokens, the last 3 padding; w = [1, -1] so r is the first feature.
    const router = new MixtureOfDepthsRouter({ dModel: 2, capacity: 0.25 });
    router.weight.assign(tf.tensor2d([[1], [-1]]));
    const r = [0.5, 2, -1, 3, 0.1, 9, 9, 9];
    const x = tf.tensor3d([r.map((v) => [v, 0])]) as Tensor3D;
    const mask = tf.tensor2d([[1, 1, 1, 1, 1, 0, 0, 0]]);
    const plan = router.route(x, defaultContext(router, { mask, mode: 'threshold' }));
    const counts = plan.counts;
    // k = floor(0.25 * 8) = 2 of the real tokens: r = 3 (t3) and 2 (t1); tau = 0 selects
    // t0, t1, t3, t4: tp 2, fp 2, fn 0, agree 3 of 5 real tokens (t2 is out for both).
    assert.equal(counts.realTokens, 5);
    assert.deepEqual(counts.causal?.threshold, {
      truePositives: 2,
      falsePositives: 2,
      falseNegatives: 0,
      agree: 3,
    });
    assert.deepEqual(metricsOf(counts).causal?.threshold, {
      accuracy: 3 / 5,
      precision: 2 / 4,
      recall: 1,
    });
    // Recovering fp from the ratios with B * T = 8 tokens (the old causalEvaluation rule) is off.
    const { accuracy } = metricsOf(counts).causal!.threshold!;
    assert.notEqual(Math.round(8 * (1 - accuracy)) - 0, 2);
    // Two batches: counts add, and the ratios of the sum are over all real tokens.
    const twice: RoutingCounts = sumCounts([counts, counts]);
    assert.equal(twice.realTokens, 10);
    assert.equal(metricsOf(twice).causal?.threshold?.accuracy, 6 / 10);
    assert.equal(metricsOf(twice).droppedFraction, metricsOf(counts).droppedFraction);
    disposePlan(plan);
    tf.dispose([x, mask]);
    router.dispose();
  });

  it('should count drops per (token, choice) for token-choice and per token otherwise', () => {
    const valid = [1, 1, 0, 1];
    const tc = routingCounts({
      valid,
      numExperts: 2,
      tokenIndex: [0, 1, 3],
      expertIndex: [0, 0, 1],
      choicesPerToken: 2,
    });
    assert.deepEqual([tc.dropped, tc.droppable, tc.load], [3, 6, [2, 1]]);
    const ec = routingCounts({
      valid,
      numExperts: 2,
      tokenIndex: [0, 0, 3],
      expertIndex: [0, 1, 1],
      histogram: true,
    });
    assert.deepEqual([ec.dropped, ec.droppable, ec.expertsPerToken], [1, 3, [1, 1, 1]]);
    assert.deepEqual(metricsOf(ec).meanExpertsPerToken, 1);
  });
});
