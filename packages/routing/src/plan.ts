// RoutingPlan: what a router decided, as integer indices plus differentiable combine weights.
// Axis legend: B batch, T tokens per sequence, D model width, E experts, K experts per token,
// G groups (sequences, or one group for the whole batch), C capacity per expert per group,
// N routed assignments (variable; dropped or unselected tokens have none).
//
// Every plan lists its assignments flat: assignment n sends token tokenIndex[n] (b * T + t, a row
// of x reshaped to [B*T, D]) through the computation and weighs its output by combineWeights[n].
// No dense [T, E, C] mask exists anywhere. Expert plans order assignments by (expert, group, slot),
// so each expert's rows are contiguous and expertCounts gives the split sizes.
import {
  ModerouteError,
  ShapeError,
  gatherRows,
  routedResidual,
  scatterAddRows,
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import type { CapacityPolicy } from './CapacityPolicy.js';
import type { RoutingCounts } from './counts.js';
import type { RouterStatistics } from './statistics.js';

/** The kind of a routing plan, and of the router that makes it. */
export type RoutingKind = 'token-choice' | 'expert-choice' | 'mixture-of-depths';

/**
 * How routing decides: non-causal top-k, or a causal rule (Router.ts CausalMode): 'threshold' or
 * 'predictor' for Mixture-of-Depths stages; 'causal' leaves each router its default causal rule.
 * Under a causal rule, every stage whose router has a causal form decides through its causal
 * sessions, one per sequence.
 */
export type DecisionMode = 'top-k' | 'threshold' | 'predictor' | 'causal';
/** Every decision mode: top-k, then the causal rules. */
export const DECISION_MODES: readonly DecisionMode[] = [
  'top-k',
  'threshold',
  'predictor',
  'causal',
];

/**
 * Decision values of sample tokens for calibrating a Mixture-of-Depths router's causal rules
 * (Router.calibrateCausalCuts): real tokens only, routed in the top-k pass with the weights the
 * rules will decide with.
 */
export interface CausalCutSamples {
  /** T of the sequences the samples came from: top-k keeps k(T) / T of them. */
  readonly seqLen: number;
  /** The block's capacity for the router's stage, giving k(T) (default: the router's defaultCapacity). */
  readonly capacity?: CapacityPolicy;
  /** The router logits r (the threshold rule's decision values). */
  readonly threshold?: Float32Array;
  /** The predictor's logits (the predictor rule's). */
  readonly predictor?: Float32Array;
}

/** Agreement of a causal decision rule with the non-causal top-k choice, over real tokens. */
export interface CausalScores {
  /** Fraction of tokens where the rule and top-k agree. */
  readonly accuracy: number;
  /** Of the tokens the rule selects, the fraction top-k selects (0 when the rule selects none). */
  readonly precision: number;
  /** Of the tokens top-k selects, the fraction the rule selects (0 when top-k selects none). */
  readonly recall: number;
}

/** Ratios for display, from a plan's counts (metricsOf in counts.ts). */
export interface RoutingMetrics {
  /** Tokens routed to each expert (summed over groups); MoD: [selected tokens]. */
  readonly load: readonly number[];
  /**
   * Token-choice: fraction of real (token, choice) pairs dropped for capacity. Expert-choice:
   * fraction of real tokens no expert took. MoD: fraction of real tokens not selected.
   */
  readonly droppedFraction: number;
  /** Mean entropy of the router distribution over real tokens, in nats (MoD: of sigmoid(r)). */
  readonly entropy: number;
  /** Expert-choice: fraction of real tokens that got j experts, j = 0..E. */
  readonly expertsPerToken?: readonly number[];
  /** Expert-choice: mean number of experts per real token. */
  readonly meanExpertsPerToken?: number;
  /** MoD: agreement of the configured causal rule(s) with top-k. */
  readonly causal?: { readonly threshold?: CausalScores; readonly predictor?: CausalScores };
}

interface PlanBase {
  readonly batchSize: number;
  readonly seqLen: number;
  /** int32[N]: flat token b * T + t of each assignment. */
  readonly tokenIndex: Tensor1D;
  /** float32[N]: weight of each assignment's output; on the gradient path to the router. */
  readonly combineWeights: Tensor1D;
  /** Capacity used: per expert per group (expert plans), per sequence (MoD). */
  readonly capacity: number;
  /** Named auxiliary losses, scalars already multiplied by their coefficients. */
  readonly auxLosses: Readonly<Record<string, Scalar>>;
  /**
   * What a training call observed for the router's learned state (MoD: `thresholdCut`,
   * `predictorCut`), as additive sums and counts; the training step folds them
   * (Router.foldStatistics). Absent when there is nothing to fold.
   */
  readonly statistics?: RouterStatistics;
  /**
   * What the router decided, as integer counts (counts.ts: one shared function computes them);
   * metricsOf(counts) gives the ratios for display. Aggregate counts, never ratios.
   */
  readonly counts: RoutingCounts;
}

interface ExpertPlanBase extends PlanBase {
  readonly numExperts: number;
  /** G: B for per-sequence groups, 1 for a batch-wide group. */
  readonly numGroups: number;
  /** n: tokens per group (T or B * T). */
  readonly groupSize: number;
  /** int32[N]: expert of each assignment (non-decreasing). */
  readonly expertIndex: Tensor1D;
  /** int32[N]: slot of each assignment in its expert's buffer for its group, in [0, C). */
  readonly slotIndex: Tensor1D;
  /** int32[N]: (expert * G + group) * C + slot, a row of an expert-major [E * G * C, D] buffer. */
  readonly bufferIndex: Tensor1D;
  /** Assignments per expert (host numbers; they sum to N and split tokenIndex by expert). */
  readonly expertCounts: readonly number[];
  /** float32[B, T, E] router logits (absent for routers without a learned distribution). */
  readonly routerLogits?: Tensor3D;
  /** float32[B, T, E] router probabilities (absent for routers without a learned distribution). */
  readonly routerProbs?: Tensor3D;
}

/** Each token chose its top-K experts; experts kept what fit their capacity. */
export interface TokenChoicePlan extends ExpertPlanBase {
  readonly kind: 'token-choice';
  readonly topK: number;
  /** int32[B, T, K]: each token's experts in preference order (before capacity). */
  readonly choices: Tensor3D;
  /** int32[B, T, K]: 1 where the choice was kept, 0 where dropped (or the token is padding). */
  readonly choiceKept: Tensor3D;
}

/** Each expert chose its top-C tokens of each group (Zhou et al. 2022). */
export interface ExpertChoicePlan extends ExpertPlanBase {
  readonly kind: 'expert-choice';
}

/** Mixture-of-Depths: the tokens of each sequence that go through the block. */
export interface MixtureOfDepthsPlan extends PlanBase {
  readonly kind: 'mixture-of-depths';
  readonly mode: DecisionMode;
  /** Selected tokens per sequence (host numbers); assignments are ordered by (b, t). */
  readonly rowCounts: readonly number[];
  /** int32[N]: position t of each selected token within its sequence (ascending per sequence). */
  readonly positions: Tensor1D;
  /** float32[B, T]: the router's scalar logits r (on the gradient path). */
  readonly routerLogits: Tensor2D;
  /** float32[B, T]: the predictor's logits, when the router has a predictor. */
  readonly predictorLogits?: Tensor2D;
}

/** What a router decided for one call: a tagged union of index plans (switch on `kind`). */
export type RoutingPlan = TokenChoicePlan | ExpertChoicePlan | MixtureOfDepthsPlan;
/** A plan that sends tokens to experts: token-choice or expert-choice. */
export type ExpertRoutingPlan = TokenChoicePlan | ExpertChoicePlan;

/** Exhaustiveness helper for `switch (plan.kind)`. */
export function assertNever(value: never): never {
  throw new ModerouteError(
    `Unknown routing plan kind: ${JSON.stringify((value as { kind?: unknown })?.kind ?? value)}`,
  );
}

/** The number of assignments N. */
export function assignmentCount(plan: RoutingPlan): number {
  return plan.tokenIndex.shape[0];
}

/** Disposes every tensor a plan holds. */
export function disposePlan(plan: RoutingPlan): void {
  const tensors: Tensor[] = [
    plan.tokenIndex,
    plan.combineWeights,
    ...Object.values(plan.auxLosses),
  ];
  switch (plan.kind) {
    case 'token-choice':
    case 'expert-choice':
      if (plan.kind === 'token-choice') tensors.push(plan.choices, plan.choiceKept);
      tensors.push(plan.expertIndex, plan.slotIndex, plan.bufferIndex);
      if (plan.routerLogits) tensors.push(plan.routerLogits);
      if (plan.routerProbs) tensors.push(plan.routerProbs);
      break;
    case 'mixture-of-depths':
      tensors.push(plan.positions, plan.routerLogits);
      if (plan.predictorLogits) tensors.push(plan.predictorLogits);
      break;
    default:
      assertNever(plan);
  }
  tf.dispose(tensors);
}

/**
 * The routed rows of x: float32[B, T, D] -> float32[N, D], row n = x[tokenIndex[n]].
 * Differentiable in x (the backward scatter-adds, core's gatherRows).
 */
export function dispatchRows(plan: RoutingPlan, x: Tensor3D): Tensor2D {
  const [b, t, d] = x.shape;
  if (x.rank !== 3 || b !== plan.batchSize || t !== plan.seqLen) {
    throw new ShapeError(
      'x.shape',
      x.shape,
      `[${plan.batchSize}, ${plan.seqLen}, D] to match the plan`,
    );
  }
  const n = assignmentCount(plan);
  if (n === 0) return tf.zeros([0, d]);
  // Shape: [B, T, D] -> [B*T, D]; gather at tokenIndex -> [N, D]
  return gatherRows(tf.reshape(x, [b * t, d]) as Tensor2D, plan.tokenIndex);
}

/** The sizes of per-assignment rows y float32[N, D] of `plan`, after checking y's shape. */
function assignmentRows(plan: RoutingPlan, y: Tensor2D) {
  const n = assignmentCount(plan);
  if (y.rank !== 2 || y.shape[0] !== n)
    throw new ShapeError('y.shape', y.shape, `[${n}, D] (one row per assignment)`);
  return { n, b: plan.batchSize, t: plan.seqLen, d: y.shape[1] };
}

/**
 * Weighted scatter-add of per-assignment outputs back to tokens: float32[N, D] -> float32[B, T, D],
 * out[token] = sum over the token's assignments n of combineWeights[n] * y[n]. Tokens with no
 * assignment get exactly zero. `weighted: false` skips the weights.
 */
export function combineRows(
  plan: RoutingPlan,
  y: Tensor2D,
  options: { readonly weighted?: boolean } = {},
): Tensor3D {
  const { n, b, t, d } = assignmentRows(plan, y);
  if (n === 0) return tf.zeros([b, t, d]);
  // Shape: weights [N] -> [N, 1]
  const rows = options.weighted === false ? y : tf.mul(y, tf.reshape(plan.combineWeights, [n, 1]));
  // Shape: scatter [N, D] into [B*T, D] -> [B, T, D]
  return tf.reshape(scatterAddRows(rows, plan.tokenIndex, b * t), [b, t, d]);
}

/**
 * The residual x plus the combined rows: x + combineRows(plan, y), float32[B, T, D], as one
 * primitive (core's routedResidual: one kernel each way on wasm). Raposo et al. 2024, eq. 1:
 * x_i + r_i f(x_i) for a routed token i, exactly x_i for the others.
 */
export function addCombinedRows(x: Tensor3D, plan: RoutingPlan, y: Tensor2D): Tensor3D {
  const { n, b, t, d } = assignmentRows(plan, y);
  if (x.rank !== 3 || x.shape[0] !== b || x.shape[1] !== t || x.shape[2] !== d)
    throw new ShapeError('x.shape', x.shape, `[${b}, ${t}, ${d}] to match the plan and y`);
  if (n === 0) return tf.clone(x);
  // Shape: [B, T, D] -> [B*T, D] -> [B, T, D]
  const flat = tf.reshape(x, [b * t, d]) as Tensor2D;
  return tf.reshape(routedResidual(flat, y, plan.combineWeights, plan.tokenIndex), [b, t, d]);
}
