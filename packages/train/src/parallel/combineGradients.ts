// The training thread's combine of the replicas' gradients in a data-parallel step
// (DataParallel.ts): g = sum_r w_r g_r, by parameter name.
import {
  concatFlat,
  splitFlat,
  tensorFromView,
  tf,
  type Tensor,
  type Variable,
} from '@moderoute/core';

/** Floats per chunk of the combine: 1 MB, as AdamW's. */
const COMBINE_CHUNK_FLOATS = 1 << 18;

/**
 * g = sum_r w_r g_r as flat vectors, chunk by chunk (consecutive parameters of at most
 * COMBINE_CHUNK_FLOATS floats, a larger one alone): the training thread's gradients `own` of a
 * chunk concatenated (zeros for parameters its rows did not reach), each worker's part of its
 * buffer uploaded whole (`workers[r]`, packed in `params` order, zeros likewise, `present[r]`
 * telling which it reached), a weighted sum (w[0] for `own`, w[r + 1] for worker r), one split.
 * A few kernels per chunk and replica, where a combine per parameter takes about 4 per parameter
 * and replica (docs/performance.md). The chunks keep the temporaries to a few chunks' size. A
 * parameter no replica reached gets no entry, as in a one-replica step.
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
      let sum = tf.tidy(() =>
        tf.mul(concatFlat(chunk.map(([name, v]) => own.get(name) ?? tf.zeros(v.shape))), w[0]!),
      );
      workers.forEach((worker, r) => {
        const next = tf.tidy(() =>
          tf.add(
            sum,
            tf.mul(tensorFromView(worker.grads.subarray(offset, offset + size), [size]), w[r + 1]!),
          ),
        );
        sum.dispose();
        sum = next;
      });
      const parts = splitFlat(
        sum,
        chunk.map(([, v]) => v.shape),
      );
      sum.dispose();
      chunk.forEach(([name], i) =>
        reached[start + i] ? grads.set(name, parts[i]!) : parts[i]!.dispose(),
      );
    }
    start = end;
    offset += size;
  }
  return grads;
}
