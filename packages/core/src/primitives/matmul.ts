// Backend-aware matrix products: the one place that knows which matmul form is fast where.
// On wasm with core's own kernels, 2-D products and column sums run gemmKernel.ts's kernels, which
// read transposed operands in place (faster there than XNNPACK: docs/performance.md, round 8).
// Without them, only plain 2-D matmul without transpose flags takes wasm's fast (XNNPACK) path, far
// faster than with transposeA/transposeB (docs/performance.md, "Backend facts"), so there an
// explicit transpose (a cheap copy) precedes a plain product. On cpu and native TensorFlow the flags
// cost nothing extra, and an explicit transpose would only add a copy.
// The wasm forms of batched products (one plain 2-D product per batch entry, in a small kernel) and
// of transposes and column sums (written so that wasm takes its fast paths).
// Axis legend: N batch entries, M, K, P matrix sides, R rows, C columns, D columns summed over.
import type { DataId, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from '../tf.js';
import { ShapeError } from '../errors.js';
import { ownColumnSums, ownGemm, ownGemmKernels } from './gemmKernel.js';

/** Whether the active backend needs transposes made explicit to reach its fast matmul. */
export function prefersExplicitTranspose(): boolean {
  return tf.getBackend() === 'wasm';
}

/**
 * Rows per block when a transpose is written with one more axis (see transpose2d). wasm moves a
 * permutation that collapses to a 2-D swap ([R, C] -> [C, R], [N, R, C] -> [N, C, R]) several
 * times slower than the same data movement written as [R/8, 8, C] -> [C, R/8, 8] (measured in
 * docs/performance.md, "Backend facts").
 */
const TRANSPOSE_BLOCK = 8;

/** float32[R, C] -> float32[C, R]. */
export function transpose2d(x: Tensor2D): Tensor2D {
  const [r, c] = x.shape;
  if (!prefersExplicitTranspose() || r % TRANSPOSE_BLOCK !== 0) return tf.transpose(x);
  // Shape: [R, C] -> [R/8, 8, C] -> [C, R/8, 8] -> [C, R]
  return tf.reshape(
    tf.transpose(tf.reshape(x, [r / TRANSPOSE_BLOCK, TRANSPOSE_BLOCK, c]), [2, 0, 1]),
    [c, r],
  );
}

/** Swaps the last two axes of a 3-D tensor: float32[N, R, C] -> float32[N, C, R]. */
export function transposeLast(x: Tensor3D): Tensor3D {
  const [n, r, c] = x.shape;
  if (!prefersExplicitTranspose() || r % TRANSPOSE_BLOCK !== 0) return tf.transpose(x, [0, 2, 1]);
  // Shape: [N, R, C] -> [N, R/8, 8, C] -> [N, C, R/8, 8] -> [N, C, R]
  return tf.reshape(
    tf.transpose(tf.reshape(x, [n, r / TRANSPOSE_BLOCK, TRANSPOSE_BLOCK, c]), [0, 3, 1, 2]),
    [n, c, r],
  );
}

/**
 * Whether a @ b^T (a float32[M, K], b float32[N, K]) is cheaper on wasm as (b @ a^T)^T. XNNPACK
 * packs a product's right-hand matrix on every call (about as costly as a copy of it), so a @ b^T
 * moves b twice (the explicit transpose, the packing): 2NK floats; the swapped form moves a twice
 * and the [N, M] result once: 2MK + MN. With few rows, as a Mixture-of-Depths block's selected
 * tokens against a weight matrix (a linear layer's input gradient dy W^T: M = 64 rows of dy
 * against W [128, 512]), the swapped form moves less; with many rows it moves more (measured in
 * docs/performance.md, "Backend facts").
 */
export function swapsTransposedProduct(m: number, k: number, n: number): boolean {
  return 2 * m * k + m * n < 2 * n * k && m % TRANSPOSE_BLOCK === 0 && n % TRANSPOSE_BLOCK === 0;
}

/**
 * `op(a) @ op(b)` for 2-D tensors, where op transposes when its flag is set, plus `bias` (float32[N],
 * one per column) when given. On wasm with core's own kernels, gemmKernel.ts's product, which reads
 * either operand transposed in place and adds the bias in the same pass; otherwise tfjs's, with
 * explicit transposes on wasm, and an Add.
 */
export function matmul2d(
  a: Tensor2D,
  b: Tensor2D,
  transposeA = false,
  transposeB = false,
  bias?: Tensor1D,
): Tensor2D {
  if (a.rank !== 2) throw new ShapeError('a.shape', a.shape, 'of rank 2');
  if (b.rank !== 2) throw new ShapeError('b.shape', b.shape, 'of rank 2');
  // The inner sizes must agree (core's own product reads them as given).
  const k = transposeA ? a.shape[0] : a.shape[1];
  if ((transposeB ? b.shape[1] : b.shape[0]) !== k)
    throw new ShapeError(
      'b.shape',
      b.shape,
      `${transposeB ? `[N, ${k}]` : `[${k}, N]`} to match a.shape [${a.shape.join(', ')}]` +
        `${transposeA ? ' transposed' : ''}`,
    );
  const n = transposeB ? b.shape[0] : b.shape[1];
  if (bias !== undefined && (bias.rank !== 1 || bias.shape[0] !== n))
    throw new ShapeError('bias.shape', bias.shape, `[${n}], one per column of the product`);
  if (a.dtype === 'float32' && b.dtype === 'float32' && ownGemmKernels())
    return ownGemm(a, b, transposeA, transposeB, bias);
  if (bias !== undefined)
    return tf.tidy(() => tf.add(matmul2d(a, b, transposeA, transposeB), bias));
  if (!(transposeA || transposeB) || !prefersExplicitTranspose())
    return tf.matMul(a, b, transposeA, transposeB);
  return tf.tidy(() => {
    // a @ b^T = (b @ a^T)^T, see swapsTransposedProduct.
    if (!transposeA && swapsTransposedProduct(a.shape[0], a.shape[1], b.shape[0]))
      return transpose2d(tf.matMul(b, transpose2d(a)));
    return tf.matMul(transposeA ? transpose2d(a) : a, transposeB ? transpose2d(b) : b);
  });
}

/**
 * Column sums of a 2-D tensor: float32[N,D] -> float32[D] (a bias gradient). With core's own
 * kernels on wasm, one pass of gemmKernel.ts's column sums.
 * On wasm `sum` over axis 0 is slow (it transposes on the slow 2-D path). With N a multiple of 8
 * it runs as two sums over the outer axis of [8, N/8, D]; otherwise as a [1,N] x [N,D] product
 * with a ones row (wasm packs all of x as the product's "weights"). Timings: docs/performance.md,
 * "Backend facts".
 */
export function columnSum(x: Tensor2D): Tensor {
  if (!prefersExplicitTranspose()) return tf.sum(x, 0);
  if (x.dtype === 'float32' && ownGemmKernels()) return ownColumnSums(x);
  const [n, d] = x.shape;
  return tf.tidy(() => {
    // Shape: [N,D] -> [8,N/8,D] -> [N/8,D] -> [D]
    if (n % TRANSPOSE_BLOCK === 0 && n > TRANSPOSE_BLOCK)
      return tf.sum(tf.sum(tf.reshape(x, [TRANSPOSE_BLOCK, n / TRANSPOSE_BLOCK, d]), 0), 0);
    // Shape: [1,N] @ [N,D] -> [1,D] -> [D]
    return tf.reshape(tf.matMul(tf.ones([1, n]), x), [d]);
  });
}

/**
 * Smallest product (multiply-adds per batch entry) that batchMatMul runs as separate 2-D
 * products on wasm. Each costs a fixed time (buffers, an XNNPACK operator), so below this size
 * wasm's batched kernel is as fast (docs/performance.md, "Backend facts").
 */
export const SLICED_MIN_MACS = 16384;

/** Name of the wasm kernel behind batchMatMul (a loop of plain 2-D products). */
export const SLICED_BATCH_MATMUL = 'ModerouteSlicedBatchMatMul';

/** The BackendWasm methods core's wasm kernels use (all public on the class). */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  disposeData(dataId: DataId): boolean;
  /** Byte offset of a tensor's data in the wasm heap. */
  getMemoryOffset(dataId: DataId): number;
  /** The next tensor id BackendWasm hands out; ids taken here are never reused by it. */
  dataIdNextNumber: number;
  readonly wasm: {
    cwrap(name: string, returns: null, args: string[]): (...args: unknown[]) => void;
    readonly tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
}

type WasmBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

/** wasm's BatchMatMul entry point, bound once per backend instance. */
const wasmBatchMatMuls = new WeakMap<object, WasmBatchMatMul>();

function wasmBatchMatMul(be: WasmHeapBackend): WasmBatchMatMul {
  let fn = wasmBatchMatMuls.get(be);
  if (fn === undefined) {
    // The signature tfjs-backend-wasm's own BatchMatMul kernel binds (ids, shapes as int32 bytes).
    fn = be.wasm.cwrap(tf.BatchMatMul, null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as WasmBatchMatMul;
    wasmBatchMatMuls.set(be, fn);
  }
  return fn;
}

/**
 * wasm kernel: float32[N, M, K] x float32[N, K, P] -> float32[N, M, P], as N plain 2-D products.
 * wasm's own BatchMatMul runs a batch > 1 on its slow generic loop, far below XNNPACK's 2-D path.
 * Getting 2-D slices through tf.slice/split does not help either: wasm's Slice reads the whole
 * input back to JS for every slice (docs/performance.md, "Backend facts").
 * Here each slice is a tensor id registered with wasm's runtime at the slice's place inside the
 * input or output buffer (no copy, no allocation), and each product is wasm's own BatchMatMul
 * entry point on batch 1 (its XNNPACK path), writing straight into its part of the output. The
 * right slice takes a fresh id every time: wasm caches the XNNPACK operator (with the packed
 * right operand) under the right tensor's id, and drops it when the id is disposed.
 */
function slicedBatchMatMul({
  inputs,
  backend,
}: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
}): TensorInfo {
  const be = backend as WasmHeapBackend;
  const a = inputs['a'] as TensorInfo;
  const b = inputs['b'] as TensorInfo;
  const [n, m, k] = a.shape as [number, number, number];
  const p = b.shape[2] as number;
  const product = wasmBatchMatMul(be);
  const out = be.makeOutput([n, m, p], 'float32');
  const [aOffset, bOffset, outOffset] = [
    be.getMemoryOffset(a.dataId),
    be.getMemoryOffset(b.dataId),
    be.getMemoryOffset(out.dataId),
  ];
  const [aSize, bSize, outSize] = [m * k, k * p, m * p];
  const aShape = new Uint8Array(new Int32Array([1, m, k]).buffer);
  const bShape = new Uint8Array(new Int32Array([1, k, p]).buffer);
  const wasmModule = be.wasm.tfjs;
  for (let i = 0; i < n; i++) {
    const [ai, bi, oi] = [be.dataIdNextNumber++, be.dataIdNextNumber++, be.dataIdNextNumber++];
    // Offsets in bytes (float32).
    wasmModule.registerTensor(ai, aSize, aOffset + 4 * i * aSize);
    wasmModule.registerTensor(bi, bSize, bOffset + 4 * i * bSize);
    wasmModule.registerTensor(oi, outSize, outOffset + 4 * i * outSize);
    product(ai, aShape, 3, bi, bShape, 3, false, false, oi);
    // Forgets the ids (and the operator cached under the right one); frees no memory.
    wasmModule.disposeData(ai);
    wasmModule.disposeData(bi);
    wasmModule.disposeData(oi);
  }
  return out;
}

if (tf.getKernel(SLICED_BATCH_MATMUL, 'wasm') === undefined) {
  tf.registerKernel({
    kernelName: SLICED_BATCH_MATMUL,
    backendName: 'wasm',
    kernelFunc: slicedBatchMatMul as never,
  });
}

/**
 * Batched product `op(a) @ op(b)`: float32[N, M, K] x float32[N, K, P] -> float32[N, M, P], op
 * transposing the last two axes when its flag is set. No broadcasting of the batch axis. Not
 * differentiable on wasm (the kernel has no gradient): for use inside hand-written gradients.
 * On wasm, explicit transposes and N plain 2-D products (SLICED_BATCH_MATMUL); elsewhere
 * tf.matMul with the flags.
 */
export function batchMatMul(
  a: Tensor3D,
  b: Tensor3D,
  transposeA = false,
  transposeB = false,
): Tensor3D {
  const [n, m, k] = transposeA ? [a.shape[0], a.shape[2], a.shape[1]] : a.shape;
  const [nb, kb, p] = transposeB ? [b.shape[0], b.shape[2], b.shape[1]] : b.shape;
  if (n !== nb || k !== kb) {
    throw new ShapeError(
      'batchMatMul shapes',
      `${JSON.stringify(a.shape)} and ${JSON.stringify(b.shape)}`,
      'float32[N, M, K] and float32[N, K, P] after the transposes',
    );
  }
  if (!prefersExplicitTranspose() || n === 1 || m * k * p < SLICED_MIN_MACS)
    return tf.matMul(a, b, transposeA, transposeB);
  return tf.tidy(
    () =>
      tf
        .engine()
        .runKernel(
          SLICED_BATCH_MATMUL,
          { a: transposeA ? transposeLast(a) : a, b: transposeB ? transposeLast(b) : b },
          {},
        ) as Tensor3D,
  );
}
