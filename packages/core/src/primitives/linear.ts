// Linear (affine) layer with a hand-written gradient.
// Axis legend: N rows (all leading axes flattened), I input features, O output features.
//
// y = x W + b. Backward: dx = dy W^T, dW = x^T dy, db = sum_rows(dy). The products go through
// matmul2d, so on wasm every one of the three takes a fast path: core's own product, which reads
// W and x transposed in place and adds b in the same pass (gemmKernel.ts), or else XNNPACK's plain
// 2-D product after explicit transposes (tfjs's own matMul gradient uses transpose flags and makes
// a whole training step several times slower).
// A weight of one column without bias (a Mixture-of-Depths router's logit) runs on wasm as one own
// kernel each way (matVecKernel.ts): the 2-D products would transpose x for dW and pack a new right
// operand on every call, a fixed cost per call however few the rows.
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { ShapeError } from '../errors.js';
import { concatOuter, splitOuter } from './layout.js';
import { columnSum, matmul2d, prefersExplicitTranspose, transpose2d } from './matmul.js';
import { ownGemmKernels } from './gemmKernel.js';
import { MAT_VEC_BACKWARD, MAT_VEC_FORWARD, ownMatVecKernels } from './matVecKernel.js';

type SaveFn = (tensors: Tensor[]) => void;

const linearNoBias = tf.customGrad(((x: Tensor2D, w: Tensor2D, save: SaveFn) => {
  save([x, w]);
  return {
    value: matmul2d(x, w),
    // Inside tidy: tfjs runs a customGrad's gradFunc outside any per-node scope, so the explicit
    // transposes would otherwise live until the whole backward pass ends.
    gradFunc: (dy: Tensor2D, saved: Tensor[]) =>
      tf.tidy(() => {
        const [sx, sw] = saved as [Tensor2D, Tensor2D];
        return [matmul2d(dy, sw, false, true), matmul2d(sx, dy, true, false)];
      }),
  };
}) as never) as unknown as (x: Tensor2D, w: Tensor2D) => Tensor2D;

const matVec = tf.customGrad(((x: Tensor2D, w: Tensor2D, save: SaveFn) => {
  save([x, w]);
  const [value] = tf.engine().runKernel(MAT_VEC_FORWARD, { x, w }, {}) as Tensor[];
  return {
    value,
    gradFunc: (dy: Tensor2D, [sx, sw]: Tensor[]) =>
      tf.engine().runKernel(MAT_VEC_BACKWARD, { dy, x: sx as Tensor, w: sw as Tensor }, {}),
  };
}) as never) as unknown as (x: Tensor2D, w: Tensor2D) => Tensor2D;

/**
 * dW = x^T dy and db = sum_rows(dy) of an affine map: float32[N, I], float32[N, O] ->
 * [float32[I, O], float32[O]]. With core's own kernels, the own product reading x transposed in
 * place and the own column sums. Without them, on wasm the bias gradient rides along as one more
 * row of the weight-gradient product, [x^T; 1] dy: x^T is made explicitly there anyway, appending a ones
 * row is a block copy, and a separate column sum costs more (wasm packs the whole dy as the
 * "weights" of a [1, N] x [N, O] product; docs/performance.md, "Backend facts").
 */
export function weightAndBiasGrads(x: Tensor2D, dy: Tensor2D): [Tensor2D, Tensor1D] {
  if (!prefersExplicitTranspose() || ownGemmKernels())
    return [matmul2d(x, dy, true, false), columnSum(dy) as Tensor1D];
  const [n, i] = x.shape;
  return tf.tidy(() => {
    // Shape: [N, I] -> [I, N] -> [I+1, N]; [I+1, N] x [N, O] -> [I+1, O] -> [I, O] and [1, O]
    const g = tf.matMul(concatOuter([transpose2d(x), tf.ones([1, n])]) as Tensor2D, dy);
    const [dW, db] = splitOuter(g, [i, 1]) as [Tensor2D, Tensor2D];
    return [dW, tf.reshape(db, [dy.shape[1]]) as Tensor1D];
  });
}

const linearWithBias = tf.customGrad(((x: Tensor2D, w: Tensor2D, b: Tensor1D, save: SaveFn) => {
  save([x, w]);
  return {
    value: matmul2d(x, w, false, false, b),
    gradFunc: (dy: Tensor2D, saved: Tensor[]) =>
      tf.tidy(() => {
        const [sx, sw] = saved as [Tensor2D, Tensor2D];
        return [matmul2d(dy, sw, false, true), ...weightAndBiasGrads(sx, dy)];
      }),
  };
}) as never) as unknown as (x: Tensor2D, w: Tensor2D, b: Tensor1D) => Tensor2D;

/**
 * Affine map over the last axis: float32[..., I] x float32[I, O] (+ float32[O]) -> float32[..., O].
 * Leading axes are flattened to one row axis for a single 2-D product.
 */
export function linear<T extends Tensor>(x: T, w: Tensor2D, b?: Tensor1D): T {
  const inFeatures = w.shape[0];
  const outFeatures = w.shape[1];
  if (w.rank !== 2)
    throw new ShapeError('w.shape', w.shape, 'of rank 2, [inFeatures, outFeatures]');
  if (x.rank < 1 || x.shape[x.rank - 1] !== inFeatures) {
    throw new ShapeError(
      'x.shape',
      x.shape,
      `[..., ${inFeatures}] to match w.shape [${inFeatures}, ${outFeatures}]`,
    );
  }
  if (b !== undefined && (b.rank !== 1 || b.shape[0] !== outFeatures)) {
    throw new ShapeError(
      'b.shape',
      b.shape,
      `[${outFeatures}] to match w.shape [${inFeatures}, ${outFeatures}]`,
    );
  }
  const lead = x.shape.slice(0, -1);
  // Shape: [..., I] -> [N, I]
  const x2 =
    x.rank === 2 ? (x as unknown as Tensor2D) : (tf.reshape(x, [-1, inFeatures]) as Tensor2D);
  const y2 =
    b !== undefined
      ? linearWithBias(x2, w, b)
      : outFeatures === 1 && x.dtype === 'float32' && ownMatVecKernels()
        ? matVec(x2, w)
        : linearNoBias(x2, w);
  // Shape: [N, O] -> [..., O]
  return (x.rank === 2 ? y2 : tf.reshape(y2, [...lead, outFeatures])) as unknown as T;
}
