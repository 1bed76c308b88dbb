// Multi-head self-attention (Vaswani et al. 2017, eq. 1), causal by default, with an optional
// key-padding mask, and a hand-written gradient for the attention core.
// Axis legend: B batch, T tokens, D model width, H heads, Dh = D / H head width.
//
// Core: O = softmax(Q K^T / sqrt(Dh) + M) V, with M = -1e9 where a query may not see a key (a
// later position when causal, a padded key when masked) and 0 elsewhere. A finite -1e9 rather
// than -inf keeps a row whose keys are all masked finite (uniform) instead of NaN.
// Backward, with P the softmax output:
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = dS K / sqrt(Dh),
//   dK = dS^T Q / sqrt(Dh).
// The products run per (batch, head) pair through core's batchMatMul (on wasm, plain 2-D products
// are much faster than its batched kernel: docs/performance.md, "Backend facts").
// On wasm, when core's own kernels are registered (attentionKernel.ts), forward and backward are
// one kernel each (assembly/attention.ts, the same formulas; under the causal-only bias it skips
// the keys after each query, whose probabilities are exactly 0); elsewhere the tfjs ops below.
// multiHeadAttention runs them on its Q/K/V projection where it lies (attentionQkvKernel.ts:
// no split into heads, no merge) wherever they serve.
import {
  tf,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Tensor4D,
} from '../tf.js';
import { ConfigError, ShapeError } from '../errors.js';
import { linear } from './linear.js';
import { splitOuter } from './layout.js';
import { batchMatMul } from './matmul.js';
import {
  attentionKernelsFit,
  ownAttentionBackward,
  ownAttentionForward,
  ownAttentionKernels,
} from './attentionKernel.js';
import { attentionOnProjection, ownAttentionQkvKernels } from './attentionQkvKernel.js';

/** Additive logit for a masked (query, key) pair. */
export const MASKED_LOGIT = -1e9;

/** Parameters of one multi-head self-attention layer. */
export interface AttentionParams {
  /** float32[D, 3D]: the query, key and value projections side by side (in that order). */
  readonly wQkv: Tensor2D;
  /** float32[3D], optional. */
  readonly bQkv?: Tensor1D;
  /** float32[D, D]: the output projection. */
  readonly wOut: Tensor2D;
  /** float32[D], optional. */
  readonly bOut?: Tensor1D;
}

/** Options of multi-head attention: heads, causality, padding mask. */
export interface AttentionOptions {
  /** Number of heads H; must divide D. */
  readonly numHeads: number;
  /** Whether a query sees only keys at or before its own position (default true). */
  readonly causal?: boolean;
  /** float32 or bool [B, T]: 1/true for a real token, 0/false for padding (keys never attended). */
  readonly mask?: Tensor;
}

/**
 * Additive attention bias float32[B or 1, 1, T, T] from causality and a key mask; undefined when
 * neither applies. A constant: it carries no gradient.
 */
export function attentionBias(t: number, causal: boolean, mask?: Tensor): Tensor4D | undefined {
  if (!causal && mask === undefined) return undefined;
  return tf.tidy(() => {
    let bias: Tensor | undefined;
    if (causal) {
      // Shape: [1, 1, T, T], MASKED_LOGIT above the diagonal. Built on the host: bandPart is about
      // 20 kernels on wasm; this is one upload of T * T floats.
      const values = new Float32Array(t * t);
      for (let i = 0; i < t; i++) values.fill(MASKED_LOGIT, i * t + i + 1, (i + 1) * t);
      bias = tf.tensor4d(values, [1, 1, t, t]);
    }
    if (mask !== undefined) {
      // Shape: [B, T] -> [B, 1, 1, T]
      const keep = tf.reshape(tf.cast(mask, 'float32'), [mask.shape[0] as number, 1, 1, t]);
      const keyBias = tf.mul(tf.sub(1, keep), MASKED_LOGIT);
      bias = bias === undefined ? keyBias : tf.maximum(tf.add(bias, keyBias), MASKED_LOGIT);
    }
    return bias as Tensor4D;
  });
}

