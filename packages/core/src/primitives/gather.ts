// Row gather and its dual, row scatter-add, each the other's gradient.
// Axis legend: N rows of the table, M indices (rows touched, duplicates allowed), F features
// (any trailing shape).
//
// tfjs's own gather gradient needs UnsortedSegmentSum, which wasm lacks and cpu runs slowly
// (docs/performance.md, "Backend facts"). scatterND sums duplicate indices, so it is the exact gradient of a gather
// with repeated rows, and its work is O(M * F) plus the zero fill of the output.
//
// On wasm both directions run as small kernels that copy (or add) whole rows inside the wasm heap:
// wasm's GatherV2 moves one element at a time and its ScatterNd is slow too; the row kernels are
// an order of magnitude faster (docs/performance.md, "Backend facts"). Where core's own kernels
// serve, scatterAddRowsKernel.ts overrides the scatter-add with the same sums in SIMD.
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor1D } from '../tf.js';
import { ShapeError } from '../errors.js';
import { requireDtype } from '../validate.js';
import { prefersExplicitTranspose, type WasmHeapBackend } from './matmul.js';

/** Kernel names of the wasm row gather and row scatter-add. */
export const GATHER_ROWS = 'ModerouteGatherRows';
/** Kernel name of the wasm row scatter-add. */
export const SCATTER_ADD_ROWS = 'ModerouteScatterAddRows';

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

/**
 * The int32 indices of a tensor on the wasm heap, after checking each lies in [0, numRows) (a
 * RangeError names the first that does not): the kernels that take row indices do not check.
 */
export function checkedIndices(
  be: Pick<WasmHeapBackend, 'typedArrayFromHeap'>,
  indices: TensorInfo,
  numRows: number,
): Int32Array {
  const idx = be.typedArrayFromHeap(indices) as unknown as Int32Array;
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i] as number;
    if (!(r >= 0 && r < numRows))
      throw new RangeError(`indices[${i}] (${r}) must lie in [0, ${numRows})`);
  }
  return idx;
}

/** table float32[N, ...F], indices int32[M] -> float32[M, ...F]. */
function gatherRowsKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const be = backend as WasmHeapBackend;
  const table = inputs['table'] as TensorInfo;
  const indices = inputs['indices'] as TensorInfo;
  const n = table.shape[0] as number;
  const m = indices.shape[0] as number;
  const row = n === 0 ? 0 : tf.util.sizeFromShape(table.shape) / n;
  const out = be.makeOutput([m, ...table.shape.slice(1)], 'float32');
  const idx = checkedIndices(be, indices, n);
  const src = be.typedArrayFromHeap(table);
  const dst = be.typedArrayFromHeap(out);
  for (let i = 0; i < m; i++) {
    const r = idx[i] as number;
    dst.set(src.subarray(r * row, (r + 1) * row), i * row);
  }
  return out;
}

/** rows float32[M, ...F], indices int32[M] -> float32[numRows, ...F], duplicates summed. */
function scatterAddRowsKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const be = backend as WasmHeapBackend;
  const rows = inputs['rows'] as TensorInfo;
  const indices = inputs['indices'] as TensorInfo;
  const { numRows } = attrs as { numRows: number };
  const m = rows.shape[0] as number;
  const row = m === 0 ? 0 : tf.util.sizeFromShape(rows.shape) / m;
  const out = be.makeOutput([numRows, ...rows.shape.slice(1)], 'float32');
  const idx = checkedIndices(be, indices, numRows);
  const src = be.typedArrayFromHeap(rows);
  const dst = be.typedArrayFromHeap(out);
  dst.fill(0);
  for (let i = 0; i < m; i++) {
    const o = (idx[i] as number) * row;
    const s = i * row;
    for (let j = 0; j < row; j++) dst[o + j] = (dst[o + j] as number) + (src[s + j] as number);
  }
  return out;
}

if (tf.getKernel(GATHER_ROWS, 'wasm') === undefined) {
  tf.registerKernel({
    kernelName: GATHER_ROWS,
    backendName: 'wasm',
    kernelFunc: gatherRowsKernel as never,
  });
  tf.registerKernel({
    kernelName: SCATTER_ADD_ROWS,
    backendName: 'wasm',
    kernelFunc: scatterAddRowsKernel as never,
  });
}

/** Row gather, no gradient: the row kernel on wasm, tf.gather elsewhere. */
function gatherRaw(table: Tensor, indices: Tensor): Tensor {
  if (!prefersExplicitTranspose() || table.dtype !== 'float32') return tf.gather(table, indices, 0);
  return tf.engine().runKernel(GATHER_ROWS, { table, indices }, {}) as Tensor;
}

