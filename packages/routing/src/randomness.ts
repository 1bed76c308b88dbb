// Where a router's randomness comes from: the seed the caller passes with each call
// (RouteOptions.rngSeed, derived by the model from the run seed, step, replica, block and
// stage with core's deriveSeed), split into one stream per use. Routers keep no call counters:
// the same call draws the same noise, so a resumed run continues the noise of the uninterrupted
// run, and replicas, blocks and stages draw their own.
import { deriveSeed } from '@moderoute/core';

/** Stream of the multiplicative input jitter (Switch Transformers, Fedus et al. 2021, s2.4). */
export const JITTER_STREAM = 1;
/** Stream of noisy top-k gating's standard normal noise (Shazeer et al. 2017, eq. 4). */
export const GATING_NOISE_STREAM = 2;
/** Stream of GShard's random second-expert dispatch (Lepikhin et al. 2020, Algorithm 1). */
export const SECOND_EXPERT_STREAM = 3;
/** Stream of DeepSpeed's random token selection (`use_rts`, priority 'random'). */
export const PRIORITY_STREAM = 4;

/**
 * The seed of one stream of a routing call, deriveSeed(rngSeed, stream): from the caller's
 * `rngSeed`, or, when the caller gives none, from the router's own config seed (deterministic:
 * the same noise every call).
 */
export function streamSeed(rngSeed: number | undefined, ownSeed: number, stream: number): number {
  // tfjs reads a seed of 0 as "no seed" (Math.random): map it to 1.
  return deriveSeed(rngSeed ?? ownSeed, stream) || 1;
}
