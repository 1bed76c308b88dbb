// fast-check arbitraries for shapes and configs shared by the test suites.
import fc from 'fast-check';

/** A small dimension in [min, max]. */
export const dim = (min = 1, max = 8): fc.Arbitrary<number> => fc.integer({ min, max });

/** A matrix shape pair for x [n, i] and w [i, o]. */
export const linearShapes = (max = 12) =>
  fc.record({ n: dim(1, max), i: dim(1, max), o: dim(1, max), bias: fc.boolean(), seed: fc.nat(1e6) });

/** An attention shape: batch, tokens, heads, head width. */
export const attentionShapes = () =>
  fc.record({ b: dim(1, 2), t: dim(1, 6), h: dim(1, 3), dh: dim(1, 4), causal: fc.boolean(), seed: fc.nat(1e6) });

/** Property-run settings that keep the suite fast on 2 cores (override with FC_NUM_RUNS). */
export function runs(defaultRuns: number): { numRuns: number } {
  const env = Number(process.env['FC_NUM_RUNS']);
  return { numRuns: Number.isInteger(env) && env > 0 ? env : defaultRuns };
}
