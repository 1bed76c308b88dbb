// Core's own 2-D product and column sums on wasm (packages/core/assembly/gemm.ts): matmul2d (every
// transpose flag, with a bias or not), columnSum and linear give tfjs's values and gradients on
// random shapes (every remainder of the 4 x 8 tiles, b rows 1024 floats apart; fewer than 16 rows,
// b read in place, bit for bit the rows of a larger product through b's panels), sum in order
// from 0 (exact on integers), propagate NaN, refuse a bias of the wrong shape, match finite
// differences and leave no tensor behind; cpu runs tfjs's; the threaded build and one thread agree
// too, each in a process of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  columnSum,
  linear,
  matmul2d,
  ownGemmKernels,
  tf,
  withOwnKernels,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
} from '@moderoute/core';
import {
  checkDirectionalDerivatives,
  expectClose,
  expectNoLeaks,
  randomTensor,
  runs,
  useBackend,
} from '@moderoute/testing';
import { itMatchesInChildProcesses, itRunsOwnKernels } from './ownKernelChecks.js';

const FIXTURE = fileURLToPath(
  new URL('../../packages/core/test/fixtures/gemmKernel.ts', import.meta.url),
);

/** Sides around the tiles' 4 rows and 8 columns, and a few larger ones. */
const side = () => fc.oneof(fc.integer({ min: 1, max: 19 }), fc.constantFrom(32, 64, 129));

/** op(a) op(b) (+ bias) and its gradients under sum(c * u), with the own kernels on or off. */
function productAndGrads(own: boolean, ab: Tensor[], u: Tensor, ta: boolean, tb: boolean) {
  return withOwnKernels(own, () => {
    const f = (...t: Tensor[]) =>
      matmul2d(t[0] as Tensor2D, t[1] as Tensor2D, ta, tb, t[2] as Tensor1D | undefined);
    return [f(...ab), ...tf.grads((...t: Tensor[]) => tf.sum(tf.mul(f(...t), u)))(ab)];
  });
}

