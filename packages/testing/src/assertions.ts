// Tensor assertions: closeness with a readable diff, and leak checks.
import { tf, type Tensor } from '@moderoute/core';

/** Tolerances of the close-enough assertions. */
export interface Tolerance {
  /** Relative tolerance (default 1e-4). */
  readonly rtol?: number;
  /** Absolute tolerance (default 1e-5). */
  readonly atol?: number;
}

/** Numbers, possibly nested in arrays (as `tensor.arraySync()` gives them). */
export type NestedNumbers = number | ArrayLike<number> | readonly NestedNumbers[];

function toArray(x: Tensor | NestedNumbers): Float64Array {
  if (x instanceof tf.Tensor) return Float64Array.from(x.dataSync());
  if (typeof x === 'number') return Float64Array.of(x);
  return Float64Array.from(
    (Array.from(x as ArrayLike<NestedNumbers>) as NestedNumbers[]).flat(Infinity as 1) as number[],
  );
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise (and equal shapes when both
 * are tensors); the error names the worst element.
 */
export function expectClose(
  actual: Tensor | NestedNumbers,
  expected: Tensor | NestedNumbers,
  tolerance: Tolerance = {},
  label = 'tensor',
): void {
  const { rtol = 1e-4, atol = 1e-5 } = tolerance;
  if (
    actual instanceof tf.Tensor &&
    expected instanceof tf.Tensor &&
    !tf.util.arraysEqual(actual.shape, expected.shape)
  ) {
    throw new Error(
      `${label}: shape ${JSON.stringify(actual.shape)} != expected ${JSON.stringify(expected.shape)}`,
    );
  }
  const a = toArray(actual);
  const e = toArray(expected);
  if (a.length !== e.length)
    throw new Error(`${label}: ${a.length} elements != expected ${e.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const ai = a[i] as number;
    const ei = e[i] as number;
    const excess = Math.abs(ai - ei) - (atol + rtol * Math.abs(ei));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${label}: element ${worst} is ${a[worst]}, expected ${e[worst]} (rtol ${rtol}, atol ${atol}); ` +
        `max abs diff ${maxAbsDiff(a, e)}`,
    );
  }
}

function maxAbsDiff(a: Float64Array, e: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (e[i] as number)));
  return m;
}

/**
 * Runs `body`, disposes what it returns, and asserts that the number of live tensors is what it
 * was before. Returns the body's result read out as plain data.
 */
export function expectNoLeaks<R>(body: () => R, label = 'body'): void {
  const before = tf.memory().numTensors;
  const result = body();
  tf.dispose(result as never);
  const after = tf.memory().numTensors;
  if (after !== before)
    throw new Error(
      `${label} leaked ${after - before} tensor(s): ${before} live before, ${after} after`,
    );
}

/** The async form of expectNoLeaks. */
export async function expectNoLeaksAsync<R>(body: () => Promise<R>, label = 'body'): Promise<void> {
  const before = tf.memory().numTensors;
  const result = await body();
  tf.dispose(result as never);
  const after = tf.memory().numTensors;
  if (after !== before)
    throw new Error(
      `${label} leaked ${after - before} tensor(s): ${before} live before, ${after} after`,
    );
}
