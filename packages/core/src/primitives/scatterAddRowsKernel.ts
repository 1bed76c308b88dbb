// Core's own row scatter-add on the wasm backend (assembly/rows.ts): it overrides gather.ts's
// JavaScript kernel (SCATTER_ADD_ROWS) where the own kernels serve, with the same sums in the
// same order, bit for bit, in SIMD. The embedding's gradient runs it every step: 512 rows of 128
// floats at the bench config, 0.3 ms a replica step in JavaScript (docs/performance.md, round 12).
// Elsewhere (own kernels off, another dtype) gather.ts's kernel runs as before.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../tf.js';
import { SCATTER_ADD_ROWS, checkedIndices } from './gather.js';
import { ownKernelOverride, ownKernelsServe } from './ownKernels.js';

ownKernelOverride(
  SCATTER_ADD_ROWS,
  ['scatterAddRows'],
  ({ inputs, attrs, backend, exports, offset }) => {
    const rows = inputs['rows'] as TensorInfo;
    if (rows.dtype !== 'float32') return undefined;
    const { numRows } = attrs as { numRows: number };
    const m = rows.shape[0] as number;
    const d = m === 0 ? 0 : tf.util.sizeFromShape(rows.shape) / m;
    checkedIndices(backend, inputs['indices'] as TensorInfo, numRows);
    const out = backend.makeOutput([numRows, ...rows.shape.slice(1)], 'float32');
    exports['scatterAddRows']!(offset(rows), offset(inputs['indices']), offset(out), m, d, numRows);
    return out;
  },
);

/** Whether scatterAddRows runs the own kernel here: on, registered and instantiable. */
export function ownScatterAddRowsKernel(): boolean {
  return ownKernelsServe(SCATTER_ADD_ROWS);
}
