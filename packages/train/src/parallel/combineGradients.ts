// The training thread's combine of the replicas' gradients in a data-parallel step
// (DataParallel.ts): g = sum_r w_r g_r, by parameter name.
import { combineParts, tensorFromView, tf, type Tensor, type Variable } from '@moderoute/core';

/** Floats per chunk of the combine: 1 MB, as AdamW's. */
const COMBINE_CHUNK_FLOATS = 1 << 18;

/**
 * g = sum_r w_r g_r, chunk by chunk (consecutive parameters of at most COMBINE_CHUNK_FLOATS
 * floats, a larger one alone): each worker's part of its buffer uploaded whole (`workers[r]`,
 * packed in `params` order, zeros for parameters its rows did not reach, `present[r]` telling
 * which it reached), then core's combineParts writes each parameter's sum from the training
 * thread's gradient `own` (w[0]; none: 0) and the uploaded parts (w[r + 1]) in one pass, one own
 * kernel per chunk on wasm (docs/performance.md, round 10). The chunks keep the temporaries to a
 * few chunks' size. A parameter no replica reached gets no entry, as in a one-replica step.
 */
export function combineGradients(
  params: readonly (readonly [string, Variable])[],
  own: ReadonlyMap<string, Tensor>,
  workers: readonly { readonly grads: Float32Array; readonly present: readonly boolean[] }[],
  w: readonly number[],
): Map<string, Tensor> {
  const reached = params.map(([name], k) => own.has(name) || workers.some((r) => r.present[k]));
  const grads = new Map<string, Tensor>();
  let start = 0;
  let offset = 0;
  while (start < params.length) {
    // The chunk [start, end) of the parameters, at `offset` floats into the packed buffers.
    let end = start + 1;
    let size = params[start]![1].size;
    while (end < params.length && size + params[end]![1].size <= COMBINE_CHUNK_FLOATS)
      size += params[end++]![1].size;
    const chunk = params.slice(start, end);
    if (reached.slice(start, end).some((x) => x)) {
      const flats = workers.map((worker) =>
        tensorFromView(worker.grads.subarray(offset, offset + size), [size]),
      );
      let at = 0;
      const parts = chunk.map(([name, v]) => {
        const part = { shape: v.shape, own: own.get(name), offset: at };
        at += v.size;
        return part;
      });
      const sums = combineParts(parts, flats, w);
      tf.dispose(flats);
      chunk.forEach(([name], i) =>
        reached[start + i] ? grads.set(name, sums[i]!) : sums[i]!.dispose(),
      );
    }
    start = end;
    offset += size;
  }
  return grads;
}
