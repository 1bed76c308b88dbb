// Timing helpers shared by moderoute's benchmarks (`pnpm bench:ops`, `pnpm bench`).
import { tf, type Tensor } from './tf.js';

/**
 * Best wall time of `body` over `reps` runs after `warmup` runs, in ms; what `body` returns is
 * disposed. The best, not the median: on a shared machine other work only adds time, so the
 * minimum is the figure least disturbed by it.
 */
export function bestTimeMs(body: () => tf.TensorContainer, reps: number, warmup = 2): number {
  let best = Infinity;
  for (let i = 0; i < warmup + reps; i++) {
    const start = performance.now();
    const out = tf.tidy(body);
    // Reading one value waits for an asynchronous backend (native GPU) to finish.
    const first = tf.util.flatten([out as never]).find((t: unknown) => t instanceof tf.Tensor) as
      Tensor | undefined;
    first?.dataSync();
    const elapsed = performance.now() - start;
    tf.dispose(out);
    if (i >= warmup) best = Math.min(best, elapsed);
  }
  return best;
}

/** The shape the matmul peak is measured at: [M x K] x [K x N]. */
export const PEAK_SHAPE = { m: 512, k: 256, n: 1024 } as const;

/** Plain 2-D matmul throughput of the active backend in GFLOP/s (its practical peak). */
export function matmulPeakGflops(reps = 9): number {
  const { m, k, n } = PEAK_SHAPE;
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 1);
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 2);
  try {
    return (2 * m * k * n) / bestTimeMs(() => tf.matMul(a, b), reps) / 1e6;
  } finally {
    tf.dispose([a, b]);
  }
}
