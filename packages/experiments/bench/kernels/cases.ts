// The cases of `pnpm bench:kernels` (bench/kernels.ts): for each of core's own wasm kernels, its
// primitive's forward and backward on the bench's shapes. A case builds its inputs once and
// returns one call (forward + backward of the primitive under sum(y * w)), run with the own
// kernels switched on and off in turn. To add a kernel, add its cases to CASES.
import {
  adamwUpdate,
  attentionBias,
  gelu,
  layerNorm,
  linear,
  matmul2d,
  ownAdamWKernels,
  ownAttentionKernels,
  ownGeluKernels,
  ownGemmKernels,
  ownLayerNormKernels,
  ownMatVecKernels,
  ownRoutedResidualKernels,
  ownSumOfSquaresKernel,
  ownTransposeKernel,
  routedResidual,
  scaledDotProductAttention,
  sumOfSquares,
  tf,
  transpose2d,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor4D,
} from '@moderoute/core';
import { blockUpdateCase, crossEntropyCase } from './layerCases.js';

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

/** gelu on [rows, width] (an MLP's hidden layer), forward and backward. */
function geluCase(rows: number, width: number): KernelCase {
  return {
    kernel: 'gelu',
    shape: `[${rows}, ${width}]`,
    serves: ownGeluKernels,
    setup: () => {
      const [x, w] = [normal([rows, width], 5), normal([rows, width], 6)];
      const grads = tf.grads((xi: Tensor) => tf.sum(tf.mul(gelu(xi), w)));
      return { call: () => grads([x!]), dispose: () => tf.dispose([x!, w!]) };
    },
  };
}

/** The causal attention core on q, k, v [B, H, T, Dh], forward and backward (dq, dk, dv). */
function attentionCase(shape: [number, number, number, number]): KernelCase {
  return {
    kernel: 'attention core (causal)',
    shape: `[${shape.join(', ')}]`,
    serves: ownAttentionKernels,
    setup: () => {
      const [q, k, v, w] = [7, 8, 9, 10].map((seed) => normal(shape, seed));
      const bias = attentionBias(shape[2], true)!;
      const grads = tf.grads((qi: Tensor, ki: Tensor, vi: Tensor) =>
        tf.sum(
          tf.mul(
            scaledDotProductAttention(qi as Tensor4D, ki as Tensor4D, vi as Tensor4D, bias),
            w!,
          ),
        ),
      );
      return {
        call: () => grads([q!, k!, v!]),
        dispose: () => tf.dispose([q!, k!, v!, w!, bias]),
      };
    },
  };
}

/**
 * A routed block's epilogue on [rows, width] with `routed` rows processed (every eighth row),
 * forward and backward (dx, drows, dweights).
 */
function routedResidualCase(rows: number, width: number, routed: number): KernelCase {
  return {
    kernel: 'routedResidual',
    shape: `[${rows}, ${width}], ${routed} rows`,
    serves: ownRoutedResidualKernels,
    setup: () => {
      const [x, r, g, w] = [
        normal([rows, width], 11),
        normal([routed, width], 12),
        normal([routed], 13),
        normal([rows, width], 14),
      ];
      const step = Math.floor(rows / routed);
      const indices = tf.tensor1d(
        Array.from({ length: routed }, (_, i) => i * step),
        'int32',
      );
      const grads = tf.grads((xi: Tensor, ri: Tensor, gi: Tensor) =>
        tf.sum(tf.mul(routedResidual(xi as Tensor2D, ri as Tensor2D, gi as Tensor1D, indices), w!)),
      );
      return {
        call: () => grads([x!, r!, g!]),
        dispose: () => tf.dispose([x!, r!, g!, w!, indices]),
      };
    },
  };
}

/** linear to one column without bias (a MoD router's logit) on [rows, width], forward and backward. */
function matVecCase(rows: number, width: number): KernelCase {
  return {
    kernel: 'linear one column (matVec)',
    shape: `[${rows}, ${width}] x [${width}, 1]`,
    serves: ownMatVecKernels,
    setup: () => {
      const [x, m, w] = [normal([rows, width], 15), normal([width, 1], 16), normal([rows, 1], 17)];
      const grads = tf.grads((xi: Tensor, mi: Tensor) =>
        tf.sum(tf.mul(linear(xi as Tensor2D, mi as Tensor2D), w!)),
      );
      return { call: () => grads([x!, m!]), dispose: () => tf.dispose([x!, m!, w!]) };
    },
  };
}

/** linear with a bias on [rows, width] -> [rows, out], forward and backward (dx, dW, db). */
function linearCase(rows: number, width: number, out: number): KernelCase {
  return {
    kernel: 'linear with bias (gemm)',
    shape: `[${rows}, ${width}] x [${width}, ${out}]`,
    serves: ownGemmKernels,
    setup: () => {
      const [x, m, b, w] = [
        normal([rows, width], 23),
        normal([width, out], 24),
        normal([out], 25),
        normal([rows, out], 26),
      ];
      const grads = tf.grads((xi: Tensor, mi: Tensor, bi: Tensor) =>
        tf.sum(tf.mul(linear(xi as Tensor2D, mi as Tensor2D, bi as Tensor1D), w!)),
      );
      return { call: () => grads([x!, m!, b!]), dispose: () => tf.dispose([x!, m!, b!, w!]) };
    },
  };
}

