// Core's own row scatter-add on wasm (assembly/rows.ts, scatterAddRowsKernel.ts): it runs where
// the own kernels serve, and gives gather.ts's JavaScript kernel's sums bit for bit on random
// shapes with repeated indices (the embedding's gradient), as the value of scatterAddRows and as
// a gather's gradient; it refuses an index outside the rows before writing; no tensor left behind.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  gatherRows,
  ownScatterAddRowsKernel,
  scatterAddRows,
  tf,
  withOwnKernels,
  type Tensor,
  type Tensor1D,
} from '@moderoute/core';
import { dim, expectNoLeaks, randomTensor, runs, useBackend } from '@moderoute/testing';
import { itRunsOwnKernels } from './ownKernelChecks.js';

/** scatterAddRows' value and a gather's gradient (under sum(gather * u)), own kernels on or off. */
function scatterAndGatherGrad(own: boolean, rows: Tensor, idx: Tensor1D, n: number, u: Tensor) {
  return withOwnKernels(own, () => {
    const table = tf.zeros([n, ...rows.shape.slice(1)]);
    const [grad] = tf.grads((t: Tensor) => tf.sum(tf.mul(gatherRows(t, idx), u)))([table]);
    return [scatterAddRows(rows, idx, n), grad!];
  });
}

describe('own row scatter-add (scatterAddRows on wasm)', () => {
  useBackend('wasm');

  itRunsOwnKernels(ownScatterAddRowsKernel);

  it("should give the JavaScript kernel's sums bit for bit, repeated indices included", () => {
    fc.assert(
      fc.property(
        dim(1, 40),
        dim(1, 12),
        fc.array(dim(1, 11), { maxLength: 2 }),
        fc.nat(1e6),
        (m, n, feature, seed) => {
          tf.tidy(() => {
            const rows = randomTensor([m, ...feature], seed);
            const u = randomTensor([m, ...feature], seed + 1);
            const ids = Array.from({ length: m }, (_, i) => (seed + i * 7) % n);
            const idx = tf.tensor1d(ids, 'int32') as Tensor1D;
            const own = scatterAndGatherGrad(true, rows, idx, n, u);
            const ref = scatterAndGatherGrad(false, rows, idx, n, u);
            own.forEach((t, i) =>
              assert.deepEqual(t.dataSync(), ref[i]!.dataSync(), `output ${i}`),
            );
          });
        },
      ),
      runs(30),
    );
  });

  it('should refuse an index outside the rows, naming it, and leak nothing', () => {
    tf.tidy(() => {
      const rows = tf.ones([3, 4]);
      const idx = tf.tensor1d([0, 5, 1], 'int32') as Tensor1D;
      assert.throws(() => scatterAddRows(rows, idx, 4), /indices\[1\] \(5\) must lie in \[0, 4\)/);
    });
    const rows = randomTensor([6, 8], 1);
    const idx = tf.tensor1d([2, 0, 2, 3, 0, 1], 'int32') as Tensor1D;
    expectNoLeaks(() => tf.dispose(scatterAddRows(rows, idx, 4)), 'own scatterAddRows');
    tf.dispose([rows, idx]);
  });
});
