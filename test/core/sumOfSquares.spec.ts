// sumOfSquares, the squared global norm of a step's gradients: on wasm one own kernel
// (packages/core/assembly/sumOfSquares.ts) gives tfjs's Square, Sum and AddN on random lists of
// tensors (every size mod 4, scalars, an empty list, ints cast), propagates NaN and leaves no
// tensor behind; cpu runs tfjs's ops; on the threaded build and on one thread it is within 1e-6 of
// the exact sum on up to 2^18 floats, each in a process of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  ownSumOfSquaresKernel,
  sumOfSquares,
  tf,
  withOwnKernels,
  type Tensor,
} from '@moderoute/core';
import { expectClose, expectNoLeaks, randomTensor, runs, useBackend } from '@moderoute/testing';
import { itMatchesInChildProcesses, itRunsOwnKernels } from './ownKernelChecks.js';

const FIXTURE = fileURLToPath(
  new URL('../../packages/core/test/fixtures/sumOfSquares.ts', import.meta.url),
);

/** Random shapes of rank 0 to 3, sides 1 to 9. */
const shapes = () =>
  fc.array(fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 3 }), {
    minLength: 1,
    maxLength: 6,
  });

describe('sumOfSquares', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownSumOfSquaresKernel);

    it("should equal tfjs's squares and sums on random lists of tensors", () => {
      fc.assert(
        fc.property(shapes(), fc.nat(1e6), (list, seed) => {
          tf.tidy(() => {
            const xs = list.map((shape, i) => randomTensor(shape, seed + i, 3));
            const own = sumOfSquares(xs);
            assert.deepEqual(own.shape, []);
            expectClose(
              own,
              withOwnKernels(false, () => sumOfSquares(xs)),
              { rtol: 1e-5, atol: 0 },
            );
          });
        }),
        runs(30),
      );
    });

    it('should give 3^2 + 4^2 + ... exactly on small integers, 0 for none, and cast ints', () => {
      tf.tidy(() => {
        const xs = [
          tf.tensor1d([3, 4]),
          tf.scalar(-12),
          tf.tensor2d([1, 2, 2, 4, 4, 4, 4, 4, 4], [3, 3]),
        ];
        assert.equal(sumOfSquares(xs).arraySync(), 9 + 16 + 144 + 1 + 4 + 4 + 16 * 6);
        assert.equal(sumOfSquares([]).arraySync(), 0);
        assert.equal(sumOfSquares([tf.tensor1d([2, 3], 'int32')]).arraySync(), 13);
      });
    });

    it('should give NaN when any element is NaN', () => {
      tf.tidy(() => {
        const xs = [randomTensor([7], 1), tf.tensor1d([1, NaN, 2, 3, 4])];
        assert.ok(Number.isNaN(sumOfSquares(xs).arraySync()));
      });
    });

    it('should not leak tensors', () => {
      const xs = [randomTensor([5, 3], 1), randomTensor([9], 2)];
      expectNoLeaks(() => sumOfSquares(xs));
      tf.dispose(xs);
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it("should run tfjs's ops", () => {
      assert.equal(ownSumOfSquaresKernel(), false);
      tf.tidy(() => assert.equal(sumOfSquares([tf.tensor1d([3, 4]) as Tensor]).arraySync(), 25));
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-6, 'the exact sum');
});
