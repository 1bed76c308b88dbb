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
 * `score(i)` must not be NaN. When k is small against the candidates (a MoD router's 12.5%, an
 * expert's capacity), one pass keeps the best k in order (O(n k) at worst, about n plus a few
 * insertions of k on typical scores); otherwise a sort (O(n log n)). Both give the same list.
 */
export function topKOf(
  candidates: readonly number[] | Int32Array,
  k: number,
  score: (i: number) => number,
): number[] {
  const kept = Math.max(0, Math.min(k, candidates.length));
  if (kept === 0) return [];
  if (kept * SORT_ABOVE_FRACTION >= candidates.length) {
    const order = Array.from(candidates);
    order.sort((i, j) => {
      const si = score(i);
      const sj = score(j);
      return si === sj ? i - j : sj > si ? 1 : -1;
    });
    return order.slice(0, kept);
  }
  const best: number[] = [];
  const bestScore: number[] = [];
  for (const c of candidates) {
    const s = score(c);
    let p = best.length;
    if (p === kept) {
      if (!ranksBefore(s, c, bestScore[p - 1]!, best[p - 1]!)) continue;
      p -= 1;
    }
    // Shift the ones c ranks before one place down; c takes the place they leave.
    while (p > 0 && ranksBefore(s, c, bestScore[p - 1]!, best[p - 1]!)) {
      best[p] = best[p - 1]!;
      bestScore[p] = bestScore[p - 1]!;
      p -= 1;
    }
    best[p] = c;
    bestScore[p] = s;
  }
  return best;
}

/** topKOf sorts when k is at least this fraction of the candidates (1 / 4). */
const SORT_ABOVE_FRACTION = 4;

/**
 * The `count` largest of `values` (not NaN), largest first, as topKOf keeps them (a sort when
 * count is a large share of the values).
 */
export function largestValues(values: readonly number[], count: number): number[] {
  // A loop, not Array.from with a map function: that is about 20 times slower in V8, and this
  // runs for every sequence of every MoD routing call (docs/performance.md, round 12).
  const indices = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) indices[i] = i;
  const order = topKOf(indices, count, (i) => values[i]!);
  return order.map((i) => values[i]!);
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
