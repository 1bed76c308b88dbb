// Stacking the per-sequence plans of causal sessions (routeCausally) into one plan over [B, T]
// with a group per sequence: token indices mapped back to the sequences' real positions,
// the layout (expert-major across groups) from layoutAssignments, per-token tensors spread over the padding.
// Axis legend: B batch, T tokens, n_b real tokens of sequence b, E experts, K experts per token,
// N assignments.
import {
  ModerouteError,
  gatherRows,
  scatterAddRows,
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
} from '@moderoute/core';
import { layoutAssignments, type Assignment, layoutIndexTensors } from './assignmentLayout.js';
import { int32 } from './common.js';
import { sumCounts, type RoutingCounts } from './counts.js';
import type {
  ExpertRoutingPlan,
  MixtureOfDepthsPlan,
  RoutingPlan,
  TokenChoicePlan,
} from './plan.js';

/** A sequence's plan over its n real tokens, and where they sit among its T positions. */
export interface SequencePlan<P extends RoutingPlan> {
  readonly plan: P | undefined;
  readonly positions: readonly number[];
}

/** Host int32 values of a tensor. */
function host(tensor: Tensor): Int32Array {
  return tensor.dataSync() as Int32Array;
}

/** Per-sequence [1, n_b, ...] values spread to [1, T, ...] (zero at padding), concatenated to [B, T, ...]. */
function spread<T extends Tensor>(
  parts: readonly (T | undefined)[],
  sequences: readonly SequencePlan<RoutingPlan>[],
  t: number,
  trailing: number[],
  dtype: 'float32' | 'int32',
): T {
  const width = trailing.reduce((a, c) => a * c, 1);
  const rows = parts.map((part, row) => {
    const positions = sequences[row]!.positions;
    if (part === undefined || positions.length === 0) return tf.zeros([1, t, ...trailing], dtype);
    if (positions.length === t) return part;
    // Shape: [1, n_b, ...] -> [n_b, W] scattered to [T, W] -> [1, T, ...]
    const flat = tf.reshape(tf.cast(part, 'float32'), [positions.length, width]) as Tensor2D;
    const full = scatterAddRows(flat, int32(positions) as Tensor1D, t);
    return tf.cast(tf.reshape(full, [1, t, ...trailing]), dtype);
  });
  return tf.concat(rows, 0) as T;
}

/** Losses averaged over sequences, weighted by their real tokens. */
function meanLosses(
  plans: readonly (RoutingPlan | undefined)[],
  tokens: readonly number[],
): Record<string, Scalar> {
  const total = tokens.reduce((a, c) => a + c, 0);
  const sums: Record<string, Scalar> = {};
  plans.forEach((plan, row) => {
    if (plan === undefined) return;
    for (const [name, loss] of Object.entries(plan.auxLosses)) {
      const weighted = tf.mul(loss, (tokens[row] as number) / total) as Scalar;
      sums[name] = sums[name] === undefined ? weighted : (tf.add(sums[name], weighted) as Scalar);
    }
  });
  return sums;
}

