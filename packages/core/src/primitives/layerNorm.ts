// Layer normalisation over the last axis (Ba et al. 2016) with a hand-written gradient.
// Axis legend: N rows (leading axes flattened), D features.
//
// y = xhat * gamma + beta, xhat = (x - mean(x)) / sqrt(var(x) + eps), biased variance (as
// PyTorch's nn.LayerNorm). Backward, with g = dy * gamma:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma = sum_rows(dy * xhat),
//   dbeta = sum_rows(dy).
// On wasm, when core's own kernels are registered (layerNormKernel.ts), forward and backward are
// one kernel each (assembly/layerNorm.ts, the same formulas); elsewhere the tfjs ops below.
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { ShapeError } from '../errors.js';
import {
  ownLayerNormBackward,
  ownLayerNormForward,
  ownLayerNormKernels,
} from './layerNormKernel.js';
import { columnSum } from './matmul.js';

/** Default epsilon, as PyTorch's nn.LayerNorm. */
export const LAYER_NORM_EPS = 1e-5;

function makeLayerNorm(eps: number) {
  return tf.customGrad(((
    x: Tensor2D,
    gamma: Tensor1D,
    beta: Tensor1D,
    save: (t: Tensor[]) => void,
  ) => {
    if (ownLayerNormKernels()) {
      const [y, kxhat, krstd] = ownLayerNormForward(x, gamma, beta, eps);
      save([kxhat!, krstd!, gamma]);
      return {
        value: y,
        gradFunc: (dy: Tensor2D, saved: Tensor[]) => {
          const [sxhat, srstd, sgamma] = saved as [Tensor, Tensor, Tensor];
          return ownLayerNormBackward(dy, sxhat, srstd, sgamma);
        },
      };
    }
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(centered, rstd);
    save([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      // Inside tidy: tfjs runs a customGrad's gradFunc outside any per-node scope.
      gradFunc: (dy: Tensor2D, saved: Tensor[]) =>
        tf.tidy(() => {
          const [sxhat, srstd, sgamma] = saved as [Tensor2D, Tensor2D, Tensor1D];
          const g = tf.mul(dy, sgamma);
          const meanG = tf.mean(g, -1, true);
          const meanGX = tf.mean(tf.mul(g, sxhat), -1, true);
          const dx = tf.mul(srstd, tf.sub(tf.sub(g, meanG), tf.mul(sxhat, meanGX)));
          return [dx, columnSum(tf.mul(dy, sxhat) as Tensor2D), columnSum(dy)];
        }),
    };
  }) as never) as unknown as (x: Tensor2D, gamma: Tensor1D, beta: Tensor1D) => Tensor2D;
}

const cache = new Map<number, ReturnType<typeof makeLayerNorm>>();

/** Layer norm over the last axis: float32[..., D] with gamma, beta float32[D] -> float32[..., D]. */
export function layerNorm<T extends Tensor>(
  x: T,
  gamma: Tensor1D,
  beta: Tensor1D,
  eps = LAYER_NORM_EPS,
): T {
  const d = x.shape[x.rank - 1];
  if (x.rank < 1) throw new ShapeError('x.shape', x.shape, 'of rank >= 1');
  if (gamma.rank !== 1 || gamma.shape[0] !== d)
    throw new ShapeError(
      'gamma.shape',
      gamma.shape,
      `[${d}] to match x.shape ${JSON.stringify(x.shape)}`,
    );
  if (beta.rank !== 1 || beta.shape[0] !== d)
    throw new ShapeError(
      'beta.shape',
      beta.shape,
      `[${d}] to match x.shape ${JSON.stringify(x.shape)}`,
    );
  let op = cache.get(eps);
  if (op === undefined) {
    op = makeLayerNorm(eps);
    cache.set(eps, op);
  }
  // Shape: [..., D] -> [N, D] -> [..., D]
  const x2 = (x.rank === 2 ? x : tf.reshape(x, [-1, d as number])) as Tensor2D;
  const y = op(x2, gamma, beta);
  return (x.rank === 2 ? y : tf.reshape(y, x.shape)) as unknown as T;
}