/** The plain product a b alone (no backward): the bench's matmul-peak shape. */
function productCase(m: number, k: number, n: number): KernelCase {
  return {
    kernel: 'matmul2d (no backward)',
    shape: `[${m}, ${k}] x [${k}, ${n}]`,
    serves: ownGemmKernels,
    setup: () => {
      const [a, b] = [normal([m, k], 27), normal([k, n], 28)];
      return {
        call: () => matmul2d(a as Tensor2D, b as Tensor2D),
        dispose: () => tf.dispose([a!, b!]),
      };
    },
  };
}

/** The squared global norm of tensors of `sizes` (no backward: none). */
function sumOfSquaresCase(sizes: number[]): KernelCase {
  return {
    kernel: 'sumOfSquares (no backward)',
    shape: `${sizes.length} tensors, ${sizes.reduce((s, n) => s + n, 0)} floats`,
    serves: ownSumOfSquaresKernel,
    setup: () => {
      const xs = sizes.map((n, i) => normal([n], 29 + i));
      return { call: () => sumOfSquares(xs), dispose: () => tf.dispose(xs) };
    },
  };
}

/** One AdamW update of a chunk of `size` parameters with a per-entry decay (no backward: none). */
function adamwCase(size: number): KernelCase {
  return {
    kernel: 'adamwUpdate (no backward)',
    shape: `[${size}]`,
    serves: ownAdamWKernels,
    setup: () => {
      const [g, m, v, p, d] = [18, 19, 20, 21, 22].map((seed) => tf.abs(normal([size], seed)));
      const options = { scale: 0.5, beta1: 0.9, beta2: 0.95, bc1: 0.1, bc2: 0.05, epsilon: 1e-8 };
      return {
        call: () => adamwUpdate(g!, m!, v!, p!, { ...options, lr: 1e-3, decay: d! }),
        dispose: () => tf.dispose([g!, m!, v!, p!, d!]),
      };
    },
  };
}

/**
 * A transpose of `shape` by `perm` (by matmul.ts's transpose2d for a 2-D swap, as linear's
 * gradients take it) and its backward, which is one transpose by the inverse permutation (tfjs's
 * gradient of Transpose), with nothing else in the call: the products of a loss would hide it.
 */
function transposeCase(shape: number[], perm: number[]): KernelCase {
  const swap2d = shape.length === 2;
  const inverse = perm.map((_, i) => perm.indexOf(i));
  const move = (t: Tensor, p: number[]) =>
    swap2d ? transpose2d(t as Tensor2D) : tf.transpose(t, p);
  return {
    kernel: swap2d ? 'transpose2d' : 'transpose',
    shape: `[${shape.join(', ')}]${swap2d ? '' : ` by [${perm.join(', ')}]`}`,
    serves: ownTransposeKernel,
    setup: () => {
      const [x, dy] = [
        normal(shape, 23),
        normal(
          perm.map((axis) => shape[axis]!),
          24,
        ),
      ];
      return {
        call: () => tf.tidy(() => [move(x!, perm), move(dy!, inverse)]),
        dispose: () => tf.dispose([x!, dy!]),
      };
    },
  };
}

/**
 * Every case, in table order: the bench's replica shapes (4 sequences of 128 tokens: 512 rows, the
 * MLP's hidden width 512) and a MoD block's routed rows (12.5% of them: 64), at width 128.
 */
export const CASES: readonly KernelCase[] = [
  layerNormCase(512, 128),
  layerNormCase(64, 128),
  geluCase(512, 512),
  geluCase(64, 512),
  // A replica's 4 sequences of 128 tokens in 4 heads of 32; a MoD block's 16 routed tokens each.
  attentionCase([4, 4, 128, 32]),
  attentionCase([4, 4, 16, 32]),
  routedResidualCase(512, 128, 64),
  matVecCase(512, 128),
  // A replica's MLP products, a MoD block's routed rows, and the matmul peak's shape.
  linearCase(512, 128, 512),
  linearCase(512, 512, 128),
  linearCase(64, 128, 512),
  productCase(512, 256, 1024),
  // A dense bench model's gradients: per block 12 tensors (4 weights, 8 vectors), and the rest.
  sumOfSquaresCase(
    [
      ...Array.from({ length: 4 }, () => [
        49152, 384, 16384, 128, 65536, 512, 65536, 128, 128, 128, 128, 128,
      ]),
      [32768, 16384, 128, 128, 32768, 256],
    ].flat(),
  ),
  // A linear layer's gradients (x^T [512, 128] for dW, W^T), attention's head split [B, T, H, Dh].
  transposeCase([512, 128], [1, 0]),
  transposeCase([512, 512], [1, 0]),
  transposeCase([4, 128, 4, 32], [0, 2, 1, 3]),
  // The trainer's AdamW updates parameters in chunks of at most 2^18 floats.
  adamwCase(1 << 18),
  // A replica's next-token loss (256 bytes); a block's update on it and on a MoD block's rows.
  crossEntropyCase(512, 256),
  blockUpdateCase(4, 128, 128),
  blockUpdateCase(4, 16, 128),
];
