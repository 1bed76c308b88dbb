// The row primitives every routed block moves tokens with (core's gatherRows and scatterAddRows,
// forward and gradient), on webgl against cpu, at odd row counts and on inputs that come out of
// another kernel: tfjs's packed ScatterNd on webgl read a padding row as a real one there, which
// core works around (packages/core/src/primitives/gather.ts); this suite is its regression test.
// Axis legend: M rows moved, N rows of the table, F features.
import fc from 'fast-check';
import { gatherRows, scatterAddRows, tf, type Tensor1D, type Tensor2D } from '@moderoute/core';
import { assertAgreement, type Comparison } from './agreement.js';
import type { SuiteCounter } from './report.js';

/** The suite's name (its title in the page's report). */
export const PRIMITIVES_SUITE = 'core row primitives (webgl vs cpu)';

interface RowsCase {
  readonly m: number;
  readonly n: number;
  readonly f: number;
  readonly indices: readonly number[];
  readonly seed: number;
}

const cases: fc.Arbitrary<RowsCase> = fc
  .record({ m: fc.integer({ min: 1, max: 7 }), n: fc.integer({ min: 1, max: 5 }) })
  .chain(({ m, n }) =>
    fc.record({
      m: fc.constant(m),
      n: fc.constant(n),
      f: fc.integer({ min: 1, max: 5 }),
      indices: fc.array(fc.nat(n - 1), { minLength: m, maxLength: m }),
      seed: fc.nat(1e6),
    }),
  );

/** Scatter-add and gather of a case, values and gradients, on the active backend. */
function run({ m, n, f, indices, seed }: RowsCase): Record<string, number[]> {
  return tf.tidy(() => {
    const idx = tf.tensor1d(indices as number[], 'int32') as Tensor1D;
    // Outputs of an elementwise kernel with a scalar: packed on webgl, padding not zero.
    const rows = tf.add(tf.randomNormal([m, f], 0, 1, 'float32', seed + 1), 0.5) as Tensor2D;
    const table = tf.add(tf.randomNormal([n, f], 0, 1, 'float32', seed + 2), 0.5) as Tensor2D;
    const scatterCot = tf.randomNormal([n, f], 0, 1, 'float32', seed + 3);
    const gatherCot = tf.randomNormal([m, f], 0, 1, 'float32', seed + 4);
    const scatter = (r: tf.Tensor) => tf.sum(tf.mul(scatterAddRows(r, idx, n), scatterCot));
    const gather = (t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t, idx), gatherCot));
    const read = (t: tf.Tensor) => Array.from(t.dataSync());
    return {
      scatterAddRows: read(scatterAddRows(tf.add(rows, 0.25) as Tensor2D, idx, n)),
      'scatterAddRows gradient': read(tf.grad(scatter)(rows)),
      gatherRows: read(gatherRows(tf.add(table, 0.25) as Tensor2D, idx)),
      'gatherRows gradient': read(tf.grad(gather)(table)),
    };
  }) as Record<string, number[]>;
}

/** Compares every value of the two runs. */
function compare(
  cmp: Comparison,
  cpu: Record<string, number[]>,
  webgl: Record<string, number[]>,
): boolean {
  for (const [what, values] of Object.entries(cpu)) cmp.values(what, values, webgl[what]!);
  return true;
}

/** Declares the row primitives' agreement test (inside the caller's describe). */
export function primitivesAgreement(counter: SuiteCounter, numRuns: number): void {
  it('should move rows as on cpu, at odd row counts, forward and backward', () =>
    assertAgreement(counter, cases, run, compare, numRuns));
}
