// Gradient checks: analytic gradients against central finite differences along random
// directions, and against a reference implementation's autodiff.
import { tf, type Tensor } from '@moderoute/core';
import { expectClose, type Tolerance } from './assertions.js';

/** Relative rounding error of a float32 reduction of a few dozen terms. */
const FLOAT32_REDUCTION_ERROR = 4e-6;

/**
 * Deterministic float32 tensor with entries from N(0, scale^2). tfjs treats a seed of 0 as no
 * seed at all, so the seed is shifted by one.
 */
export function randomTensor(shape: number[], seed: number, scale = 1): Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed + 1), scale));
}

/** Options of the directional-derivative gradient check. */
export interface DirectionalCheckOptions {
  /** Finite-difference step along the unit-free direction (default 1e-2). */
  readonly epsilon?: number;
  /** Number of random directions (default 2). */
  readonly directions?: number;
  /** Seed of the directions. */
  readonly seed?: number;
  /** Tolerance between the analytic and numeric directional derivatives. */
  readonly tolerance?: Tolerance;
}

/**
 * Checks the gradient of a scalar function f(x1..xn) at `inputs`: for random directions v, the
 * analytic <grad f, v> must match (f(x + eps v) - f(x - eps v)) / (2 eps). Float32 arithmetic
 * limits the agreement to about 1e-2 relative; choose smooth, well-scaled test functions.
 */
export function checkDirectionalDerivatives(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: DirectionalCheckOptions = {},
): void {
  const {
    epsilon = 1e-2,
    directions = 2,
    seed = 7,
    tolerance = { rtol: 2e-2, atol: 2e-3 },
  } = options;
  const grads = tf.grads(f)(inputs);
  try {
    for (let d = 0; d < directions; d++) {
      const [analytic, numeric, magnitude] = tf.tidy(() => {
        const vs = inputs.map((x, i) =>
          tf.randomNormal(x.shape, 0, 1, 'float32', seed + 101 * d + i + 1),
        );
        const dot = grads.reduce(
          (acc, g, i) => tf.add(acc, tf.sum(tf.mul(g, vs[i] as Tensor))),
          tf.scalar(0),
        );
        // Central differences at eps and eps / 2, combined by Richardson extrapolation
        // ((4 D(eps/2) - D(eps)) / 3) so that the O(eps^2) truncation error cancels: products of
        // inputs make f a higher-degree polynomial along v, where plain central differences err.
        const central = (e: number) => {
          const plus = f(...inputs.map((x, i) => tf.add(x, tf.mul(vs[i] as Tensor, e))));
          const minus = f(...inputs.map((x, i) => tf.sub(x, tf.mul(vs[i] as Tensor, e))));
          return {
            fd: tf.div(tf.sub(plus, minus), 2 * e),
            magnitude: tf.maximum(tf.abs(plus), tf.abs(minus)),
          };
        };
        const coarse = central(epsilon);
        const fine = central(epsilon / 2);
        const fd = tf.div(tf.sub(tf.mul(fine.fd, 4), coarse.fd), 3);
        const magnitude = tf.maximum(coarse.magnitude, fine.magnitude);
        return [
          dot.dataSync()[0] as number,
          fd.dataSync()[0] as number,
          magnitude.dataSync()[0] as number,
        ];
      });
      // The difference quotients carry float32 rounding of f itself (about 1e-6 relative after
      // a reduction), amplified by 1 / (2 eps) and by the extrapolation (4/3 at eps / 2 plus 1/3
      // at eps): widen the absolute tolerance by that much.
      const rounding = (3 * FLOAT32_REDUCTION_ERROR * magnitude) / (2 * epsilon);
      expectClose(
        [analytic],
        [numeric],
        { ...tolerance, atol: (tolerance.atol ?? 0) + rounding },
        `directional derivative ${d}`,
      );
    }
  } finally {
    tf.dispose(grads);
  }
}

/**
 * Checks that two implementations agree, value and gradients, at `inputs` under the same
 * upstream gradient (a fixed random cotangent, so every output element is weighed).
 */
export function checkSameGradients(
  actual: (...xs: Tensor[]) => Tensor,
  reference: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  tolerance: Tolerance = { rtol: 1e-3, atol: 1e-4 },
  seed = 11,
): void {
  tf.tidy(() => {
    const ya = actual(...inputs);
    const yr = reference(...inputs);
    expectClose(ya, yr, tolerance, 'value');
    const cot = tf.randomNormal(yr.shape, 0, 1, 'float32', seed + 1);
    const ga = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(actual(...xs), cot)))(inputs);
    const gr = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(reference(...xs), cot)))(inputs);
    ga.forEach((g, i) => expectClose(g, gr[i] as Tensor, tolerance, `gradient of input ${i}`));
  });
}
