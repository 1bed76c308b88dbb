// The cases of `pnpm bench:kernels` (bench/kernels.ts): for each of core's own wasm kernels, its
// primitive's forward and backward on the bench's shapes. A case builds its inputs once and
// returns one call (forward + backward of the primitive under sum(y * w)), run with the own
// kernels switched on and off in turn. To add a kernel, add its cases to CASES.
import { layerNorm, ownLayerNormKernels, tf, type Tensor, type Tensor1D } from '@moderoute/core';

/** One measured call of a case: forward + backward, its results returned (for disposal). */
export type KernelCall = () => tf.TensorContainer;

/** One row of the bench: a primitive with an own kernel, on one shape. */
export interface KernelCase {
  /** The primitive (and own kernel), as the table shows it. */
  readonly kernel: string;
  /** The shapes, as the table shows them. */
  readonly shape: string;
  /** Whether the own kernel serves the active backend (switched on, registered, built). */
  readonly serves: () => boolean;
  /** Builds the inputs; returns the call and what frees them. */
  readonly setup: () => { readonly call: KernelCall; readonly dispose: () => void };
}

/** Inputs of `shape`, random normal from `seed` (kept until the case is disposed). */
function normal(shape: number[], seed: number, mean = 0): Tensor {
  return tf.randomNormal(shape, mean, 1, 'float32', seed);
}

/** layerNorm over the last axis of [rows, width], forward and backward (dx, dgamma, dbeta). */
function layerNormCase(rows: number, width: number): KernelCase {
  return {
    kernel: 'layerNorm',
    shape: `[${rows}, ${width}]`,
    serves: ownLayerNormKernels,
    setup: () => {
      const [x, g, b, w] = [
        normal([rows, width], 1),
        normal([width], 2, 1),
        normal([width], 3),
        normal([rows, width], 4),
      ];
      const grads = tf.grads((xi: Tensor, gi: Tensor, bi: Tensor) =>
        tf.sum(tf.mul(layerNorm(xi, gi as Tensor1D, bi as Tensor1D), w)),
      );
      return {
        call: () => grads([x!, g!, b!]),
        dispose: () => tf.dispose([x!, g!, b!, w!]),
      };
    },
  };
}

/**
 * Every case, in table order: the bench's replica shapes (4 sequences of 128 tokens: 512 rows) and
 * a MoD block's routed rows (12.5% of them: 64), at width 128.
 */
export const CASES: readonly KernelCase[] = [layerNormCase(512, 128), layerNormCase(64, 128)];
