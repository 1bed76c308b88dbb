// Copies between tensors and host arrays without a temporary array per tensor: on wasm,
// dataSync allocates a copy of the tensor (the heap is read with slice), and tf.tensor of a view
// is copied into the heap at once; on other backends, the plain calls.
import { ShapeError } from '../errors.js';
import { tf, type Tensor } from '../tf.js';
import { prefersExplicitTranspose, type WasmHeapBackend } from './matmul.js';

/** Writes a float32 tensor's values into `out` at `offset`. */
export function readInto(t: Tensor, out: Float32Array<ArrayBufferLike>, offset = 0): void {
  if (t.dtype !== 'float32') throw new ShapeError('t.dtype', t.dtype, '"float32" (readInto)');
  if (offset + t.size > out.length)
    throw new ShapeError(
      't.size',
      String(t.size),
      `at most ${out.length - offset}, the room in out after offset ${offset} (readInto)`,
    );
  // wasm: a view of the tensor's bytes in the heap, valid until the next allocation.
  out.set(
    prefersExplicitTranspose()
      ? (tf.backend() as unknown as WasmHeapBackend).typedArrayFromHeap(t)
      : (t.dataSync() as Float32Array),
    offset,
  );
}

/**
 * A float32 tensor of `shape` with a copy of `values` (a view, possibly of shared memory, that
 * the caller may overwrite later): wasm copies it into its heap as the tensor is made, other
 * backends may keep the array they are given, so they get a copy.
 */
export function tensorFromView(
  values: Float32Array<ArrayBufferLike>,
  shape: readonly number[],
): Tensor {
  return tf.tensor(
    prefersExplicitTranspose() ? (values as Float32Array) : values.slice(),
    [...shape],
    'float32',
  );
}