/**
 * Row scatter-add, no gradient: the row kernel on wasm, scatterND elsewhere. On webgl an odd
 * number of rows gets one more, all zero, added to row 0: tfjs's packed ScatterNd there
 * (tfjs-backend-webgl 4.22 `scatter_packed_gpu.ts`) reads update rows and indices in pairs without
 * checking the second exists, and adds the texture's padding row (not zero after another packed
 * kernel) at the padding index (docs/performance.md, "Backend facts"; the in-browser law page's
 * row-primitives suite, test/browser/laws/primitivesAgreement.ts, fails without this).
 */
function scatterAddRaw(rows: Tensor, indices: Tensor, shape: number[]): Tensor {
  if (!prefersExplicitTranspose() || rows.dtype !== 'float32') {
    const m = rows.shape[0] as number;
    if (m % 2 === 1 && tf.getBackend() === 'webgl' && tf.env().getBool('WEBGL_PACK')) {
      return tf.tidy(() => {
        // Shape: [M, ...F] -> [M+1, ...F]; indices [M] -> [M+1]
        const padded = tf.concat([rows, tf.zeros([1, ...rows.shape.slice(1)], rows.dtype)], 0);
        const index = tf.concat([tf.reshape(indices, [-1]), tf.zeros([1], 'int32')], 0);
        return tf.scatterND(tf.reshape(index, [-1, 1]), padded, shape);
      });
    }
    return tf.scatterND(tf.reshape(indices, [-1, 1]), rows, shape);
  }
  return tf
    .engine()
    .runKernel(SCATTER_ADD_ROWS, { rows, indices }, { numRows: shape[0] as number }) as Tensor;
}

type SaveFn = (tensors: Tensor[]) => void;

function checkIndices(indices: Tensor1D): void {
  requireDtype('indices', indices, 'int32');
  if (indices.rank !== 1) throw new ShapeError('indices.shape', indices.shape, 'of rank 1, [M]');
}

/**
 * Rows of a table: float32[N, ...F] gathered at int32[M] -> float32[M, ...F].
 * Backward scatter-adds dy into the table's rows (duplicate indices sum).
 * Indices outside [0, N) throw, naming the index (the wasm row kernel and cpu's GatherV2 check them).
 */
export function gatherRows<T extends Tensor>(table: T, indices: Tensor1D): T {
  checkIndices(indices);
  if (table.rank < 1) throw new ShapeError('table.shape', table.shape, 'of rank >= 1, [N, ...]');
  const tableShape = table.shape;
  // The indices are not an input (int32 on the tape fails) but are saved, so backprop still has
  // them when the caller has disposed its own handle.
  const op = tf.customGrad(((t: Tensor, save: SaveFn) => {
    save([indices]);
    return {
      value: gatherRaw(t, indices),
      // Shape: dy [M, ...F] scattered into [N, ...F]
      gradFunc: (dy: Tensor, [idx]: Tensor[]) => scatterAddRaw(dy, idx as Tensor, tableShape),
    };
  }) as never) as unknown as (t: Tensor) => Tensor;
  return op(table) as T;
}

/**
 * Scatter-add of rows: float32[M, ...F] into `numRows` rows at int32[M] -> float32[N, ...F].
 * Rows never indexed are zero; duplicate indices sum. Backward gathers dy at the indices.
 */
export function scatterAddRows<T extends Tensor>(rows: T, indices: Tensor1D, numRows: number): T {
  checkIndices(indices);
  if (rows.rank < 1 || rows.shape[0] !== indices.shape[0]) {
    throw new ShapeError(
      'rows.shape',
      rows.shape,
      `[${indices.shape[0]}, ...] (one row per index)`,
    );
  }
  if (!Number.isInteger(numRows) || numRows < 0)
    throw new ShapeError('numRows', String(numRows), 'an integer >= 0');
  const outShape = [numRows, ...rows.shape.slice(1)];
  const op = tf.customGrad(((r: Tensor, save: SaveFn) => {
    save([indices]);
    return {
      // Shape: rows [M, ...F] -> [N, ...F]
      value: scatterAddRaw(r, indices, outShape),
      gradFunc: (dy: Tensor, [idx]: Tensor[]) => gatherRaw(dy, idx as Tensor),
    };
  }) as never) as unknown as (r: Tensor) => Tensor;
  return op(rows) as T;
}

/** Embedding lookup: float32[V, D] at int32[...S] -> float32[...S, D]. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  if (table.rank !== 2)
    throw new ShapeError('table.shape', table.shape, 'of rank 2, [vocabSize, dim]');
  requireDtype('ids', ids, 'int32');
  // Shape: [...S] -> [M]; [M, D] -> [...S, D]
  const flat = tf.reshape(ids, [-1]) as Tensor1D;
  return tf.reshape(gatherRows(table, flat), [...ids.shape, table.shape[1] as number]);
}
