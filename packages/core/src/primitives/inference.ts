// Fused forms of the affine map and of layer norm for inference (decoding steps), where no
// gradient is taken: fewer kernels per call than linear and layerNorm, the same values within
// float rounding. Axis legend: n rows, I input features, O output features, D width.
import { tf, type Tensor1D, type Tensor2D } from '../tf.js';
import { LAYER_NORM_EPS } from './layerNorm.js';

/**
 * x float32[n, I] W float32[I, O] + b float32[O] in one kernel (a fused product with bias); linear
 * computes the same as a product then an add, two kernels. No custom gradient.
 */
export function affine(x: Tensor2D, w: Tensor2D, b: Tensor1D): Tensor2D {
  return tf.fused.matMul({ a: x, b: w, bias: b }) as Tensor2D;
}

/**
 * Layer norm of x float32[n, D] (biased variance, as layerNorm): for one row, a fused batch norm
 * over the row's mean and variance (4 kernels instead of layerNorm's 9); otherwise layerNorm's
 * formula. No custom gradient.
 */
export function layerNormRows(
  x: Tensor2D,
  gamma: Tensor1D,
  beta: Tensor1D,
  eps = LAYER_NORM_EPS,
): Tensor2D {
  return tf.tidy(() => {
    if (x.shape[0] !== 1) {
      const mean = tf.mean(x, -1, true);
      const centered = tf.sub(x, mean);
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), eps));
      return tf.add(tf.mul(tf.mul(centered, rstd), gamma), beta) as Tensor2D;
    }
    // Shape: [1, D] -> [1]
    const mean = tf.mean(x, -1) as Tensor1D;
    const variance = tf.mean(tf.squaredDifference(x, mean), -1) as Tensor1D;
    return tf.batchNorm(x, mean, variance, beta, gamma, eps) as Tensor2D;
  });
}
