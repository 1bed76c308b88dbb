// The contract every decoder block meets, dense or routed, so that the model can stack any
// schedule of them and collect their auxiliary losses and metrics without knowing their kind.
// Axis legend: B batch, T tokens, D model width.
import type { Scalar, Tensor, Tensor3D } from '@moderoute/core';
import type { DecisionMode, Router, RoutingPlan } from '@moderoute/routing';

/** Built-in block kinds. */
export type BlockKind = 'dense' | 'mod' | 'moe' | 'mode-staged' | 'mode-integrated';
export const BLOCK_KINDS: readonly BlockKind[] = [
  'dense',
  'mod',
  'moe',
  'mode-staged',
  'mode-integrated',
];

export interface BlockForwardOptions {
  /** Training mode: router jitter and training capacity apply. */
  readonly training: boolean;
  /** float32[B, T]: 1 for real tokens, 0 for padding (never routed, never attended). */
  readonly mask?: Tensor;
  /** Mixture-of-Depths decision rule: 'top-k' (default; non-causal) or a causal rule. */
  readonly mode?: DecisionMode;
  /**
   * Seed of the block's routing randomness, derived by the model from (run seed, step,
   * replica, block index); each routing stage s gets deriveSeed(rngSeed, s). Absent: the
   * routers' own seeds.
   */
  readonly rngSeed?: number;
}

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

export interface Block {
  readonly kind: BlockKind;
  /**
   * x float32[B, T, D] -> the block's output, losses and plans. Call inside tf.tidy (or a
   * gradient function): the plans' tensors are left to the enclosing scope.
   */
  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput;
  /** Forward FLOPs for one sequence of `seqLen` tokens, at the training capacity. */
  flops(seqLen: number): BlockFlops;
  /** Trainable variables the block owns outside the model's ParameterStore (its routers'). */
  routers(): readonly Router[];
}
