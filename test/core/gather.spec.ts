import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ShapeError,
  embedding,
  gatherRows,
  scatterAddRows,
  tf,
  type Tensor,
  type Tensor1D,
} from '@moderoute/core';
import {
  checkSameGradients,
  expectClose,
  expectNoLeaks,
  forEachBackend,
  randomTensor,
  runs,
} from '@moderoute/testing';

/** float32[M, N] one-hot rows (tf.oneHot refuses a depth of 1). */
const oneHot = (idx: Tensor1D, n: number) =>
  n === 1 ? tf.ones([idx.shape[0], 1]) : tf.oneHot(idx, n).cast('float32');
/** One-hot reference: gather = onehot(idx, N) @ table; its autodiff is the exact adjoint. */
const oneHotGather = (table: Tensor, idx: Tensor1D) => {
  const n = table.shape[0] as number;
  return tf
    .matMul(oneHot(idx, n), table.reshape([n, -1]))
    .reshape([idx.shape[0], ...table.shape.slice(1)]);
};
const oneHotScatter = (rows: Tensor, idx: Tensor1D, n: number) =>
  tf
    .matMul(oneHot(idx, n), rows.reshape([idx.shape[0], -1]), true, false)
    .reshape([n, ...rows.shape.slice(1)]);

const gatherCase = fc.record({
  n: fc.integer({ min: 1, max: 10 }),
  d: fc.integer({ min: 1, max: 6 }),
  m: fc.integer({ min: 1, max: 16 }),
  seed: fc.nat(1e6),
});

function indicesFor(n: number, m: number, seed: number): Tensor1D {
  // Deliberately many duplicates: m may exceed n.
  return tf.tensor1d(
    Array.from({ length: m }, (_, j) => (seed * 31 + j * 7) % n),
    'int32',
  );
}

describe('gatherRows and scatterAddRows', () => {
  forEachBackend(() => {
    it('should sum the gradient over duplicate indices (golden)', () => {
      tf.tidy(() => {
        const table = tf.tensor2d([
          [1, 2],
          [3, 4],
          [5, 6],
        ]);
        const idx = tf.tensor1d([2, 0, 2], 'int32');
        expectClose(
          gatherRows(table, idx),
          tf.tensor2d([
            [5, 6],
            [1, 2],
            [5, 6],
          ]),
        );
        const g = tf.grad((t: Tensor) =>
          tf.sum(
            tf.mul(
              gatherRows(t, idx),
              tf.tensor2d([
                [1, 1],
                [2, 2],
                [10, 10],
              ]),
            ),
          ),
        )(table);
        expectClose(
          g,
          tf.tensor2d([
            [2, 2],
            [0, 0],
            [11, 11],
          ]),
        );
      });
    });

    it('should equal the one-hot reference, value and gradient, on random cases', () => {
      fc.assert(
        fc.property(gatherCase, ({ n, d, m, seed }) => {
          tf.tidy(() => {
            const idx = indicesFor(n, m, seed);
            checkSameGradients(
              (t) => gatherRows(t as Tensor, idx),
              (t) => oneHotGather(t as Tensor, idx),
              [randomTensor([n, d], seed)],
            );
            checkSameGradients(
              (r) => scatterAddRows(r as Tensor, idx, n),
              (r) => oneHotScatter(r as Tensor, idx, n),
              [randomTensor([m, d], seed + 1)],
            );
          });
        }),
        runs(20),
      );
    });

    it('should gather rows of higher-rank tables', () => {
      tf.tidy(() => {
        const table = randomTensor([4, 2, 3], 5);
        const idx = tf.tensor1d([3, 3, 1], 'int32');
        checkSameGradients(
          (t) => gatherRows(t as Tensor, idx),
          (t) => oneHotGather(t as Tensor, idx),
          [table],
        );
      });
    });

    it('should keep working when the caller disposes its indices before backprop', () => {
      tf.tidy(() => {
        const table = randomTensor([5, 2], 1);
        const g = tf.grad((t: Tensor) => {
          const rows = tf.tidy(() => gatherRows(t, tf.tensor1d([1, 1, 4], 'int32')));
          return tf.sum(rows);
        })(table);
        expectClose(
          g,
          tf.tensor2d([
            [0, 0],
            [2, 2],
            [0, 0],
            [0, 0],
            [1, 1],
          ]),
        );
      });
    });

    it('should not leak tensors', () => {
      const table = tf.variable(randomTensor([6, 3], 1));
      const idx = tf.tensor1d([0, 5, 5], 'int32');
      expectNoLeaks(() => tf.variableGrads(() => tf.sum(gatherRows(table, idx))), 'gather');
      expectNoLeaks(
        () =>
          tf.variableGrads(() =>
            tf.sum(scatterAddRows(tf.mul(table, 1), tf.tensor1d([1, 1, 0, 2, 3, 4], 'int32'), 9)),
          ),
        'scatter',
      );
      tf.dispose([table, idx]);
    });
  });

  describe('when the indices are not int32 [M]', () => {
    it('should say so', () => {
      tf.tidy(() => {
        assert.throws(
          () => gatherRows(tf.zeros([3, 2]), tf.tensor1d([0, 1])),
          (e: unknown) =>
            e instanceof ShapeError && /indices\.dtype \(float32\) must be "int32"/.test(e.message),
        );
        assert.throws(
          () => scatterAddRows(tf.zeros([3, 2]), tf.tensor1d([0, 1], 'int32'), 4),
          /rows\.shape \(\[3, 2\]\) must be \[2, \.\.\.\]/,
        );
      });
    });
  });
});

