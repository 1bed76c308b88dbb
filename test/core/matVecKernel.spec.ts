// linear with one output column and no bias (a Mixture-of-Depths router's logit): its own wasm
// kernels (packages/core/assembly/matVec.ts) give the same value and gradients as the 2-D
// products on random shapes, match finite differences and leave no tensor behind; cpu runs the
// products; the threaded build and one thread agree too, each in a process of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  linear,
  ownMatVecKernels,
  setOwnKernels,
  tf,
  type Tensor,
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
  new URL('../../packages/core/test/fixtures/matVecKernel.ts', import.meta.url),
);

/** linear's value and gradients (x, w) under sum(y * u), with the own kernels or not. */
function valueAndGrads(own: boolean, x: Tensor, w: Tensor, u: Tensor): Tensor[] {
  setOwnKernels(own);
  try {
    const f = (xi: Tensor, wi: Tensor) => tf.sum(tf.mul(linear(xi, wi as Tensor2D), u));
    return [linear(x, w as Tensor2D), ...tf.grads(f)([x, w])];
  } finally {
    setOwnKernels(undefined);
  }
}

describe('linear one-column own wasm kernels', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownMatVecKernels);

    it('should equal the 2-D products, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 2 }),
          fc.integer({ min: 1, max: 70 }),
          fc.nat(1e6),
          (lead, k, seed) => {
            tf.tidy(() => {
              const x = randomTensor([...lead, k], seed);
              const w = randomTensor([k, 1], seed + 1);
              const u = randomTensor([...lead, 1], seed + 2);
              const own = valueAndGrads(true, x, w, u);
              const ref = valueAndGrads(false, x, w, u);
              own.forEach((t, i) =>
                expectClose(t, ref[i]!.arraySync() as number[], { rtol: 1e-4, atol: 1e-4 }),
              );
            });
          },
        ),
        runs(25),
      );
    });

    it('should match finite differences', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 9 }),
          fc.integer({ min: 1, max: 11 }),
          fc.nat(1e6),
          (n, k, seed) => {
            tf.tidy(() => {
              assert.equal(ownMatVecKernels(), true);
              const u = randomTensor([n, 1], seed + 2);
              checkDirectionalDerivatives(
                (x, w) => tf.sum(tf.mul(linear(x as Tensor, w as Tensor2D), u)),
                [randomTensor([n, k], seed), randomTensor([k, 1], seed + 1)],
              );
            });
          },
        ),
        runs(8),
      );
    });

    it('should not leak tensors', () => {
      const x = tf.variable(randomTensor([6, 9], 1));
      const w = tf.variable(randomTensor([9, 1], 2));
      expectNoLeaks(() =>
        tf.variableGrads(() => tf.sum(linear(x as Tensor, w as Tensor2D)) as tf.Scalar),
      );
      tf.dispose([x, w]);
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should run the 2-D products', () => {
      assert.equal(ownMatVecKernels(), false);
      tf.tidy(() => {
        const y = linear(
          tf.tensor2d([
            [1, 2],
            [3, 4],
          ]),
          tf.tensor2d([[0.5], [-1]]) as Tensor2D,
        );
        assert.deepEqual(y.arraySync(), [[-1.5], [-2.5]]);
      });
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-4, 'the 2-D products');
});