/** The per-sequence plans of routeCausally as one plan over [B, T], a group per sequence. */
export function stackPlans(
  sequences: readonly SequencePlan<RoutingPlan>[],
  b: number,
  t: number,
  kind: RoutingPlan['kind'],
): RoutingPlan {
  const plans = sequences.map((s) => s.plan);
  const tokens = sequences.map((s) => s.positions.length);
  const auxLosses = meanLosses(plans, tokens);
  // The sequences' counts, added: every sequence's plan counts its own real tokens.
  const counts = sumCounts(plans.flatMap((p) => (p === undefined ? [] : [p.counts])));
  if (kind === 'mixture-of-depths') {
    const depth = plans as readonly (MixtureOfDepthsPlan | undefined)[];
    const tokenIndex: number[] = [];
    const positions: number[] = [];
    const rowCounts = depth.map((plan, row) => {
      if (plan === undefined) return 0;
      const at = sequences[row]!.positions;
      for (const i of host(plan.tokenIndex)) {
        tokenIndex.push(row * t + (at[i] as number));
        positions.push(at[i] as number);
      }
      return plan.tokenIndex.shape[0];
    });
    const selected = tokenIndex.length;
    const first = depth.find((p) => p !== undefined);
    const withPredictor = first?.predictorLogits !== undefined;
    return {
      kind: 'mixture-of-depths',
      mode: first?.mode ?? 'threshold',
      batchSize: b,
      seqLen: t,
      capacity: Math.max(0, ...rowCounts),
      rowCounts,
      tokenIndex: int32(tokenIndex) as Tensor1D,
      positions: int32(positions) as Tensor1D,
      combineWeights: (selected === 0
        ? tf.zeros([0])
        : tf.concat(depth.flatMap((p) => (p === undefined ? [] : [p.combineWeights])))) as Tensor1D,
      // Shape: [1, n_b] each -> [B, T]
      routerLogits: tf.reshape(
        spread(
          depth.map((p) => p?.routerLogits),
          sequences,
          t,
          [],
          'float32',
        ),
        [b, t],
      ) as Tensor2D,
      ...(withPredictor
        ? {
            predictorLogits: tf.reshape(
              spread(
                depth.map((p) => p?.predictorLogits),
                sequences,
                t,
                [],
                'float32',
              ),
              [b, t],
            ) as Tensor2D,
          }
        : {}),
      auxLosses,
      counts,
    };
  }
  return stackExpertPlans(sequences, b, t, auxLosses, counts);
}

/** Expert plans of the sequences as one plan with a group per sequence, expert-major. */
function stackExpertPlans(
  sequences: readonly SequencePlan<RoutingPlan>[],
  b: number,
  t: number,
  auxLosses: Record<string, Scalar>,
  counts: RoutingCounts,
): ExpertRoutingPlan {
  const plans = sequences.map((s) => s.plan as ExpertRoutingPlan | undefined);
  const first = plans.find((p) => p !== undefined);
  if (first === undefined) throw new ModerouteError('routeCausally: a batch with no real token');
  const e = first.numExperts;
  const capacity = Math.max(...plans.map((p) => p?.capacity ?? 0));
  // Every sequence's kept assignments, its group the sequence, its token the position among T,
  // carrying the index of its weight among the sequences' concatenated weights.
  const assignments: Assignment[] = [];
  let base = 0;
  plans.forEach((p, row) => {
    if (p === undefined) return;
    const at = sequences[row]!.positions;
    const [token, expert, slot] = [host(p.tokenIndex), host(p.expertIndex), host(p.slotIndex)];
    token.forEach((i, j) =>
      assignments.push({
        token: row * t + (at[i] as number),
        expert: expert[j] as number,
        group: row,
        slot: slot[j] as number,
        source: base + j,
      }),
    );
    base += token.length;
  });
  const layout = layoutAssignments(assignments, { numExperts: e, numGroups: b, capacity });
  const order = layout.sources;
  const all = plans.flatMap((p) => (p === undefined ? [] : [p.combineWeights]));
  const combineWeights = (
    order.length === 0
      ? tf.zeros([0])
      : gatherRows(tf.concat(all) as Tensor1D, int32(order) as Tensor1D)
  ) as Tensor1D;
  const topK = first.kind === 'token-choice' ? first.topK : 1;
  const common = {
    batchSize: b,
    seqLen: t,
    numExperts: e,
    numGroups: b,
    groupSize: t,
    capacity,
    ...layoutIndexTensors(layout),
    combineWeights,
    ...(first.routerProbs !== undefined
      ? {
          routerProbs: spread(
            plans.map((p) => p?.routerProbs),
            sequences,
            t,
            [e],
            'float32',
          ),
        }
      : {}),
    ...(first.routerLogits !== undefined
      ? {
          routerLogits: spread(
            plans.map((p) => p?.routerLogits),
            sequences,
            t,
            [e],
            'float32',
          ),
        }
      : {}),
    auxLosses,
  };
  if (first.kind === 'expert-choice') return { ...common, kind: 'expert-choice', counts };
  const choicePlans = plans as readonly (TokenChoicePlan | undefined)[];
  return {
    ...common,
    kind: 'token-choice',
    topK,
    choices: spread(
      choicePlans.map((p) => p?.choices),
      sequences,
      t,
      [topK],
      'int32',
    ),
    choiceKept: spread(
      choicePlans.map((p) => p?.choiceKept),
      sequences,
      t,
      [topK],
      'int32',
    ),
    counts,
  };
}
