// The dense pre-LN decoder block (Radford et al. 2019; Xiong et al. 2020):
//   h = x + Attn(LN1(x)),  out = h + MLP(LN2(h)).
// Axis legend: B batch, T tokens, D model width, F MLP hidden width.
import {
  fusedBlockUpdate,
  fusedRoutedUpdate,
  fusesBlockUpdate,
  tf,
  type BlockUpdateParams,
  type Primitives,
  type RowRoute,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import type { Router, RoutingPlan } from '@moderoute/routing';
import type { Stage } from './stages.js';
import type {
  Block,
  BlockDecodeOptions,
  BlockDecoder,
  BlockFlops,
  BlockForwardOptions,
  BlockOutput,
} from './Block.js';
import { denseDecoder } from './decoders/blockDecoders.js';
import type { AttentionCache } from './decoders/kvCache.js';
import { attentionCoreFlops, attentionProjectionFlops, mlpFlops } from './flops.js';
import { AttentionLayer, LayerNormLayer, MlpLayer } from './layers.js';
import type { ScopedStore } from './ParameterStore.js';

/** Shapes every block shares. */
export interface BlockDims {
  /** Model width D. */
  readonly width: number;
  /** Attention heads H (must divide D). */
  readonly numHeads: number;
  /** MLP hidden width F. */
  readonly mlpHidden: number;
  /** Standard deviation of the residual output projections (GPT-2: 0.02 / sqrt(2 * layers)). */
  readonly residualStd: number;
}

/**
 * The attention half and the MLP of a pre-LN block, as parts routed blocks reuse: `attend`
 * returns x + Attn(LN1(x)), `mlpUpdate` returns MLP(LN2(h)) (the update, not yet added).
 */
export class BlockParts {
  readonly ln1: LayerNormLayer;
  readonly attention: AttentionLayer;
  readonly ln2: LayerNormLayer;
  readonly mlp: MlpLayer | undefined;

  constructor(
    store: ScopedStore,
    dims: BlockDims,
    readonly ops: Primitives,
    withMlp = true,
  ) {
    this.ln1 = new LayerNormLayer(store.scope('ln1'), dims.width, ops);
    this.attention = new AttentionLayer(
      store.scope('attn'),
      dims.width,
      dims.numHeads,
      dims.residualStd,
      ops,
    );
    this.ln2 = new LayerNormLayer(store.scope('ln2'), dims.width, ops);
    this.mlp = withMlp
      ? new MlpLayer(store.scope('mlp'), dims.width, dims.mlpHidden, dims.residualStd, ops)
      : undefined;
  }

  /** x + Attn(LN1(x)): float32[B, T, D] -> float32[B, T, D]. */
  attend(x: Tensor3D, mask?: tf.Tensor): Tensor3D {
    return tf.add(x, this.attention.apply(this.ln1.apply(x), mask));
  }

  /**
   * The block's residual update f(x) = a + MLP(LN2(x + a)) with a = Attn(LN1(x)), so that the
   * whole block is x + f(x) (Raposo et al. 2024, eq. 1 weighs exactly this f by the router).
   */
  update(x: Tensor3D, mask?: tf.Tensor): Tensor3D {
    if (this.fuses(x)) {
      return fusedBlockUpdate(x, this.updateParams(), this.attention.numHeads, true, mask);
    }
    const a = this.attention.apply(this.ln1.apply(x), mask);
    if (this.mlp === undefined) return a;
    return tf.add(a, this.mlp.apply(this.ln2.apply(tf.add(x, a))));
  }

  /**
   * Whether the update of x runs as core's fused ops (fusedBlockUpdate, fusedRoutedUpdate): x is
   * float32 and the bound layers are core's own (fusesBlockUpdate); else the layers compose.
   */
  fuses(x: tf.Tensor): boolean {
    return x.dtype === 'float32' && fusesBlockUpdate(this.ops);
  }

  /**
   * A routed block in one op (core's fusedRoutedUpdate): x float32[M, D] plus, at the rows
   * `route` selects (S per sequence, attention causal among them), their weights times f of
   * those rows. For blocks that `fuses(x)`.
   */
  routedUpdate(x: Tensor2D, route: RowRoute): Tensor2D {
    return fusedRoutedUpdate(x, route, this.updateParams(), this.attention.numHeads, true);
  }

  /** The block update's parameters, as core's fused ops take them. */
  private updateParams(): BlockUpdateParams {
    const { ln1, attention, ln2, mlp } = this;
    const norm = (l: LayerNormLayer) => ({ gamma: l.gamma as Tensor1D, beta: l.beta as Tensor1D });
    return {
      ln1: norm(ln1),
      attention: {
        wQkv: attention.wQkv as Tensor2D,
        bQkv: attention.bQkv as Tensor1D,
        wOut: attention.wOut as Tensor2D,
        bOut: attention.bOut as Tensor1D,
      },
      ln2: norm(ln2),
      ...(mlp
        ? {
            mlp: {
              w1: mlp.w1 as Tensor2D,
              b1: mlp.b1 as Tensor1D,
              w2: mlp.w2 as Tensor2D,
              b2: mlp.b2 as Tensor1D,
            },
          }
        : {}),
    };
  }

  /**
   * Decoding: Attn(LN1(x)) of n new tokens float32[n, D] against the cache (which they join):
   * the attention update, not yet added.
   */
  decodeAttention(x: Tensor2D, cache: AttentionCache): Tensor2D {
    return this.attention.attendCached(this.ln1.applyRows(x), cache);
  }

  /** Decoding: the residual update f(x) of n new tokens float32[n, D], as `update`. */
  decodeUpdate(x: Tensor2D, cache: AttentionCache): Tensor2D {
    const a = this.decodeAttention(x, cache);
    if (this.mlp === undefined) return a;
    return tf.add(a, this.mlp.applyRows(this.ln2.applyRows(tf.add(x, a) as Tensor2D))) as Tensor2D;
  }

  /** Attention then MLP, both residual: the whole dense block, x + f(x). */
  full(x: Tensor3D, mask?: tf.Tensor): Tensor3D {
    return tf.add(x, this.update(x, mask));
  }
}

/** A pre-norm transformer block: attention then MLP, both residual, on every token. */
export class DenseBlock implements Block {
  readonly kind = 'dense' as const;
  readonly parts: BlockParts;

  constructor(
    store: ScopedStore,
    readonly dims: BlockDims,
    ops: Primitives,
  ) {
    this.parts = new BlockParts(store, dims, ops);
  }

  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput {
    return { output: this.parts.full(x, options.mask), auxLosses: {} };
  }

  decoder(_options: BlockDecodeOptions): BlockDecoder {
    return denseDecoder(this.parts);
  }

  stages(): readonly Stage<RoutingPlan>[] {
    return [];
  }

  routers(): readonly Router[] {
    return [];
  }

  flops(seqLen: number): BlockFlops {
    const { width, mlpHidden } = this.dims;
    const attention = attentionProjectionFlops(seqLen, width) + attentionCoreFlops(seqLen, width);
    const mlp = mlpFlops(seqLen, width, mlpHidden);
    return { attention, mlp, router: 0, total: attention + mlp };
  }
}
