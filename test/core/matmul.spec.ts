import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  SLICED_MIN_MACS,
  batchMatMul,
  columnSum,
  matmul2d,
  swapsTransposedProduct,
  tf,
  transpose2d,
  transposeLast,
  type Tensor,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import {
  dim,
  expectClose,
  expectNoLeaks,
  forEachBackend,
  randomTensor,
  runs,
} from '@moderoute/testing';

/** Sizes that take the blocked-transpose path on wasm (multiples of 8) as well as ones that do not. */
const side = () => fc.oneof(dim(1, 12), fc.constantFrom(8, 16, 24, 32));

/** tfjs's transpose, elementwise: the reference for the blocked transposes. */
const refTranspose = (x: Tensor, perm: number[]) =>
  tf.tensor(Array.from(tf.transpose(x, perm).dataSync()), tf.transpose(x, perm).shape);

describe('transpose2d', () => {
  forEachBackend(() => {
    it('should equal tf.transpose on random shapes', () => {
      fc.assert(
        fc.property(side(), side(), fc.nat(1e6), (r, c, seed) => {
          tf.tidy(() => {
            const x = randomTensor([r, c], seed) as Tensor2D;
            expectClose(transpose2d(x), refTranspose(x, [1, 0]), { rtol: 0, atol: 0 });
          });
        }),
        runs(20),
      );
    });
  });
});

describe('transposeLast', () => {
  forEachBackend(() => {
    it('should equal tf.transpose(x, [0, 2, 1]) on random shapes', () => {
      fc.assert(
        fc.property(dim(1, 4), side(), side(), fc.nat(1e6), (n, r, c, seed) => {
          tf.tidy(() => {
            const x = randomTensor([n, r, c], seed) as Tensor3D;
            expectClose(transposeLast(x), refTranspose(x, [0, 2, 1]), { rtol: 0, atol: 0 });
          });
        }),
        runs(20),
      );
    });
  });
});

describe('matmul2d', () => {
  forEachBackend(() => {
    it('should equal tf.matMul for every transpose flag, on random shapes', () => {
      fc.assert(
        fc.property(
          side(),
          side(),
          side(),
          fc.boolean(),
          fc.boolean(),
          fc.nat(1e6),
          (m, k, p, ta, tb, seed) => {
            tf.tidy(() => {
              const a = randomTensor(ta ? [k, m] : [m, k], seed) as Tensor2D;
              const b = randomTensor(tb ? [p, k] : [k, p], seed + 1) as Tensor2D;
              expectClose(matmul2d(a, b, ta, tb), tf.matMul(a, b, ta, tb), {
                rtol: 1e-4,
                atol: 1e-4,
              });
            });
          },
        ),
        runs(20),
      );
    });

    it('should equal tf.matMul for a @ b^T in both of its wasm forms', () => {
      // [64, 512] @ [128, 512]^T runs as (b @ a^T)^T on wasm; [512, 128] @ [512, 128]^T does not.
      assert.equal(swapsTransposedProduct(64, 512, 128), true);
      assert.equal(swapsTransposedProduct(512, 128, 512), false);
      for (const [m, k, n] of [
        [64, 512, 128],
        [512, 128, 512],
        [8, 24, 16],
      ] as const) {
        tf.tidy(() => {
          const a = randomTensor([m, k], m + k) as Tensor2D;
          const b = randomTensor([n, k], n) as Tensor2D;
          expectClose(matmul2d(a, b, false, true), tf.matMul(a, b, false, true), {
            rtol: 1e-4,
            atol: 1e-4,
          });
        });
      }
    });
  });
});

describe('columnSum', () => {
  forEachBackend(() => {
    it('should equal tf.sum over axis 0 on random shapes', () => {
      fc.assert(
        fc.property(side(), side(), fc.nat(1e6), (n, d, seed) => {
          tf.tidy(() => {
            const x = randomTensor([n, d], seed) as Tensor2D;
            expectClose(columnSum(x), tf.sum(x, 0), { rtol: 1e-4, atol: 1e-4 });
          });
        }),
        runs(20),
      );
    });
  });
});

describe('batchMatMul', () => {
  forEachBackend(() => {
    it('should equal tf.matMul for every transpose flag, on random shapes', () => {
      fc.assert(
        fc.property(
          dim(1, 5),
          side(),
          side(),
          side(),
          fc.boolean(),
          fc.boolean(),
          fc.nat(1e6),
          (n, m, k, p, ta, tb, seed) => {
            tf.tidy(() => {
              const a = randomTensor(ta ? [n, k, m] : [n, m, k], seed) as Tensor3D;
              const b = randomTensor(tb ? [n, p, k] : [n, k, p], seed + 1) as Tensor3D;
              // The reference: one 2-D product per batch entry.
              const ref = tf.stack(
                tf
                  .unstack(a)
                  .map((ai, i) => tf.matMul(ai as Tensor2D, tf.unstack(b)[i] as Tensor2D, ta, tb)),
              );
              expectClose(batchMatMul(a, b, ta, tb), ref, { rtol: 1e-4, atol: 1e-4 });
            });
          },
        ),
        runs(25),
      );
    });

    it('should equal tf.matMul on products large enough to run as separate 2-D products on wasm', () => {
      fc.assert(
        fc.property(
          dim(2, 3),
          fc.constantFrom(32, 40, 48),
          fc.constantFrom(32, 40, 48),
          fc.constantFrom(32, 40, 48),
          fc.boolean(),
          fc.boolean(),
          fc.nat(1e6),
          (n, m, k, p, ta, tb, seed) => {
            tf.tidy(() => {
              const a = randomTensor(ta ? [n, k, m] : [n, m, k], seed) as Tensor3D;
              const b = randomTensor(tb ? [n, p, k] : [n, k, p], seed + 1) as Tensor3D;
              assert.ok(m * k * p >= SLICED_MIN_MACS);
              const ref = tf.stack(
                tf
                  .unstack(a)
                  .map((ai, i) => tf.matMul(ai as Tensor2D, tf.unstack(b)[i] as Tensor2D, ta, tb)),
              );
              expectClose(batchMatMul(a, b, ta, tb), ref, { rtol: 1e-4, atol: 1e-4 });
            });
          },
        ),
        runs(10),
      );
    });

    it('should not leak tensors', () => {
      const big = randomTensor([2, 32, 32], 3) as Tensor3D;
      expectNoLeaks(() => batchMatMul(big, big, false, true), 'sliced');
      big.dispose();
      const a = randomTensor([3, 8, 5], 1) as Tensor3D;
      const b = randomTensor([3, 8, 16], 2) as Tensor3D;
      expectNoLeaks(() => batchMatMul(a, b, true, false), 'transposeA');
      expectNoLeaks(() => batchMatMul(b, b, true, false), 'square');
      tf.dispose([a, b]);
    });
  });
});
