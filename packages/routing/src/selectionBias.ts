// DeepSeek-V3's auxiliary-loss-free load balancing (Wang et al. 2024, "Auxiliary-Loss-Free Load
// Balancing Strategy for Mixture-of-Experts", Algorithm 1; DeepSeek-V3 report section 2.1.2,
// eq. 16): a per-expert bias b_i added to the scores for the top-K selection only (the combine
// weights stay the unbiased scores), and, after each training step, b_i += gamma * sign(mean load
// - load_i). The bias is router state, not a parameter: a training-mode route returns each
// expert's load in plan.statistics, and Router.foldStatistics applies the step's update once,
// from every replica's loads, on the thread that owns the parameters. Axis legend: M tokens,
// E experts, K experts per token.
import { tf, type Variable } from '@moderoute/core';
import type { ParameterScope } from './ParameterScope.js';
import { sumStatistics, type RouterStatistics } from './statistics.js';

/** Prefix of the per-expert load statistics: `selectionLoad.<expert>`. */
export const SELECTION_LOAD = 'selectionLoad';

/** The bias b float32[E] as `selectionBias` of `scope`, starting at zero, not trainable. */
export function selectionBiasBuffer(scope: ParameterScope, numExperts: number): Variable {
  return scope.variable('selectionBias', [numExperts], () => tf.zeros([numExperts]), false);
}

/**
 * The selection scores s_i + b_i, float32[M * E] (rounded to float32, as the reference adds them
 * in float32), from the scores `p` float32[M * E] and the bias float32[E].
 */
export function biasedSelection(p: ArrayLike<number>, bias: Float32Array): Float32Array {
  const e = bias.length;
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = (p[i] as number) + (bias[i % e] as number);
  return out;
}

/**
 * The load of each expert in one routing call: the (token, choice) pairs of real tokens that
 * selected it (before capacity), as `selectionLoad.<i>` = {sum: load_i, count: 1}.
 */
export function selectionLoadStatistics(
  choices: Int32Array,
  valid: Uint8Array,
  numExperts: number,
  topK: number,
): RouterStatistics {
  const load = new Float64Array(numExperts);
  for (let tok = 0; tok < valid.length; tok++)
    if (valid[tok]) for (let r = 0; r < topK; r++) load[choices[tok * topK + r] as number]! += 1;
  const out: Record<string, { sum: number; count: number }> = {};
  load.forEach((sum, i) => (out[`${SELECTION_LOAD}.${i}`] = { sum, count: 1 }));
  return out;
}

/**
 * The bias after one training step, b_i + rate * sign(mean_j load_j - load_i), from the step's
 * statistics (every replica's; loads summed); unchanged when the step routed nothing.
 */
export function updatedBias(
  bias: Float32Array,
  statistics: readonly RouterStatistics[],
  rate: number,
): Float32Array | undefined {
  const total = sumStatistics(statistics);
  const e = bias.length;
  const load = Array.from({ length: e }, (_, i) => total[`${SELECTION_LOAD}.${i}`]?.sum ?? 0);
  if (load.every((l) => l === 0)) return undefined;
  const mean = load.reduce((a, l) => a + l, 0) / e;
  return Float32Array.from(bias, (b, i) => b + rate * Math.sign(mean - (load[i] as number)));
}

/** Folds one step's statistics into the bias buffer (updatedBias). */
export function foldSelectionBias(
  buffer: Variable,
  statistics: readonly RouterStatistics[],
  rate: number,
): void {
  const next = updatedBias(buffer.dataSync() as Float32Array, statistics, rate);
  if (next !== undefined) tf.tidy(() => buffer.assign(tf.tensor1d(next)));
}
