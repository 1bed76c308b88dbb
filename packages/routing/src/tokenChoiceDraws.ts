// The random rules of token-choice routing and their draws, from the call's seed
// (randomness.ts): GShard's random second expert, DeepSpeed's sampled second expert and its
// random token selection. Every draw is keyed by the call's rngSeed, so a call repeats exactly.
import { tf } from '@moderoute/core';
import { PRIORITY_STREAM, SECOND_EXPERT_STREAM } from './randomness.js';
import type { ResolvedTokenChoiceRouterConfig } from './tokenChoiceConfig.js';

/**
 * GShard's random second expert (Lepikhin et al. 2020, Algorithm 1): token m's second choice is
 * dispatched when draws[m] < min(1, 2 g2), g2 = p2 / (p1 + p2) its gate normalized over the two
 * choices. Returns uint8[M * 2], 1 for a second choice left out.
 */
export function secondExpertSkips(
  p: ArrayLike<number>,
  choices: Int32Array,
  draws: Float32Array,
  numExperts: number,
): Uint8Array {
  const m = draws.length;
  const skip = new Uint8Array(m * 2);
  for (let tok = 0; tok < m; tok++) {
    const p1 = p[tok * numExperts + (choices[tok * 2] as number)] as number;
    const p2 = p[tok * numExperts + (choices[tok * 2 + 1] as number)] as number;
    const g2 = p1 + p2 > 0 ? p2 / (p1 + p2) : 0;
    if (!((draws[tok] as number) < Math.min(1, 2 * g2))) skip[tok * 2 + 1] = 1;
  }
  return skip;
}

/**
 * DeepSpeed's sampled second expert (sharded_moe.py top2gating, top2_2nd_expert_sampling, at
 * 0c691a52): token m's second choice becomes argmax over e != first of log p[m, e] + gumbel[m, e]
 * (the logits plus Gumbel noise: log p differs from the logits by a per-token constant). Rewrites
 * `choices` (int32[M * 2]) in place.
 */
export function sampleSecondExperts(
  p: ArrayLike<number>,
  choices: Int32Array,
  gumbel: Float32Array,
  numExperts: number,
): void {
  for (let tok = 0; tok < choices.length / 2; tok++) {
    let best = -1;
    let bestValue = -Infinity;
    for (let ex = 0; ex < numExperts; ex++) {
      if (ex === choices[tok * 2]) continue;
      const v =
        Math.log(p[tok * numExperts + ex] as number) + (gumbel[tok * numExperts + ex] as number);
      if (best < 0 || v > bestValue) [best, bestValue] = [ex, v];
    }
    choices[tok * 2 + 1] = best;
  }
}

/** The draws a routing call of M tokens needs (absent where the config uses none). */
export interface RoutingDraws {
  /** float32[M]: U(0, 1), GShard's random second expert. */
  readonly secondDraws?: Float32Array | undefined;
  /** float32[M * E]: standard Gumbel, DeepSpeed's sampled second expert. */
  readonly secondGumbel?: Float32Array | undefined;
  /** float32[M * K]: U(0, 1), 'random' priority. */
  readonly priorityDraws?: Float32Array | undefined;
}

/** The draws of `config`'s random rules for M tokens, each stream seeded by `seedOf(stream)`. */
export function routingDraws(
  config: ResolvedTokenChoiceRouterConfig,
  m: number,
  seedOf: (stream: number) => number,
): RoutingDraws {
  const { numExperts: e, topK: k, secondExpertPolicy, priority } = config;
  const uniform = (size: number, stream: number, low = 0) =>
    tf.tidy(
      () => tf.randomUniform([size], low, 1, 'float32', seedOf(stream)).dataSync() as Float32Array,
    );
  const draws: { -readonly [K in keyof RoutingDraws]: RoutingDraws[K] } = {};
  if (secondExpertPolicy === 'random') draws.secondDraws = uniform(m, SECOND_EXPERT_STREAM);
  if (secondExpertPolicy === 'sampled')
    // Gumbel(0, 1) = -log(-log U), U kept off 0 (DeepSpeed's gumbel_rsample).
    draws.secondGumbel = uniform(m * e, SECOND_EXPERT_STREAM, 1e-20).map(
      (u) => -Math.log(-Math.log(u)),
    );
  if (priority === 'random') draws.priorityDraws = uniform(m * k, PRIORITY_STREAM);
  return draws;
}