function makeCore(bias: Tensor4D | undefined, scale: number) {
  return tf.customGrad(((q: Tensor4D, k: Tensor4D, v: Tensor4D, save: (t: Tensor[]) => void) => {
    if (ownAttentionKernels() && attentionKernelsFit(q, k, v, bias)) {
      // The own kernels (attentionKernel.ts): the same formulas, one kernel each way.
      const [o, p] = ownAttentionForward(q, k, v, bias, scale);
      save([q, k, v, p!, ...(bias === undefined ? [] : [bias])]);
      return {
        value: o,
        gradFunc: (dout: Tensor4D, saved: Tensor[]) => {
          const [sq, sk, sv, sp, sbias] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor?];
          return ownAttentionBackward(dout, { q: sq, k: sk, v: sv, p: sp, bias: sbias }, scale);
        },
      };
    }
    const [b, h, t, dh] = q.shape;
    // Shape: [B,H,T,Dh] -> [N,T,Dh] with N = B H: each (batch, head) pair is one 2-D product.
    const qs = tf.reshape(tf.mul(q, scale), [b * h, t, dh]) as Tensor3D;
    const k3 = tf.reshape(k, [b * h, t, dh]) as Tensor3D;
    const v3 = tf.reshape(v, [b * h, t, dh]) as Tensor3D;
    // Shape: [N,T,Dh] x [N,T,Dh]^T -> [N,T,T] -> [B,H,T,T]
    let scores: Tensor = tf.reshape(batchMatMul(qs, k3, false, true), [b, h, t, t]);
    if (bias !== undefined) scores = tf.add(scores, bias);
    // Shape: [B,H,T,T] -> [N,T,T]
    const p = tf.reshape(tf.softmax(scores), [b * h, t, t]) as Tensor3D;
    save([qs, k3, v3, p]);
    return {
      // Shape: [N,T,T] x [N,T,Dh] -> [N,T,Dh] -> [B,H,T,Dh]
      value: tf.reshape(batchMatMul(p, v3), [b, h, t, dh]),
      // Inside tidy: tfjs runs a customGrad's gradFunc outside any per-node scope, so dP, dS
      // and the transposes would otherwise live until the whole backward pass ends.
      gradFunc: (dO: Tensor4D, saved: Tensor[]) =>
        tf.tidy(() => {
          const [sqs, sk, sv, sp] = saved as [Tensor3D, Tensor3D, Tensor3D, Tensor3D];
          // Shape: [B,H,T,Dh] -> [N,T,Dh]
          const dO3 = tf.reshape(dO, [b * h, t, dh]) as Tensor3D;
          // (dO^T P)^T would transpose only [N,T,Dh] tensors, but its products have Dh rows and
          // run slower on wasm than P^T dO with its blocked [N,T,T] transpose.
          const dV = batchMatMul(sp, dO3, true, false);
          const dP = batchMatMul(dO3, sv, false, true);
          const dS = tf.mul(sp, tf.sub(dP, tf.sum(tf.mul(dP, sp), -1, true))) as Tensor3D;
          const dQ = tf.mul(batchMatMul(dS, sk), scale);
          // dK = dS^T (Q / sqrt(Dh)); the scaled Q was saved.
          const dK = batchMatMul(dS, sqs, true, false);
          // Shape: [N,T,Dh] -> [B,H,T,Dh]
          return [dQ, dK, dV].map((g) => tf.reshape(g, [b, h, t, dh]));
        }),
    };
  }) as never) as unknown as (q: Tensor4D, k: Tensor4D, v: Tensor4D) => Tensor4D;
}

/**
 * Scaled dot-product attention over heads: q, k, v float32[B, H, T, Dh] -> float32[B, H, T, Dh].
 * `bias` is an additive float32[B or 1, 1, T, T] constant (see attentionBias).
 */
export function scaledDotProductAttention(
  q: Tensor4D,
  k: Tensor4D,
  v: Tensor4D,
  bias?: Tensor4D,
): Tensor4D {
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t.rank !== 4) throw new ShapeError(`${name}.shape`, t.shape, 'of rank 4, [B, H, T, Dh]');
  }
  if (!tf.util.arraysEqual(q.shape, k.shape) || !tf.util.arraysEqual(q.shape, v.shape)) {
    throw new ShapeError(
      'k.shape and v.shape',
      `${JSON.stringify(k.shape)} and ${JSON.stringify(v.shape)}`,
      `equal to q.shape ${JSON.stringify(q.shape)}`,
    );
  }
  return makeCore(bias, 1 / Math.sqrt(q.shape[3]))(q, k, v);
}

