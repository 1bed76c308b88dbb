// Multi-head self-attention of n new tokens against a block's key/value cache, for incremental
// decoding (batch 1), and the decoding step's fused helpers (affine map, one-row layer norm). The same computation as core's multiHeadAttention restricted to the new
// queries: O = softmax(q K^T / sqrt(Dh) + M) V, where K and V are the cached tokens followed by
// the new ones and M = MASKED_LOGIT where a new query would see a later new token. Built from
// tf ops (core's attention primitive has no cache).
// Axis legend: n new tokens, S = past + n cached tokens after the append, D width, H heads,
// Dh = D / H.
import { LAYER_NORM_EPS, tf, type Tensor2D, type Tensor1D, type Tensor3D } from '@moderoute/core';
import type { AttentionLayer } from '@moderoute/blocks';
import type { AttentionCache } from './kvCache.js';

/** Additive logit of a (query, key) pair a query may not see; as core's attention: finite, exp underflows to 0. */
const MASKED = -1e9;

/**
 * x float32[n, I] W float32[I, O] + b float32[O] in one kernel (a fused product with bias):
 * core's linear computes the same as a product then an add, two kernels. Decoding only (no
 * gradient is needed).
 */
export function affine(x: Tensor2D, w: Tensor2D, b: Tensor1D): Tensor2D {
  return tf.fused.matMul({ a: x, b: w, bias: b }) as Tensor2D;
}

/**
 * Layer norm of one row x float32[1, D] (biased variance, as core's layerNorm) as a fused
 * batch norm over the row's mean and variance: 4 kernels instead of core's 9, for decoding steps.
 */
export function layerNormRow(
  x: Tensor2D,
  gamma: Tensor1D,
  beta: Tensor1D,
  eps = LAYER_NORM_EPS,
): Tensor2D {
  // Shape: [1, D] -> [1]
  const mean = tf.mean(x, -1) as Tensor1D;
  const variance = tf.mean(tf.squaredDifference(x, mean), -1) as Tensor1D;
  return tf.batchNorm(x, mean, variance, beta, gamma, eps) as Tensor2D;
}

/**
 * x float32[n, D] (already layer-normed) -> attention output float32[n, D] (before the
 * residual add). Appends the n tokens' keys and values to `cache`. Call inside tf.tidy.
 */
export function attendCached(layer: AttentionLayer, x: Tensor2D, cache: AttentionCache): Tensor2D {
  const [n, d] = x.shape;
  const h = layer.numHeads;
  const dh = d / h;
  const past = cache.length;
  // Shape: [n, D] -> [n, 3D] -> 3 x [n, D]
  const qkv = affine(x, layer.wQkv as unknown as Tensor2D, layer.bQkv as unknown as Tensor1D);
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
    for (let i = 0; i < n; i++) for (let j = past + i + 1; j < s; j++) bias[i * s + j] = MASKED;
    // Shape: [n, S] -> [1, n, S], broadcast over heads
    scores = tf.add(scores, tf.tensor3d(bias, [1, n, s]));
  }
  const p = tf.softmax(scores);
  // Shape: [H, n, S] x [H, S, Dh] -> [H, n, Dh] -> [n, H, Dh] -> [n, D]
  const ph = tf.matMul(p, cache.values as Tensor3D);
  const o = tf.reshape(n === 1 ? ph : tf.transpose(ph, [1, 0, 2]), [n, d]) as Tensor2D;
  return affine(o, layer.wOut as unknown as Tensor2D, layer.bOut as unknown as Tensor1D);
}
