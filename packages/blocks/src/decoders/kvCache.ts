// The key/value cache of incremental decoding: one AttentionCache per block, holding the keys
// and values of exactly the tokens that block's attention processed. Dense, MoE and integrated
// MoDE blocks process every token; a Mixture-of-Depths block (and the MoD stage of staged MoDE)
// caches only the tokens its causal decision sent through it (Raposo et al. 2024, section 3.5: a
// token that skips a block produces no key or value there).
// Axis legend: H heads, Dh head width, S cached tokens, n new tokens, E experts (real plus no-op).
import { tf, type Tensor3D } from '@moderoute/core';
import type { BlockKind } from '../Block.js';

/** Keys and values of the tokens one block's attention has processed, in position order. */
export class AttentionCache {
  /** float32[H, S, Dh]: keys (scores are q K^T; appending copies H contiguous blocks, not H Dh strided rows). */
  private keyTensor: Tensor3D | undefined;
  /** float32[H, S, Dh]. */
  private valueTensor: Tensor3D | undefined;

  /** S: tokens cached. */
  get length(): number {
    return this.valueTensor === undefined ? 0 : this.valueTensor.shape[1];
  }

  get keys(): Tensor3D | undefined {
    return this.keyTensor;
  }

  get values(): Tensor3D | undefined {
    return this.valueTensor;
  }

  /**
   * Appends the keys and values float32[H, n, Dh] of n new tokens. The new
   * cache tensors are kept out of any enclosing tf.tidy; the old ones are disposed.
   */
  append(keys: Tensor3D, values: Tensor3D): void {
    const oldK = this.keyTensor;
    const oldV = this.valueTensor;
    // Shape: [H, S, Dh] ++ [H, n, Dh] -> [H, S + n, Dh]
    this.keyTensor = tf.keep(
      oldK === undefined ? tf.clone(keys) : (tf.concat([oldK, keys], 1) as Tensor3D),
    );
    this.valueTensor = tf.keep(
      oldV === undefined ? tf.clone(values) : (tf.concat([oldV, values], 1) as Tensor3D),
    );
    if (oldK !== undefined) oldK.dispose();
    if (oldV !== undefined) oldV.dispose();
  }

  /** Empties the cache (frees its tensors). */
  clear(): void {
    this.keyTensor?.dispose();
    this.valueTensor?.dispose();
    this.keyTensor = undefined;
    this.valueTensor = undefined;
  }
}

/** Counters of what one block did during decoding (host numbers, since the decoder was made). */
export interface BlockDecodeStats {
  readonly kind: BlockKind;
  /** Tokens that reached the block. */
  seen: number;
  /** Tokens its attention processed (and so cached): all for dense/MoE/integrated MoDE. */
  attended: number;
  /** Tokens that got at least one real expert (MoE, MoDE) or the MLP (dense, MoD). */
  computed: number;
}

/** What one block keeps between decoding steps. */
export class BlockDecodeState {
  readonly attention = new AttentionCache();
  readonly stats: BlockDecodeStats;

  constructor(kind: BlockKind) {
    this.stats = { kind, seen: 0, attended: 0, computed: 0 };
  }

  /** Forgets the sequence's cache; the statistics keep counting. */
  reset(): void {
    this.attention.clear();
  }

  /** Frees the cached keys and values. */
  dispose(): void {
    this.attention.clear();
  }
}
