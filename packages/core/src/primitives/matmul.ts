// Backend-aware matrix products: the one place that knows which matmul form is fast where.
// PERF-NOTES.md: on wasm only plain 2-D matmul without transpose flags takes the fast (XNNPACK)
// path, about 12x faster than with transposeA/transposeB, so there an explicit transpose (a cheap
// copy) precedes a plain product. On cpu and native TensorFlow the flags cost nothing extra, and
// an explicit transpose would only add a copy.
import { tf, type Tensor, type Tensor2D } from '../tf.js';

/** Whether the active backend needs transposes made explicit to reach its fast matmul. */
export function prefersExplicitTranspose(): boolean {
  return tf.getBackend() === 'wasm';
}

/** `op(a) @ op(b)` for 2-D tensors, where op transposes when its flag is set. */
export function matmul2d(a: Tensor2D, b: Tensor2D, transposeA = false, transposeB = false): Tensor2D {
  if (!(transposeA || transposeB) || !prefersExplicitTranspose()) return tf.matMul(a, b, transposeA, transposeB);
  return tf.matMul(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b);
}

/**
 * Column sums of a 2-D tensor: float32[N,D] -> float32[D] (a bias gradient).
 * On wasm `sum` over axis 0 is about 10x slower than over the last axis; a [1,N] x [N,D] product
 * with a ones row takes the fast matmul path instead.
 */
export function columnSum(x: Tensor2D): Tensor {
  if (!prefersExplicitTranspose()) return tf.sum(x, 0);
  const n = x.shape[0];
  // Shape: [1,N] @ [N,D] -> [1,D] -> [D]
  return tf.reshape(tf.matMul(tf.ones([1, n]), x), [x.shape[1]]);
}