describe('own 2-D product and column sums (gemm)', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownGemmKernels);

    it('should equal tfjs products, value and gradients, for every transpose flag and a bias', () => {
      fc.assert(
        fc.property(
          side(),
          side(),
          side(),
          fc.boolean(),
          fc.boolean(),
          fc.boolean(),
          fc.nat(1e6),
          (m, k, n, ta, tb, withBias, seed) => {
            tf.tidy(() => {
              const a = randomTensor(ta ? [k, m] : [m, k], seed);
              const b = randomTensor(tb ? [n, k] : [k, n], seed + 1);
              const ab = withBias ? [a, b, randomTensor([n], seed + 3)] : [a, b];
              const u = randomTensor([m, n], seed + 2);
              const own = productAndGrads(true, ab, u, ta, tb);
              const ref = productAndGrads(false, ab, u, ta, tb);
              own.forEach((t, i) => expectClose(t, ref[i]!, { rtol: 1e-5, atol: 1e-5 }));
            });
          },
        ),
        runs(30),
      );
    });

    it('should refuse a bias of the wrong shape, or inner sizes that differ, naming them', () => {
      tf.tidy(() => {
        const a = randomTensor([3, 4], 1) as Tensor2D;
        assert.throws(
          () => matmul2d(a, randomTensor([4, 5], 2) as Tensor2D, false, false, tf.zeros([4])),
          /bias\.shape/,
        );
        // Every flag: the own product would read past b (or a) where the inner sizes differ.
        const b = randomTensor([5, 6], 2) as Tensor2D;
        for (const [ta, tb] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ] as const)
          assert.throws(
            () => matmul2d(a, b, ta, tb),
            /b\.shape \(\[5, 6\]\).*to match a\.shape \[3, 4\]/,
          );
        assert.throws(() => matmul2d(tf.zeros([4]) as never, b), /a\.shape/);
      });
    });

    it('should give fewer than 16 rows, b read in place, bit for bit the rows of a larger product', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 15 }),
          side(),
          side(),
          fc.boolean(),
          fc.nat(1e6),
          (m, k, n, withBias, seed) => {
            tf.tidy(() => {
              // 40 rows copy b's panels; their first m rows are summed in the same order.
              const a = randomTensor([40, k], seed) as Tensor2D;
              const b = randomTensor([k, n], seed + 1) as Tensor2D;
              const bias = withBias ? (randomTensor([n], seed + 2) as Tensor1D) : undefined;
              const few = matmul2d(tf.slice(a, [0, 0], [m, k]), b, false, false, bias);
              const many = tf.slice(matmul2d(a, b, false, false, bias), [0, 0], [m, n]);
              assert.deepEqual(few.dataSync(), many.dataSync());
            });
          },
        ),
        runs(30),
      );
    });

    it('should equal tfjs on rows of b 1024 floats apart (the scratch panel)', () => {
      tf.tidy(() => {
        const a = randomTensor([37, 70], 1) as Tensor2D;
        const b = randomTensor([70, 1024], 2) as Tensor2D;
        const ref = withOwnKernels(false, () => matmul2d(a, b));
        expectClose(matmul2d(a, b), ref, { rtol: 1e-5, atol: 1e-5 });
      });
    });

    it('should sum in order from zero: exact on small integers, a golden example', () => {
      tf.tidy(() => {
        const a = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [5, 3]);
        const b = tf.tensor2d(
          Array.from({ length: 27 }, (_, i) => i - 13),
          [3, 9],
        );
        const c = matmul2d(a, b);
        assert.deepEqual(
          c.arraySync(),
          withOwnKernels(false, () => tf.matMul(a, b).arraySync()),
        );
        // Row 0: 1 * b[0] + 2 * b[1] + 3 * b[2] = -6 + 6j.
        assert.deepEqual((c.arraySync() as number[][])[0], [-6, 0, 6, 12, 18, 24, 30, 36, 42]);
        // a^T b with a [3, 5] read in place: the same product as the transposed copy's.
        assert.deepEqual(matmul2d(tf.transpose(a) as Tensor2D, b, true).arraySync(), c.arraySync());
        assert.deepEqual(columnSum(b).arraySync(), [-12, -9, -6, -3, 0, 3, 6, 9, 12]);
      });
    });

    it('should give NaN where an input has one, and column sums equal tf.sum', () => {
      fc.assert(
        fc.property(side(), side(), fc.nat(1e6), (r, c, seed) => {
          tf.tidy(() => {
            const x = randomTensor([r, c], seed) as Tensor2D;
            expectClose(
              columnSum(x),
              withOwnKernels(false, () => tf.sum(x, 0)),
              { rtol: 1e-5, atol: 1e-5 },
            );
            const a = tf.concat([tf.fill([1, r], NaN), randomTensor([2, r], seed + 1)]) as Tensor2D;
            const y = matmul2d(a, x).arraySync() as number[][];
            assert.ok(y[0]!.every(Number.isNaN));
            assert.ok(y.slice(1).every((row) => row.every(Number.isFinite)));
          });
        }),
        runs(10),
      );
    });

    it('should match finite differences through linear with a bias', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 9 }),
          fc.integer({ min: 1, max: 11 }),
          fc.integer({ min: 1, max: 10 }),
          fc.nat(1e6),
          (n, i, o, seed) => {
            tf.tidy(() => {
              const u = randomTensor([n, o], seed + 3);
              checkDirectionalDerivatives(
                (x, w, b) => tf.sum(tf.mul(linear(x as Tensor, w as Tensor2D, b as Tensor1D), u)),
                [
                  randomTensor([n, i], seed),
                  randomTensor([i, o], seed + 1),
                  randomTensor([o], seed + 2),
                ],
              );
            });
          },
        ),
        runs(8),
      );
    });

    it('should not leak tensors', () => {
      const x = tf.variable(randomTensor([6, 9], 1));
      const w = tf.variable(randomTensor([9, 10], 2));
      const b = tf.variable(randomTensor([10], 3));
      expectNoLeaks(() =>
        tf.variableGrads(
          () => tf.sum(linear(x as Tensor, w as Tensor2D, b as Tensor1D)) as tf.Scalar,
        ),
      );
      expectNoLeaks(() =>
        tf.grads((p: Tensor, q: Tensor) => tf.sum(matmul2d(p as Tensor2D, q as Tensor2D, true)))([
          w,
          w,
        ]),
      );
      tf.dispose([x, w, b]);
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should run tfjs products', () => {
      assert.equal(ownGemmKernels(), false);
      tf.tidy(() => {
        const y = matmul2d(
          tf.tensor2d([
            [1, 2],
            [3, 4],
          ]),
          tf.tensor2d([[0.5], [-1]]),
          true,
        );
        assert.deepEqual(y.arraySync(), [[-2.5], [-3]]);
      });
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-5, "tfjs's products");
});
