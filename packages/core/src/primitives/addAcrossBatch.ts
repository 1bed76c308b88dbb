// x + p with p broadcast over x's leading axis: x float32[B, ...S], p float32[...S] (a language
// model's position embedding added to each sequence's token embeddings).
// Axis legend: B the leading axis (sequences), S the rest.
//
// Gradients: dx = dy; dp = sum over b of dy[b], which is columnSum of dy read as [B, |S|]. tfjs's
// Add gradient takes that sum over axis 0 with `sum`, which wasm runs by transposing dy first:
// 0.4 ms a replica step at the bench config, for what columnSum (one pass of core's own kernel on
// wasm) does in a few microseconds (docs/performance.md, round 12). Both add the rows in order
// from 0, so the gradient is tfjs's bit for bit.
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { ShapeError } from '../errors.js';
import { requireDtype } from '../validate.js';
import { columnSum } from './matmul.js';

/**
 * x float32[B, ...S] plus p float32[...S] added to each x[b]: tf.add's value and gradients, with
 * p's gradient a column sum (see the top of this file). Refuses p of another shape than x's after
 * its first axis, naming `p.shape`.
 */
export function addAcrossBatch<T extends Tensor>(x: T, p: Tensor): T {
  requireDtype('x', x, 'float32');
  requireDtype('p', p, 'float32');
  if (x.rank < 1 || !tf.util.arraysEqual(x.shape.slice(1), p.shape))
    throw new ShapeError(
      'p.shape',
      p.shape,
      `[${x.shape.slice(1).join(', ')}] (x's shape after its first axis, x ${JSON.stringify(x.shape)})`,
    );
  const b = x.shape[0] as number;
  const op = tf.customGrad((...inputs) => ({
    value: tf.add(inputs[0] as Tensor, inputs[1] as Tensor),
    // In a tidy: tfjs runs a customGrad's gradFunc outside any per-node scope.
    gradFunc: (dy: Tensor) =>
      tf.tidy(() => [
        tf.reshape(dy, x.shape),
        // Shape: [B, ...S] -> [B, |S|] -> [|S|] -> [...S]
        tf.reshape(columnSum(tf.reshape(dy, [b, p.size]) as Tensor2D), p.shape),
      ]),
  }));
  return op(x, p) as T;
}
