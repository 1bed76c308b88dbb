// Host-side selection with an exact, backend-independent tie rule: higher score first, and among
// equal scores the lower index (position or expert) first. Scores are read from detached
// tensors; these int results never enter the gradient tape (topk has no gradient).
//
// tf.topk happened to order ties by lower index on cpu and wasm in tfjs 4.22 in our probe, but
// nothing documents it, so selection is done here with a stable comparison instead.

/** Whether score a at index ia ranks before score b at index ib. */
export function ranksBefore(a: number, ia: number, b: number, ib: number): boolean {
  return a > b || (a === b && ia < ib);
}

/**
 * The k best of `candidates` (indices into `score`), best first, ties by lower index.
 * `score(i)` must not be NaN. O(n log n).
 */
export function topKOf(
  candidates: readonly number[] | Int32Array,
  k: number,
  score: (i: number) => number,
): number[] {
  const order = Array.from(candidates);
  order.sort((i, j) => {
    const si = score(i);
    const sj = score(j);
    return si === sj ? i - j : sj > si ? 1 : -1;
  });
  return order.slice(0, Math.max(0, k));
}

/** Reads a padding mask [B, T] (any dtype; non-zero = real token) into booleans, or all true. */
export function validityOf(
  maskValues: ArrayLike<number | boolean> | undefined,
  size: number,
): Uint8Array {
  const valid = new Uint8Array(size);
  for (let i = 0; i < size; i++)
    valid[i] = maskValues === undefined || Number(maskValues[i]) !== 0 ? 1 : 0;
  return valid;
}