describe('embedding', () => {
  forEachBackend(() => {
    it('should refuse ids outside the table, naming the id (the row kernels check on the device)', () => {
      const table = tf.zeros([4, 2]);
      for (const id of [4, -1, 400]) {
        const ids = tf.tensor2d(
          [
            [0, 1],
            [2, id],
          ],
          undefined,
          'int32',
        );
        assert.throws(
          () => embedding(table, ids),
          (e: unknown) =>
            e instanceof Error &&
            e.message.includes(String(id)) &&
            /\[0, 3\]|\[0, 4\)/.test(e.message),
        );
        ids.dispose();
      }
      table.dispose();
    });

    it('should look up ids of any shape', () => {
      tf.tidy(() => {
        const table = tf.tensor2d([
          [0, 0],
          [1, 10],
          [2, 20],
        ]);
        const ids = tf.tensor2d(
          [
            [2, 1],
            [0, 2],
          ],
          [2, 2],
          'int32',
        );
        const y = embedding(table, ids);
        assert.deepEqual(y.shape, [2, 2, 2]);
        expectClose(
          y,
          tf.tensor3d([
            [
              [2, 20],
              [1, 10],
            ],
            [
              [0, 0],
              [2, 20],
            ],
          ]),
        );
        const g = tf.grad((t: Tensor) => tf.sum(embedding(t, ids)))(table);
        expectClose(
          g,
          tf.tensor2d([
            [1, 1],
            [1, 1],
            [2, 2],
          ]),
        );
      });
    });
  });
});

describe('gatherRows and scatterAddRows, index checks', () => {
  forEachBackend(() => {
    it('should throw, not write outside the table, for an index out of range', () => {
      tf.tidy(() => {
        const table = tf.tensor2d([
          [1, 2],
          [3, 4],
        ]);
        assert.throws(() => gatherRows(table, tf.tensor1d([0, 2], 'int32')).dataSync());
        assert.throws(() => scatterAddRows(table, tf.tensor1d([0, -1], 'int32'), 2).dataSync());
      });
    });

    it('should equal tf.gather and tf.scatterND on embedding-sized tables', () => {
      tf.tidy(() => {
        const table = randomTensor([64, 32], 5);
        const idx = indicesFor(64, 200, 9);
        expectClose(gatherRows(table, idx), tf.gather(table, idx, 0), { rtol: 0, atol: 0 });
        const rows = randomTensor([200, 32], 6);
        expectClose(
          scatterAddRows(rows, idx, 64),
          tf.scatterND(tf.reshape(idx, [-1, 1]), rows, [64, 32]),
          { rtol: 1e-5, atol: 1e-5 },
        );
      });
    });
  });
});
