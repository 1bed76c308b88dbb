// The epilogue of a routed block: the residual add, the router-weight scale and the scatter of the
// processed rows back to their tokens, as one differentiable primitive. Mixture-of-Depths (Raposo
// et al. 2024, eq. 1): x_{l+1,i} = r_i f(x_i) + x_i for the top-k tokens i, x_i for the others.
// Axis legend: M rows of x (tokens), N processed rows, D features.
//
//   out = x;  out[idx[n]] += w[n] * rows[n]   (repeated indices sum)
// Backward: dx = dy;  drows[n] = w[n] * dy[idx[n]];  dw[n] = dy[idx[n]] . rows[n].
// On wasm, when core's own kernels are registered (routedResidualKernel.ts), forward and backward
// are one kernel each (assembly/routedResidual.ts); elsewhere the tfjs ops x + scatterAddRows(w * rows)
// with their own gradients (about a dozen kernels each way, two of them over all of x).
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { ShapeError } from '../errors.js';
import { requireDtype } from '../validate.js';
import { scatterAddRows } from './gather.js';
import {
  ROUTED_RESIDUAL_BACKWARD,
  ROUTED_RESIDUAL_FORWARD,
  ownRoutedResidualKernels,
} from './routedResidualKernel.js';

type SaveFn = (tensors: Tensor[]) => void;

function ownKernelPath(
  x: Tensor2D,
  rows: Tensor2D,
  weights: Tensor1D,
  indices: Tensor1D,
): Tensor2D {
  const op = tf.customGrad(((sx: Tensor2D, r: Tensor2D, w: Tensor1D, save: SaveFn) => {
    // The indices are not an input (int32 on the tape fails) but are saved, as gatherRows does.
    save([r, w, indices]);
    const inputs = { x: sx, rows: r, weights: w, indices };
    const [value] = tf.engine().runKernel(ROUTED_RESIDUAL_FORWARD, inputs, {}) as Tensor[];
    return {
      value,
      gradFunc: (dy: Tensor2D, saved: Tensor[]) => {
        const [sr, sw, si] = saved as [Tensor, Tensor, Tensor];
        const inputs = { dy, rows: sr, weights: sw, indices: si };
        const [drows, dweights] = tf
          .engine()
          .runKernel(ROUTED_RESIDUAL_BACKWARD, inputs, {}) as Tensor[];
        // dx = dy: a new handle on the same data (wasm's Reshape copies nothing).
        return [tf.reshape(dy, dy.shape), drows, dweights];
      },
    };
  }) as never) as unknown as (x: Tensor2D, r: Tensor2D, w: Tensor1D) => Tensor2D;
  return op(x, rows, weights);
}

/**
 * x float32[M, D] plus weights[n] * rows[n] (rows float32[N, D], weights float32[N]) added at
 * row indices[n] (int32[N], in [0, M); repeated indices sum) -> float32[M, D]; rows of x no index
 * names pass unchanged. Differentiable in x, rows and weights (not in the indices).
 */
export function routedResidual(
  x: Tensor2D,
  rows: Tensor2D,
  weights: Tensor1D,
  indices: Tensor1D,
): Tensor2D {
  requireDtype('indices', indices, 'int32');
  if (x.rank !== 2) throw new ShapeError('x.shape', x.shape, 'of rank 2, [M, D]');
  const [m, d] = x.shape;
  if (indices.rank !== 1) throw new ShapeError('indices.shape', indices.shape, 'of rank 1, [N]');
  const n = indices.shape[0];
  if (rows.rank !== 2 || rows.shape[0] !== n || rows.shape[1] !== d)
    throw new ShapeError('rows.shape', rows.shape, `[${n}, ${d}] (one row of x's width per index)`);
  if (weights.rank !== 1 || weights.shape[0] !== n)
    throw new ShapeError('weights.shape', weights.shape, `[${n}] (one weight per index)`);
  if (ownRoutedResidualKernels() && x.dtype === 'float32' && rows.dtype === 'float32')
    return ownKernelPath(x, rows, weights, indices);
  return tf.tidy(() =>
    // Shape: weights [N] -> [N, 1]; rows scattered [N, D] -> [M, D]
    tf.add(x, scatterAddRows(tf.mul(rows, tf.reshape(weights, [n, 1])), indices, m)),
  ) as Tensor2D;
}