/** Splits heads: float32[B, T, D] -> float32[B, H, T, Dh] (4-D transposes, fast on wasm). */
export function splitHeads(x: Tensor3D, numHeads: number): Tensor4D {
  const [b, t, d] = x.shape;
  // Shape: [B,T,D] -> [B,T,H,Dh] -> [B,H,T,Dh]
  return tf.transpose(tf.reshape(x, [b, t, numHeads, d / numHeads]), [0, 2, 1, 3]);
}

/**
 * Queries, keys and values float32[B, H, T, Dh] from their projection qkv float32[B, T, 3D] (or
 * [B T, 3D]), Q, K and V side by side along its last axis.
 */
export function splitQkv(qkv: Tensor, b: number, t: number, numHeads: number): Tensor4D[] {
  const d = (qkv.shape[qkv.rank - 1] as number) / 3;
  // Shape: [B,T,3D] -> [B*T,3,D] -> [3,B*T,D] -> 3 x [B*T,D] -> 3 x [B,T,D] -> 3 x [B,H,T,Dh]
  // (a split along the outer axis is a block copy; along the last axis, wasm's is slow)
  return splitOuter(tf.transpose(tf.reshape(qkv, [b * t, 3, d]), [1, 0, 2]), 3).map((r) =>
    splitHeads(tf.reshape(r, [b, t, d]) as Tensor3D, numHeads),
  );
}

/** Merges heads: float32[B, H, T, Dh] -> float32[B, T, D]. */
export function mergeHeads(x: Tensor4D): Tensor3D {
  const [b, h, t, dh] = x.shape;
  // Shape: [B,H,T,Dh] -> [B,T,H,Dh] -> [B,T,D]
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * dh]);
}

/**
 * Multi-head self-attention: float32[B, T, D] -> float32[B, T, D].
 * Q, K, V = x Wqkv (+ bqkv) split in three; heads attend independently (causal unless
 * `causal: false`, padded keys never attended); the merged heads go through Wout (+ bout).
 */
export function multiHeadAttention(
  x: Tensor3D,
  params: AttentionParams,
  options: AttentionOptions,
): Tensor3D {
  const { numHeads, causal = true, mask } = options;
  if (x.rank !== 3) throw new ShapeError('x.shape', x.shape, 'of rank 3, [B, T, D]');
  const [b, t, d] = x.shape;
  if (!Number.isInteger(numHeads) || numHeads < 1 || d % numHeads !== 0) {
    throw new ConfigError('numHeads', numHeads, `a positive integer dividing the model width ${d}`);
  }
  if (params.wQkv.rank !== 2 || params.wQkv.shape[0] !== d || params.wQkv.shape[1] !== 3 * d) {
    throw new ShapeError('wQkv.shape', params.wQkv.shape, `[${d}, ${3 * d}]`);
  }
  if (params.wOut.rank !== 2 || params.wOut.shape[0] !== d || params.wOut.shape[1] !== d) {
    throw new ShapeError('wOut.shape', params.wOut.shape, `[${d}, ${d}]`);
  }
  if (mask !== undefined && (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t)) {
    throw new ShapeError('mask.shape', mask.shape, `[${b}, ${t}] (one flag per token)`);
  }
  return tf.tidy(() => {
    // The bias is used by the forward pass only, so the tidy may dispose it.
    const bias = attentionBias(t, causal, mask);
    const qkv = linear(x, params.wQkv, params.bQkv);
    if (ownAttentionQkvKernels() && x.dtype === 'float32') {
      // Shape: [B,T,3D] -> [B T,3D] -> [B T,D] -> [B,T,D]: the heads read and merged where they
      // lie (attentionQkvKernel.ts), the same sums as the split heads' kernels.
      const o = attentionOnProjection(tf.reshape(qkv, [b * t, 3 * d]), b, numHeads, bias);
      return linear(tf.reshape(o, [b, t, d]) as Tensor3D, params.wOut, params.bOut);
    }
    // Shape: [B,T,3D] -> 3 x [B,H,T,Dh]
    const [q, k, v] = splitQkv(qkv, b, t, numHeads);
    const o = scaledDotProductAttention(q!, k!, v!, bias);
    return linear(mergeHeads(o), params.wOut, params.bOut);
  });
}
