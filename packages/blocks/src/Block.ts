// The contract every decoder block meets, dense or routed, so that the model can stack any
// schedule of them and collect their auxiliary losses and metrics without knowing their kind.
// Axis legend: B batch, T tokens, D model width.
import type { Scalar, Tensor, Tensor2D, Tensor3D } from '@moderoute/core';
import type { CausalMode, DecisionMode, Router, RoutingPlan } from '@moderoute/routing';
import type { BlockDecodeState } from './decoders/kvCache.js';
import type { Stage } from './stages.js';

/** Built-in block kinds. */
export type BlockKind = 'dense' | 'mod' | 'moe' | 'mode-staged' | 'mode-integrated';
/** Every block kind, in the order the docs and configs list them. */
export const BLOCK_KINDS: readonly BlockKind[] = [
  'dense',
  'mod',
  'moe',
  'mode-staged',
  'mode-integrated',
];

/**
 * Options of one `Block.forward` call: mode, padding mask, decision rule and routing randomness.
 */
export interface BlockForwardOptions {
  /** Training mode: router jitter and training capacity apply. */
  readonly training: boolean;
  /** float32[B, T]: 1 for real tokens, 0 for padding (never routed, never attended). */
  readonly mask?: Tensor;
  /**
   * Decision rule: 'top-k' (default; non-causal) or a causal rule, under which every stage whose
   * router has a causal form decides through one causal session per sequence (as decoding does).
   */
  readonly mode?: DecisionMode;
  /**
   * Under a causal rule: the sequence length at which causal expert capacity is evaluated (the
   * model's contextLength; default T), as in decoding.
   */
  readonly capacityLength?: number;
  /**
   * Seed of the block's routing randomness (jitter, noisy gating), derived by the model from
   * (run seed, step, replica, block index); each routing stage gets deriveSeed(rngSeed, its
   * STAGE_STREAMS number). Absent: the routers' own seeds.
   */
  readonly rngSeed?: number;
}

/** How a block decodes. */
export interface BlockDecodeOptions {
  /**
   * Decision rule of Mixture-of-Depths stages ('threshold' or 'predictor'); absent or 'causal':
   * each router's defaultCausalMode. Expert stages use their router's default causal rule.
   */
  readonly mode?: CausalMode;
  /** Expert capacity: 'router' (the block's capacity at capacityLength) or 'dropless'. */
  readonly expertCapacity: 'router' | 'dropless';
  /** Sequence length at which expert capacity is evaluated (the model's contextLength). */
  readonly capacityLength: number;
  /** Where the block sits, for error messages (e.g. "blocks[3]"). */
  readonly where: string;
}

/** A block's incremental step over one sequence. */
export interface BlockDecoder {
  /** The key/value cache and counters. */
  readonly state: BlockDecodeState;
  /** x float32[n, D] of the next n tokens -> the block's output float32[n, D]; call inside tf.tidy. */
  step(x: Tensor2D): Tensor2D;
  /** Starts a new sequence (empties the cache, new causal sessions); the counters keep counting. */
  reset(): void;
  /** Frees the cache. */
  dispose(): void;
}

/** What `Block.forward` returns: the output, the auxiliary losses and each routing stage's plan. */
export interface BlockOutput {
  /** float32[B, T, D]. */
  readonly output: Tensor3D;
  /** Named auxiliary losses (scalars on the gradient path, already weighted by the router). */
  readonly auxLosses: Readonly<Record<string, Scalar>>;
  /**
   * The routing plans the block acted on, by stage ('mod', 'experts'); absent for dense blocks.
   * Their metrics are host numbers; their tensors belong to the enclosing tf.tidy.
   */
  readonly routing?: Readonly<Record<string, RoutingPlan>>;
}

/** Analytic forward FLOPs of one block for one sequence, by component. */
export interface BlockFlops {
  readonly attention: number;
  readonly mlp: number;
  readonly router: number;
  readonly total: number;
}

/**
 * A transformer block (dense, MoD, MoE or MoDE): its forward pass, its incremental decoder, FLOP
 * count and routing stages.
 */
export interface Block {
  readonly kind: BlockKind;
  /**
   * x float32[B, T, D] -> the block's output, losses and plans. Call inside tf.tidy (or a
   * gradient function): the plans' tensors are left to the enclosing scope.
   */
  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput;
  /**
   * The incremental decoder of this block for one sequence, sharing its layers and primitives;
   * a ConfigError naming the option when a stage's router cannot decide causally.
   */
  decoder(options: BlockDecodeOptions): BlockDecoder;
  /** Forward FLOPs for one sequence of `seqLen` tokens, at the training capacity. */
  flops(seqLen: number): BlockFlops;
  /** Trainable variables the block owns outside the model's ParameterStore (its routers'). */
  routers(): readonly Router[];
  /** Each routing stage's router and the capacity the block gives it, in stage order. */
  stages(): readonly Stage<RoutingPlan>[];
}
