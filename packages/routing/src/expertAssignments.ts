// Shared pieces of the expert routers (token-choice and expert-choice): router logits and
// probabilities, and the per-expert, per-group slot lists of the host selection, laid out by
// assignmentLayout.ts. Axis legend: B batch, T tokens, D width, M = B*T tokens, E experts, G groups,
// n tokens per group, C capacity, N assignments.
import {
  ConfigError,
  ShapeError,
  linear,
  requireOneOf,
  tf,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { layoutAssignments, type AssignmentArrays } from './assignmentLayout.js';
import { checkRouteInput, int32, isTensor } from './common.js';

/** One kept assignment: token m and the index of its weight in the weight table. */
export interface Slot {
  readonly token: number;
  readonly source: number;
}

/** Flattens slots[e][g] (each in slot order: slot = place in its list) into assignment arrays. */
export function flattenSlots(
  slots: Slot[][][],
  numGroups: number,
  capacity: number,
): AssignmentArrays {
  const assignments = slots.flatMap((perGroup, expert) =>
    perGroup.flatMap((list, group) =>
      list.map(({ token, source }, slot) => ({ token, expert, group, slot, source })),
    ),
  );
  return layoutAssignments(assignments, { numExperts: slots.length, numGroups, capacity });
}

/** Empty slots[E][G]. */
export function emptySlots(numExperts: number, numGroups: number): Slot[][][] {
  return Array.from({ length: numExperts }, () =>
    Array.from({ length: numGroups }, () => [] as Slot[]),
  );
}

/**
 * Router logits and probabilities: x float32[B, T, D] (optionally jittered) through W float32[D, E].
 * Switch (Fedus et al. 2021, section 2.4): the router runs in float32; jitter multiplies the
 * router input by U(1 - eps, 1 + eps) in training only.
 */
export function routerDistribution(
  x: Tensor3D,
  weight: Variable,
  jitter: number,
  jitterSeed: number | undefined,
): { logits: Tensor2D; probs: Tensor2D } {
  const [b, t, d] = x.shape;
  let input: Tensor = x;
  if (jitterSeed !== undefined && jitter > 0)
    input = tf.mul(x, tf.randomUniform(x.shape, 1 - jitter, 1 + jitter, 'float32', jitterSeed));
  // Shape: [B, T, D] -> [M, D] -> [M, E]
  const logits = linear(tf.reshape(input, [b * t, d]) as Tensor2D, weight as Tensor2D);
  return { logits, probs: tf.softmax(logits) };
}

/** Combine weights: the weight table gathered at `sources` (differentiable; N = 0 gives []). */
export function gatherWeights(
  table: Tensor1D,
  sources: Int32Array,
  gather: (t: Tensor1D, i: Tensor1D) => Tensor1D,
): Tensor1D {
  if (sources.length === 0) return tf.zeros([0]);
  return gather(table, int32(sources) as Tensor1D);
}

/** What an expert router's routeScores is given: router logits, or scores after the score function. */
export type GivenScores = 'logits' | 'scores';

/**
 * Validates routeScores' input: scores float32[B, T, E], an optional mask [B, T], and `given`
 * (the z-loss needs logits). Returns the scores flattened to float32[M, E] (call inside a tidy)
 * and what they are.
 */
export function givenScores(
  scores: unknown,
  numExperts: number,
  mask: unknown,
  given: unknown,
  zLossCoefficient: number,
): { flat: Tensor2D; given: GivenScores } {
  const e = numExperts;
  if (
    !isTensor(scores) ||
    scores.rank !== 3 ||
    scores.shape[2] !== e ||
    scores.dtype !== 'float32'
  ) {
    throw new ShapeError(
      'scores',
      isTensor(scores) ? `${scores.dtype}[${scores.shape.join(', ')}]` : typeof scores,
      `float32[B, T, ${e}] (numExperts is ${e})`,
    );
  }
  const [b, t] = scores.shape as [number, number, number];
  checkRouteInput(tf.zeros([b, t, 1]) as Tensor3D, 1, mask);
  const kind = requireOneOf('given', given ?? 'logits', ['logits', 'scores'] as const);
  if (kind === 'scores' && zLossCoefficient > 0)
    throw new ConfigError(
      'given',
      kind,
      '"logits" when zLossCoefficient > 0 (the z-loss is a function of the logits)',
    );
  // Shape: [B, T, E] -> [M, E]
  return { flat: tf.reshape(scores, [b * t, e]), given: kind };
}
