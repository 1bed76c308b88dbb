// Multi-head self-attention of n new tokens against a block's key/value cache, for incremental
// decoding (batch 1): AttentionLayer.attendCached. The same computation as the layer's forward
// (multiHeadAttention) restricted to the new queries: O = softmax(q K^T / sqrt(Dh) + M) V, where
// K and V are the cached tokens followed by the new ones and M = MASKED_LOGIT where a new query
// would see a later new token. The projections go through the layer's Primitives (`affine`, the
// inference form of `linear`).
// Axis legend: n new tokens, S = past + n cached tokens after the append, D width, H heads,
// Dh = D / H.
import {
  MASKED_LOGIT,
  tf,
  type Primitives,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import type { AttentionCache } from './decoders/kvCache.js';

/** The attention layer's parameters and head count, as attendCached reads them. */
export interface CachedAttentionParams {
  readonly wQkv: Tensor2D;
  readonly bQkv: Tensor1D;
  readonly wOut: Tensor2D;
  readonly bOut: Tensor1D;
  readonly numHeads: number;
}

/**
 * x float32[n, D] (already layer-normed) -> attention output float32[n, D] (before the
 * residual add). Appends the n tokens' keys and values to `cache`. Call inside tf.tidy.
 */
export function attendCached(
  ops: Primitives,
  layer: CachedAttentionParams,
  x: Tensor2D,
  cache: AttentionCache,
): Tensor2D {
  const [n, d] = x.shape;
  const h = layer.numHeads;
  const dh = d / h;
  const past = cache.length;
  // Shape: [n, D] -> [n, 3D] -> 3 x [n, D]
  const qkv = ops.affine(x, layer.wQkv, layer.bQkv);
  const [q, k, v] = tf.split(qkv, 3, 1) as [Tensor2D, Tensor2D, Tensor2D];
  // Shape: [n, D] -> [n, H, Dh] -> [H, n, Dh] (queries, keys, values); with n = 1 a reshape.
  const heads = (t: Tensor2D) =>
    (n === 1
      ? tf.reshape(t, [h, 1, dh])
      : tf.transpose(tf.reshape(t, [n, h, dh]), [1, 0, 2])) as Tensor3D;
  const qh = heads(q);
  cache.append(heads(k), heads(v));
  const s = past + n;
  // Shape: [H, n, Dh] x [H, S, Dh]^T -> [H, n, S]
  let scores = tf.mul(tf.matMul(qh, cache.keys as Tensor3D, false, true), 1 / Math.sqrt(dh));
  if (n > 1) {
    // New query i (position past + i) may not see new key j > i.
    const bias = new Float32Array(n * s);
    for (let i = 0; i < n; i++)
      for (let j = past + i + 1; j < s; j++) bias[i * s + j] = MASKED_LOGIT;
    // Shape: [n, S] -> [1, n, S], broadcast over heads
    scores = tf.add(scores, tf.tensor3d(bias, [1, n, s]));
  }
  const p = tf.softmax(scores);
  // Shape: [H, n, S] x [H, S, Dh] -> [H, n, Dh] -> [n, H, Dh] -> [n, D]
  const ph = tf.matMul(p, cache.values as Tensor3D);
  const o = tf.reshape(n === 1 ? ph : tf.transpose(ph, [1, 0, 2]), [n, d]) as Tensor2D;
  return ops.affine(o, layer.wOut, layer.bOut);
}
