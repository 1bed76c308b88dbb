// The expert half of a Mixture-of-Experts block, shared by its forward pass and its decoder: the
// routed experts' weighted outputs, and the shared experts' sum.
// Axis legend: B batch, T tokens, D width, N assignments, E experts.
import { tf, type Tensor2D, type Tensor3D } from '@moderoute/core';
import { combineRows, dispatchRows, type ExpertRoutingPlan } from '@moderoute/routing';
import type { ExpertBank } from './ExpertBank.js';

/**
 * Runs the expert rows of `plan` over `u` float32[B', T', D] and combines them:
 * float32[B', T', D] of weighted expert outputs, zero for tokens without an assignment. Only
 * assignments to experts 0..experts.size-1 run; later experts (integrated MoDE's no-ops) are
 * residual-only and contribute nothing.
 */
export function expertUpdate(plan: ExpertRoutingPlan, u: Tensor3D, experts: ExpertBank): Tensor3D {
  const counts = plan.expertCounts.slice(0, experts.size);
  const real = counts.reduce((a, c) => a + c, 0);
  const total = plan.tokenIndex.shape[0];
  if (real === 0) return tf.zerosLike(u);
  // Assignments are expert-major, so the real experts' rows come first.
  const restricted: ExpertRoutingPlan =
    real === total
      ? plan
      : {
          ...plan,
          tokenIndex: tf.slice(plan.tokenIndex, 0, real),
          combineWeights: tf.slice(plan.combineWeights, 0, real),
        };
  // Shape: [B', T', D] -> [N, D] -> experts -> [N, D] -> [B', T', D]
  const y: Tensor2D = experts.apply(dispatchRows(restricted, u), counts);
  return combineRows(restricted, y);
}

/** The shared experts' sum over every token: u float32[B, T, D] -> float32[B, T, D]. */
export function sharedUpdate(shared: ExpertBank, u: Tensor3D): Tensor3D {
  const [b, t, d] = u.shape;
  // Shape: [B, T, D] -> [B*T, D] -> [B, T, D]
  return tf.reshape(shared.applyAll(tf.reshape(u, [b * t, d]) as Tensor2D), [b, t, d]);
}
