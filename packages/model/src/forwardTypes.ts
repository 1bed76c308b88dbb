// What a forward pass of the LanguageModel takes and returns, and its FLOP count (the model's
// options and results, apart from the model itself in LanguageModel.ts).
import type { Scalar, Tensor, Tensor3D } from '@moderoute/core';
import type { BlockFlops } from '@moderoute/blocks';
import type { DecisionMode, RoutingPlan } from '@moderoute/routing';

/**
 * Options of a forward pass: training mode, padding mask, decision rule, and the step, replica and
 * seed that key routing randomness.
 */
export interface ForwardOptions {
  /** Training mode (router jitter, training capacity). Default false. */
  readonly training?: boolean;
  /** float32[B, T]: 1 for real tokens, 0 for padding. */
  readonly mask?: Tensor;
  /**
   * Decision rule: 'top-k' (default) or a causal rule, under which every stage whose router has a
   * causal form decides through one causal session per sequence, as decoding does.
   */
  readonly mode?: DecisionMode;
  /** Under a causal rule: the length at which causal expert capacity is evaluated (default contextLength). */
  readonly capacityLength?: number;
  /**
   * The training step this pass belongs to: with it, block i's routing randomness (jitter,
   * noisy gating) is keyed by deriveSeed(seed, step, replica, i) (each stage then by
   * deriveSeed(that, stage)), so a resumed run draws what the uninterrupted one drew and replicas
   * draw distinct noise. Without it the routers use their own seeds (the same noise every pass).
   */
  readonly step?: number;
  /** Data-parallel replica computing this pass (default 0, the training thread). */
  readonly replica?: number;
  /** Run seed of the routing randomness (default the model's config seed). */
  readonly seed?: number;
}

/**
 * What a forward pass returns: logits, the auxiliary losses (weighted total and by name), and each
 * block's routing plans.
 */
export interface ForwardResult {
  /** float32[B, T, V]. */
  readonly logits: Tensor3D;
  /** Sum of every block's auxiliary losses, each times its auxLossWeights entry. */
  readonly auxLoss: Scalar;
  /** Each auxiliary loss, unweighted by the model, as `blocks.<i>.<name>`. */
  readonly auxLosses: Readonly<Record<string, Scalar>>;
  /** Per block: the routing plans it acted on (empty for dense blocks). */
  readonly routing: readonly Readonly<Record<string, RoutingPlan>>[];
}

/** A forward pass with its next-token loss and the total training loss. */
export interface LossResult extends ForwardResult {
  /** Mean next-token cross-entropy in nats over real tokens. */
  readonly lmLoss: Scalar;
  /** lmLoss + auxLoss: what training minimises. */
  readonly loss: Scalar;
}

/** FLOPs of one forward pass over one sequence, by part. */
export interface ModelFlops {
  readonly blocks: readonly BlockFlops[];
  readonly head: number;
  /** Forward FLOPs per sequence. */
  readonly forward: number;
  /** Training FLOPs per sequence: 3 x forward (backward = 2 x forward). */
  readonly training: number;
}
