// Core's own kernels for 2-D products and column sums on the wasm backend (issue 19): the
// functions of assembly/gemm.ts, declared through ownKernels.ts (instantiated on the backend's own
// memory, registered for `wasm` only). matmul.ts's matmul2d and columnSum run them when
// `ownGemmKernels()` says they serve the active backend, else tfjs's BatchMatMul (XNNPACK, which
// packs the right operand on every call and needs an explicit transpose for A^T) and sums.
// Axis legend: M, K, N matrix sides, R rows summed over, C columns.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/** Kernel name: inputs {a [M, K] or [K, M], b [K, N]}, attrs {transposeA} -> op(a) b [M, N]. */
export const GEMM = 'ModerouteGemm';
/** Kernel name: inputs {x [R, C]} -> its column sums [C]. */
export const COLUMN_SUMS = 'ModerouteColumnSums';

ownKernel(GEMM, ['gemm'], ({ inputs, attrs, backend, exports, offset }) => {
  const a = inputs['a'] as TensorInfo;
  const b = inputs['b'] as TensorInfo;
  const transposeA = attrs['transposeA'] === true;
  const [k, n] = b.shape as [number, number];
  const m = (transposeA ? a.shape[1] : a.shape[0]) as number;
  const c = backend.makeOutput([m, n], 'float32');
  // The scratch panel of 8 columns of b (made after c: making a tensor may move the heap's views).
  const panel = backend.makeOutput([Math.max(1, k * 8)], 'float32');
  try {
    exports['gemm']!(offset(a), offset(b), offset(c), m, k, n, transposeA ? 1 : 0, offset(panel));
  } finally {
    backend.disposeData(panel.dataId);
  }
  return [c];
});

ownKernel(COLUMN_SUMS, ['columnSums'], ({ inputs, backend, exports, offset }) => {
  const x = inputs['x'] as TensorInfo;
  const [r, c] = x.shape as [number, number];
  const s = backend.makeOutput([c], 'float32');
  exports['columnSums']!(offset(x), offset(s), r, c);
  return [s];
});

// Gradients, so that the primitives stay differentiable when they run these kernels.
// c = a b: da = dc b^T, db = a^T dc; c = a^T b: da = b dc^T, db = a dc (a is [K, M]).
if (tf.getGradient(GEMM) === undefined) {
  tf.registerGradient({
    kernelName: GEMM,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [Tensor2D, Tensor2D];
      const dc = dy as Tensor2D;
      if ((attrs as { transposeA?: boolean }).transposeA === true)
        return {
          a: () => ownGemm(b, tf.transpose(dc), false),
          b: () => ownGemm(a, dc, false),
        };
      return { a: () => ownGemm(dc, tf.transpose(b), false), b: () => ownGemm(a, dc, true) };
    },
  });
}
if (tf.getGradient(COLUMN_SUMS) === undefined) {
  tf.registerGradient({
    kernelName: COLUMN_SUMS,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({
      x: () => tf.broadcastTo(dy as Tensor, (saved[0] as Tensor).shape),
    }),
  });
}

/** Whether matmul2d and columnSum run the own kernels here: on, registered and instantiable. */
export function ownGemmKernels(): boolean {
  return ownKernelsServe(GEMM, COLUMN_SUMS);
}

/** op(a) b by the own kernel: a float32[M, K] (or [K, M] with transposeA), b float32[K, N]. */
export function ownGemm(a: Tensor2D, b: Tensor2D, transposeA: boolean): Tensor2D {
  return (tf.engine().runKernel(GEMM, { a, b }, { transposeA }) as Tensor[])[0] as Tensor2D;
}

/** Column sums float32[R, C] -> float32[C] by the own kernel. */
export function ownColumnSums(x: Tensor2D): Tensor1D {
  return (tf.engine().runKernel(COLUMN_SUMS, { x }, {}) as Tensor[])[0] as Tensor1D;
}
