// What ProjectionHashRouter's route() and its causal sessions share: the hash scores of a batch
// (s = x R and each token's top-K experts) and the assembly of a token-choice plan from the kept
// (token, slot) lists of each expert and group, laid out by the routing package's layoutAssignments.
// Axis legend: B batch, T tokens, D width, M = B*T tokens, E experts, K experts per token,
// G groups, N kept assignments.
import {
  gatherRows,
  tf,
  type Scalar,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import {
  layoutAssignments,
  routingCounts,
  stopGradient,
  topKOf,
  type TokenChoicePlan,
} from '@moderoute/routing';

/** A kept assignment: the token (b * T + t) and its slot in its expert's buffer. */
export interface Slot {
  readonly token: number;
  readonly slot: number;
}

/** A batch's hash scores (tensors of the enclosing tidy) and each token's top-K experts. */
export interface Scored {
  /** float32[M, D]. */
  readonly rows: Tensor2D;
  /** float32[M, E] logits and softmax probabilities. */
  readonly logits: Tensor2D;
  readonly probs: Tensor2D;
  readonly p: ArrayLike<number>;
  /** int32[M * K], best first (ties to the lower expert). */
  readonly choices: Int32Array;
}

/** Scores rows float32[M, D] by the fixed projection float32[D, E]; call inside a tidy. */
export function scoreTokens(rows: Tensor2D, projection: Tensor2D, e: number, k: number): Scored {
  const m = rows.shape[0];
  // Shape: [M, D] @ [D, E] -> [M, E]: hash scores, read on the host only
  const logits = tf.matMul(stopGradient(rows) as Tensor2D, projection) as Tensor2D;
  const probs = tf.softmax(logits) as Tensor2D;
  const p = probs.dataSync();
  const experts = Array.from({ length: e }, (_, i) => i);
  const choices = new Int32Array(m * k);
  for (let tok = 0; tok < m; tok++)
    choices.set(
      topKOf(experts, k, (ex) => p[tok * e + ex]!),
      tok * k,
    );
  return { rows, logits, probs, p, choices };
}

export interface PlanParts {
  readonly x: Tensor3D;
  readonly scored: Scored;
  /** Kept assignments per expert per group, in slot order. */
  readonly lists: Slot[][][];
  /** int32[M * K]: 1 where a choice was kept. */
  readonly kept: Int32Array;
  readonly capacity: number;
  readonly valid: readonly boolean[];
  /** Choices of real tokens (kept or dropped). */
  readonly realChoices: number;
  /** float32[M]: each token's combine weight (the learned gate). */
  readonly gate: Tensor1D;
  readonly numExperts: number;
  readonly topK: number;
}

/** The plan, assignments ordered by (expert, group, slot); call inside a tidy. */
export function assemblePlan(parts: PlanParts): TokenChoicePlan {
  const { x, scored, lists, kept, capacity, valid, gate } = parts;
  const { numExperts: e, topK: k } = parts;
  const [b, t] = [x.shape[0], x.shape[1]];
  const m = b * t;
  const groups = lists[0]?.length ?? b;
  // The layout (buffer rows, (expert, group, slot) order, per-expert counts) from the one shared
  // function of @moderoute/routing.
  const layout = layoutAssignments(
    lists.flatMap((perGroup, expert) =>
      perGroup.flatMap((list, group) =>
        list.map(({ token, slot }) => ({ token, expert, group, slot })),
      ),
    ),
    { numExperts: e, numGroups: groups, capacity },
  );
  const { tokenIndex, expertIndex } = layout;
  const n = tokenIndex.length;
  const tokens = tf.tensor1d(tokenIndex, 'int32');
  const combineWeights = n === 0 ? (tf.zeros([0]) as Tensor1D) : gatherRows(gate, tokens);
  const p = scored.p;
  return {
    kind: 'token-choice',
    batchSize: b,
    seqLen: t,
    numExperts: e,
    topK: k,
    numGroups: groups,
    groupSize: m / groups,
    capacity,
    tokenIndex: tokens,
    expertIndex: tf.tensor1d(expertIndex, 'int32'),
    slotIndex: tf.tensor1d(layout.slotIndex, 'int32'),
    bufferIndex: tf.tensor1d(layout.bufferIndex, 'int32'),
    expertCounts: layout.expertCounts,
    combineWeights,
    // Shape: [M, E] -> [B, T, E]; [M*K] -> [B, T, K]
    routerLogits: tf.reshape(scored.logits, [b, t, e]) as Tensor3D,
    routerProbs: tf.reshape(scored.probs, [b, t, e]) as Tensor3D,
    choices: tf.tensor3d(scored.choices, [b, t, k], 'int32'),
    choiceKept: tf.tensor3d(kept, [b, t, k], 'int32'),
    auxLosses: {} as Record<string, Scalar>,
    // The shared count function of @moderoute/routing: drops per (token, choice), entropy of
    // the hash scores' softmax over real tokens.
    counts: routingCounts({
      valid: valid.map((v) => (v ? 1 : 0)),
      numExperts: e,
      tokenIndex,
      expertIndex,
      choicesPerToken: k,
      entropy: { kind: 'categorical', probs: p, width: e },
    }),
  };
}
