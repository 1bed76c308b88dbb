// Row gather and its dual, row scatter-add, each the other's gradient.
// Axis legend: N rows of the table, M indices (rows touched, duplicates allowed), F features
// (any trailing shape).
//
// tfjs's own gather gradient needs UnsortedSegmentSum, which wasm lacks and cpu runs in seconds
// (PERF-NOTES.md). scatterND sums duplicate indices, so it is the exact gradient of a gather
// with repeated rows, and its work is O(M * F) plus the zero fill of the output.
import { tf, type Tensor, type Tensor1D } from '../tf.js';
import { ShapeError } from '../errors.js';
import { requireDtype } from '../validate.js';

type SaveFn = (tensors: Tensor[]) => void;

function checkIndices(indices: Tensor1D): void {
  requireDtype('indices', indices, 'int32');
  if (indices.rank !== 1) throw new ShapeError('indices.shape', indices.shape, 'of rank 1, [M]');
}

/**
 * Rows of a table: float32[N, ...F] gathered at int32[M] -> float32[M, ...F].
 * Backward scatter-adds dy into the table's rows (duplicate indices sum).
 * Indices must lie in [0, N); they are not checked on the device.
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
      value: tf.gather(t, indices, 0),
      // Shape: indices [M] -> [M, 1]; dy [M, ...F] scattered into [N, ...F]
      gradFunc: (dy: Tensor, [idx]: Tensor[]) => tf.scatterND(tf.reshape(idx as Tensor, [-1, 1]), dy, tableShape),
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
    throw new ShapeError('rows.shape', rows.shape, `[${indices.shape[0]}, ...] (one row per index)`);
  }
  if (!Number.isInteger(numRows) || numRows < 0) throw new ShapeError('numRows', String(numRows), 'an integer >= 0');
  const outShape = [numRows, ...rows.shape.slice(1)];
  const op = tf.customGrad(((r: Tensor, save: SaveFn) => {
    save([indices]);
    return {
      // Shape: indices [M] -> [M, 1]; rows [M, ...F] -> [N, ...F]
      value: tf.scatterND(tf.reshape(indices, [-1, 1]), r, outShape),
      gradFunc: (dy: Tensor, [idx]: Tensor[]) => tf.gather(dy, idx as Tensor, 0),
    };
  }) as never) as unknown as (r: Tensor) => Tensor;
  return op(rows) as T;
}

/** Embedding lookup: float32[V, D] at int32[...S] -> float32[...S, D]. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  if (table.rank !== 2) throw new ShapeError('table.shape', table.shape, 'of rank 2, [vocabSize, dim]');
  requireDtype('ids', ids, 'int32');
  // Shape: [...S] -> [M]; [M, D] -> [...S, D]
  const flat = tf.reshape(ids, [-1]) as Tensor1D;
  return tf.reshape(gatherRows(table, flat), [...ids.shape, table.shape[1] as number]);
}
