// Routing a batch under a causal rule: one fresh causal session per sequence (Router.causal),
// stepped once over the sequence's real tokens, and the per-sequence plans stacked into one plan
// over [B, T]. Decoding steps the same sessions token by token, so the forward pass under a
// causal rule and decoding agree, and a sequence's decisions never depend on the other sequences
// of its batch. Axis legend: B batch, T tokens, D width, n_b real tokens of sequence b, E experts,
// K experts per token, N assignments.
import {
  ModerouteError,
  gatherRows,
  tf,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { int32, readValidity } from './common.js';
import type { RoutingPlan } from './plan.js';
import type { CausalContext, Router } from './Router.js';
import { stackPlans, type SequencePlan } from './stackPlans.js';

/** Whether a router decides causally (its describe() lists a rule and it has sessions). */
export function hasCausalForm(router: Router): boolean {
  return router.causal !== undefined && router.describe().causalModes.length > 0;
}

/**
 * Routes x float32[B, T, D] (optional mask [B, T]) with one causal session per sequence, over its
 * real tokens only. Call inside tf.tidy: the per-sequence plans are left to the enclosing scope.
 */
export function routeCausally<P extends RoutingPlan>(
  router: Router<P>,
  x: Tensor3D,
  mask: Tensor | undefined,
  context: CausalContext,
): P {
  if (router.causal === undefined)
    throw new ModerouteError(`The ${router.className} router has no causal form`);
  const [b, t, d] = x.shape;
  const valid = readValidity(mask, b * t);
  const sequences: SequencePlan<P>[] = [];
  for (let row = 0; row < b; row++) {
    const positions: number[] = [];
    for (let i = 0; i < t; i++) if (valid[row * t + i]) positions.push(i);
    if (positions.length === 0) {
      sequences.push({ plan: undefined, positions });
      continue;
    }
    // Shape: [B, T, D] -> [1, n_b, D]
    const xs =
      positions.length === t
        ? (tf.slice(x, [row, 0, 0], [1, t, d]) as Tensor3D)
        : (tf.reshape(
            gatherRows(
              tf.reshape(x, [b * t, d]) as Tensor2D,
              int32(positions.map((i) => row * t + i)) as Tensor1D,
            ),
            [1, positions.length, d],
          ) as Tensor3D);
    sequences.push({ plan: router.causal(context).step(xs), positions });
  }
  const only = sequences[0];
  if (b === 1 && only?.plan !== undefined && only.positions.length === t) return only.plan;
  return stackPlans(sequences, b, t, router.kind) as P;
}
