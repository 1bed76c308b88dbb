// More cases of `pnpm bench:kernels` (cases.ts): the model's next-token loss, and a pre-LN block's
// whole update (core's fusedBlockUpdate on the own kernels, against the same layers composed on
// the tfjs path), on a replica's shapes and a MoD block's routed rows.
import {
  blockUpdateParams,
  composedBlockUpdate,
  defaultPrimitives,
  fusedBlockUpdate,
  fusesBlockUpdate,
  ownCrossEntropyKernels,
  tf,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { sparseCrossEntropy } from '@moderoute/model';
import type { KernelCase } from './cases.js';

const normal = (shape: number[], seed: number, std = 1) =>
  tf.randomNormal(shape, 0, std, 'float32', seed);

/** sparseCrossEntropy of logits [rows, classes], forward and backward (dlogits). */
export function crossEntropyCase(rows: number, classes: number): KernelCase {
  return {
    kernel: 'sparseCrossEntropy',
    shape: `[${rows}, ${classes}]`,
    serves: ownCrossEntropyKernels,
    setup: () => {
      const z = normal([rows, classes], 1, 3);
      const y = tf.randomUniform([rows], 0, classes, 'int32', 2) as Tensor1D;
      const f = (t: Tensor) => sparseCrossEntropy(t as Tensor2D, y);
      return { call: () => tf.grad(f)(z), dispose: () => tf.dispose([z, y]) };
    },
  };
}

/**
 * A block's update f(x) = a + MLP(LN2(x + a)), a = Attn(LN1(x)), on x [batch, tokens, width]
 * (4 heads, MLP 4x): fused where the own kernels serve, composed (as blocks compose it) on the
 * tfjs path; forward and backward for x and every parameter.
 */
export function blockUpdateCase(batch: number, tokens: number, width: number): KernelCase {
  return {
    kernel: 'block update (fused)',
    shape: `[${batch}, ${tokens}, ${width}]`,
    serves: () => fusesBlockUpdate(defaultPrimitives),
    setup: () => {
      const d = width;
      const shapes = [[batch, tokens, d], [d], [d], [d, 3 * d], [3 * d], [d, d], [d]];
      shapes.push([d], [d], [d, 4 * d], [4 * d], [4 * d, d], [d]);
      const inputs = shapes.map((s, i) => normal(s, 10 + i, i === 0 ? 1 : 0.1));
      const u = normal([batch, tokens, d], 99);
      const update = (t: Tensor[]) =>
        (fusesBlockUpdate(defaultPrimitives) ? fusedBlockUpdate : composedBlockUpdate)(
          t[0] as Tensor3D,
          blockUpdateParams(t.slice(1)),
          4,
          true,
        );
      const grads = tf.grads((...t: Tensor[]) => tf.sum(tf.mul(update(t), u)));
      return { call: () => grads(inputs), dispose: () => tf.dispose([...inputs, u]) };
    },
  };
}
