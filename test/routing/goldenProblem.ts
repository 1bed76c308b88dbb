// The expert routers' golden problem, shared by their specs: D = 2, E = 3, one sequence of 4
// tokens, and W picking the features out, so logits = x W = [[1,0,0], [0,1,0], [1,1,0], [2,0,0]].
import { tf } from '@moderoute/core';
import { TokenChoiceRouter } from '@moderoute/routing';

const e = Math.E;
/** softmax of the logits, per token. */
export const P = [
  [e / (e + 2), 1 / (e + 2), 1 / (e + 2)],
  [1 / (e + 2), e / (e + 2), 1 / (e + 2)],
  [e / (2 * e + 1), e / (2 * e + 1), 1 / (2 * e + 1)],
  [(e * e) / (e * e + 2), 1 / (e * e + 2), 1 / (e * e + 2)],
];
/** x float32[1, 4, 2]. */
export const X = [
  [
    [1, 0],
    [0, 1],
    [1, 1],
    [2, 0],
  ],
];
/** W float32[2, 3]. */
export const W = [
  [1, 0, 0],
  [0, 1, 0],
];

/** A top-2 token-choice router over the problem, capacity floor(1 * 4/3 * 2) = 2 per expert, with `extra` options. */
export function golden(extra: Record<string, unknown> = {}): TokenChoiceRouter {
  const router = new TokenChoiceRouter({
    dModel: 2,
    numExperts: 3,
    topK: 2,
    capacity: { trainFactor: 1, evalFactor: 1, rounding: 'floor', minimum: 0, scaleByK: true },
    ...extra,
  });
  router.weight.assign(tf.tensor2d(W));
  return router;
}
