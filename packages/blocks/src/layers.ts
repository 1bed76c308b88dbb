// The parameterised layers blocks are made of: layer norm, multi-head self-attention, and the
// GELU MLP. Each creates its parameters in a (scoped) ParameterStore under stable names and
// computes through core's primitives.
// Axis legend: B batch, T tokens, D model width, F MLP hidden width.
import {
  type Primitives,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { attendCached } from './cachedAttention.js';
import type { AttentionCache } from './decoders/kvCache.js';
import { normal, ones, zeros, type ScopedStore } from './ParameterStore.js';

/** Standard deviation of weight initialisation (GPT-2). */
export const INIT_STD = 0.02;

/** Layer norm with gain and bias; parameters `<prefix>.gamma`, `<prefix>.beta` float32[D]. */
export class LayerNormLayer {
  readonly gamma: Variable;
  readonly beta: Variable;

  constructor(
    store: ScopedStore,
    width: number,
    private readonly ops: Primitives,
  ) {
    this.gamma = store.create('gamma', [width], ones);
    this.beta = store.create('beta', [width], zeros);
  }

  /** Layer norm over the last axis of `x`, with this layer's gain and bias. */
  apply<T extends Tensor>(x: T): T {
    return this.ops.layerNorm(x, this.gamma as Tensor1D, this.beta as Tensor1D);
  }

  /** The same over rows float32[n, D] for inference (decoding steps): the `layerNormRows` primitive. */
  applyRows(x: Tensor2D): Tensor2D {
    return this.ops.layerNormRows(x, this.gamma as Tensor1D, this.beta as Tensor1D);
  }
}

/**
 * Multi-head self-attention. Parameters: `wQkv` float32[D, 3D] (query, key, value side by side),
 * `bQkv` float32[3D], `wOut` float32[D, D], `bOut` float32[D].
 */
export class AttentionLayer {
  readonly wQkv: Variable;
  readonly bQkv: Variable;
  readonly wOut: Variable;
  readonly bOut: Variable;

  constructor(
    store: ScopedStore,
    width: number,
    readonly numHeads: number,
    residualStd: number,
    private readonly ops: Primitives,
  ) {
    this.wQkv = store.create('wQkv', [width, 3 * width], normal(INIT_STD));
    this.bQkv = store.create('bQkv', [3 * width], zeros);
    this.wOut = store.create('wOut', [width, width], normal(residualStd));
    this.bOut = store.create('bOut', [width], zeros);
  }

  /** float32[B, T, D] -> float32[B, T, D], causal; `mask` float32[B, T] marks real tokens. */
  apply(x: Tensor3D, mask?: Tensor): Tensor3D {
    return this.ops.multiHeadAttention(
      x,
      {
        wQkv: this.wQkv as Tensor2D,
        bQkv: this.bQkv as Tensor1D,
        wOut: this.wOut as Tensor2D,
        bOut: this.bOut as Tensor1D,
      },
      { numHeads: this.numHeads, causal: true, ...(mask === undefined ? {} : { mask }) },
    );
  }

  /**
   * Decoding: n new tokens float32[n, D] of one sequence (already layer-normed) attend to the
   * cached tokens and to each other causally -> float32[n, D]; their keys and values are appended
   * to `cache` (cachedAttention.ts). Call inside tf.tidy.
   */
  attendCached(x: Tensor2D, cache: AttentionCache): Tensor2D {
    return attendCached(
      this.ops,
      {
        wQkv: this.wQkv as Tensor2D,
        bQkv: this.bQkv as Tensor1D,
        wOut: this.wOut as Tensor2D,
        bOut: this.bOut as Tensor1D,
        numHeads: this.numHeads,
      },
      x,
      cache,
    );
  }
}

/**
 * Two-layer MLP with GELU: gelu(x W1 + b1) W2 + b2. Parameters: `fc1.w` float32[D, F],
 * `fc1.b` float32[F], `fc2.w` float32[F, D], `fc2.b` float32[D].
 */
export class MlpLayer {
  readonly w1: Variable;
  readonly b1: Variable;
  readonly w2: Variable;
  readonly b2: Variable;

  constructor(
    store: ScopedStore,
    width: number,
    hidden: number,
    residualStd: number,
    private readonly ops: Primitives,
  ) {
    this.w1 = store.create('fc1.w', [width, hidden], normal(INIT_STD));
    this.b1 = store.create('fc1.b', [hidden], zeros);
    this.w2 = store.create('fc2.w', [hidden, width], normal(residualStd));
    this.b2 = store.create('fc2.b', [width], zeros);
  }

  /** float32[..., D] -> float32[..., D]. */
  apply<T extends Tensor>(x: T): T {
    const h = this.ops.gelu(this.ops.linear(x, this.w1 as Tensor2D, this.b1 as Tensor1D));
    return this.ops.linear(h, this.w2 as Tensor2D, this.b2 as Tensor1D);
  }

  /** The same over rows float32[n, D] for inference (decoding steps): the `affine` primitive. */
  applyRows(x: Tensor2D): Tensor2D {
    const h = this.ops.gelu(this.ops.affine(x, this.w1 as Tensor2D, this.b1 as Tensor1D));
    return this.ops.affine(h, this.w2 as Tensor2D, this.b2 as Tensor1D);
  }
}
