// Timing helpers shared by moderoute's benchmarks (`pnpm bench:ops`, `pnpm bench`).
import { tf, type Tensor, type Tensor2D } from './tf.js';
import { ownGemmKernels } from './primitives/gemmKernel.js';
import { matmul2d } from './primitives/matmul.js';
import { withOwnKernels } from './primitives/ownKernels.js';

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

/** Whose 2-D product a peak is measured with: tfjs's (the backend's own matMul) or core's. */
export type PeakProduct = 'tfjs' | 'own';

/**
 * Plain 2-D matmul throughput of the active backend in GFLOP/s (its practical peak): tfjs's
 * matMul, or with `product` 'own' core's own product (`matmul2d` with the own kernels switched
 * on; NaN where they do not serve the backend).
 */
export function matmulPeakGflops(reps = 9, product: PeakProduct = 'tfjs'): number {
  const { m, k, n } = PEAK_SHAPE;
  if (product === 'own' && !withOwnKernels(true, ownGemmKernels)) return Number.NaN;
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 1) as Tensor2D;
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 2) as Tensor2D;
  const body =
    product === 'own' ? () => withOwnKernels(true, () => matmul2d(a, b)) : () => tf.matMul(a, b);
  try {
    return (2 * m * k * n) / bestTimeMs(body, reps) / 1e6;
  } finally {
    tf.dispose([a, b]);
  }
}
