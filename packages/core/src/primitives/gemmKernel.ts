// Core's own kernels for 2-D products and column sums on the wasm backend (issue 19): the
// functions of assembly/gemm.ts, declared through ownKernels.ts (instantiated on the backend's own
// memory, registered for `wasm` only). matmul.ts's matmul2d and columnSum run them when
// `ownGemmKernels()` says they serve the active backend, else tfjs's BatchMatMul (XNNPACK, which
// packs the right operand on every call and needs explicit transposes) and sums.
// Axis legend: M, K, N matrix sides, R rows summed over, C columns.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { ownKernel, ownKernelsServe, withScratch } from './ownKernels.js';

/**
 * Kernel name: inputs {a [M, K] (or [K, M]), b [K, N] (or [N, K]), bias? [N]}, attrs
 * {transposeA, transposeB} -> op(a) op(b) (+ bias) [M, N].
 */
export const GEMM = 'ModerouteGemm';
/** Kernel name: inputs {x [R, C]} -> its column sums [C]. */
export const COLUMN_SUMS = 'ModerouteColumnSums';

ownKernel(GEMM, ['gemm'], (call) => {
  const { inputs, attrs, backend, exports, offset } = call;
  const a = inputs['a'] as TensorInfo;
  const b = inputs['b'] as TensorInfo;
  const bias = inputs['bias'];
  const [ta, tb] = [attrs['transposeA'] === true, attrs['transposeB'] === true];
  const [m, k] = (ta ? [a.shape[1], a.shape[0]] : a.shape) as [number, number];
  const n = (tb ? b.shape[0] : b.shape[1]) as number;
  const c = backend.makeOutput([m, n], 'float32');
  // The scratch panel of 8 columns of op(b) (unused by a product of few rows of an untransposed b,
  // which gemm reads in place), then with transposeA op(a)'s strips of 4 rows (made after c:
  // making a tensor may move the heap).
  const strips = ta ? (m - (m % 4)) * k : 0;
  withScratch(call, Math.max(1, k * 8 + strips), (panel) =>
    exports['gemm']!(
      offset(a),
      offset(b),
      bias === undefined ? 0 : offset(bias),
      offset(c),
      m,
      k,
      n,
      ta ? 1 : 0,
      tb ? 1 : 0,
      panel,
    ),
  );
  return [c];
});

ownKernel(COLUMN_SUMS, ['columnSums'], ({ inputs, backend, exports, offset }) => {
  const x = inputs['x'] as TensorInfo;
  const [r, c] = x.shape as [number, number];
  const s = backend.makeOutput([c], 'float32');
  exports['columnSums']!(offset(x), offset(s), r, c);
  return [s];
});

// Gradients, so that the primitives stay differentiable when they run these kernels. For
// c = op(a) op(b) + bias: da = dc op(b)^T (as a's layout), db = op(a)^T dc (as b's), dbias =
// column sums of dc; each a product of the same kernel with the flags that read it in place.
if (tf.getGradient(GEMM) === undefined) {
  tf.registerGradient({
    kernelName: GEMM,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [Tensor2D, Tensor2D];
      const dc = dy as Tensor2D;
      const { transposeA: ta, transposeB: tb } = attrs as {
        transposeA: boolean;
        transposeB: boolean;
      };
      return {
        a: () => (ta ? ownGemm(b, dc, tb, true) : ownGemm(dc, b, false, !tb)),
        b: () => (tb ? ownGemm(dc, a, true, ta) : ownGemm(a, dc, !ta, false)),
        bias: () => ownColumnSums(dc),
      };
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

/**
 * op(a) op(b) (+ bias) by the own kernel: a float32[M, K] (or [K, M] with transposeA), b
 * float32[K, N] (or [N, K] with transposeB), bias float32[N].
 */
export function ownGemm(
  a: Tensor2D,
  b: Tensor2D,
  transposeA: boolean,
  transposeB: boolean,
  bias?: Tensor1D,
): Tensor2D {
  const inputs: Record<string, Tensor> = bias === undefined ? { a, b } : { a, b, bias };
  return (
    tf.engine().runKernel(GEMM, inputs, { transposeA, transposeB }) as Tensor[]
  )[0] as Tensor2D;
}

/** Column sums float32[R, C] -> float32[C] by the own kernel. */
export function ownColumnSums(x: Tensor2D): Tensor1D {
  return (tf.engine().runKernel(COLUMN_SUMS, { x }, {}) as Tensor[])[0] as Tensor1D;
}
