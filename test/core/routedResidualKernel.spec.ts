// The routed-block epilogue (core's routedResidual): its own wasm kernels
// (packages/core/assembly/routedResidual.ts) give the same value and gradients as the tfjs path on
// random shapes with repeated indices, match finite differences and leave no tensor behind; cpu
// runs the tfjs path; the threaded build and one thread agree too, each in a process of its own
// (wasm's thread count is fixed per process).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  ownRoutedResidualKernels,
  routedResidual,
  setOwnKernels,
  tf,
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
  new URL('../../packages/core/test/fixtures/routedResidualKernel.ts', import.meta.url),
);

/** routedResidual's value and gradients (x, rows, weights) under sum(out * u), own kernels or not. */
function valueAndGrads(own: boolean, inputs: Tensor[], indices: Tensor1D, u: Tensor): Tensor[] {
  setOwnKernels(own);
  try {
    const f = (x: Tensor, r: Tensor, w: Tensor) =>
      routedResidual(x as Tensor2D, r as Tensor2D, w as Tensor1D, indices);
    const [x, r, w] = inputs as [Tensor, Tensor, Tensor];
    const loss = (xi: Tensor, ri: Tensor, wi: Tensor) => tf.sum(tf.mul(f(xi, ri, wi), u));
    return [f(x, r, w), ...tf.grads(loss)([x, r, w])];
  } finally {
    setOwnKernels(undefined);
  }
}

/** Random inputs for m rows, n indices (repeats allowed) and width d. */
function randomCase(m: number, n: number, d: number, seed: number) {
  const ids = Array.from({ length: n }, (_, i) => (seed * 7 + i * 13) % m);
  return {
    inputs: [
      randomTensor([m, d], seed),
      randomTensor([n, d], seed + 1),
      randomTensor([n], seed + 2),
    ],
    indices: tf.tensor1d(ids, 'int32') as Tensor1D,
    u: randomTensor([m, d], seed + 3),
  };
}

describe('routedResidual own wasm kernels', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownRoutedResidualKernels);

    it('should equal the tfjs path, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 0, max: 12 }),
          fc.integer({ min: 1, max: 70 }),
          fc.nat(1e6),
          (m, n, d, seed) => {
            tf.tidy(() => {
              const { inputs, indices, u } = randomCase(m, n, d, seed);
              const own = valueAndGrads(true, inputs, indices, u);
              const ref = valueAndGrads(false, inputs, indices, u);
              own.forEach((t, i) =>
                expectClose(t, ref[i]!.arraySync() as number[], { rtol: 1e-5, atol: 1e-5 }),
              );
            });
          },
        ),
        runs(25),
      );
    });

    it('should pass untouched rows through exactly and add w * row at the others', () => {
      tf.tidy(() => {
        const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5, 2]);
        const rows = tf.tensor2d([10, 20, 30, 40, 50, 60], [3, 2]);
        const out = routedResidual(
          x as Tensor2D,
          rows as Tensor2D,
          tf.tensor1d([1, -2, 0.5]) as Tensor1D,
          tf.tensor1d([3, 0, 3], 'int32') as Tensor1D,
        );
        // Row 0: 1 - 2 * 30, 2 - 2 * 40; row 3: 7 + 10 + 25, 8 + 20 + 30.
        assert.deepEqual(out.arraySync(), [
          [-59, -78],
          [3, 4],
          [5, 6],
          [42, 58],
          [9, 10],
        ]);
      });
    });

    it('should match finite differences', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 9 }),
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 11 }),
          fc.nat(1e6),
          (m, n, d, seed) => {
            tf.tidy(() => {
              assert.equal(ownRoutedResidualKernels(), true);
              const { inputs, indices, u } = randomCase(m, n, d, seed);
              checkDirectionalDerivatives(
                (x, r, w) =>
                  tf.sum(
                    tf.mul(routedResidual(x as Tensor2D, r as Tensor2D, w as Tensor1D, indices), u),
                  ),
                inputs,
              );
            });
          },
        ),
        runs(8),
      );
    });

    it('should not leak tensors', () => {
      const { inputs, indices } = randomCase(12, 5, 7, 3);
      const [x, r, w] = inputs.map((t) => tf.variable(t));
      expectNoLeaks(() =>
        tf.variableGrads(
          () =>
            tf.sum(
              routedResidual(x as Tensor2D, r as Tensor2D, w as Tensor1D, indices),
            ) as tf.Scalar,
        ),
      );
      tf.dispose([...inputs, indices, x, r, w]);
    });

    it('should name an index outside the rows of x', () => {
      tf.tidy(() => {
        const call = () =>
          routedResidual(
            tf.zeros([4, 3]) as Tensor2D,
            tf.ones([2, 3]) as Tensor2D,
            tf.ones([2]) as Tensor1D,
            tf.tensor1d([1, 4], 'int32') as Tensor1D,
          );
        assert.throws(call, /indices\[1\] \(4\) must lie in \[0, 4\)/);
      });
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should fall back to the tfjs path', () => {
      assert.equal(ownRoutedResidualKernels(), false);
      tf.tidy(() => {
        const out = routedResidual(
          tf.tensor2d([
            [1, 2],
            [3, 4],
          ]) as Tensor2D,
          tf.tensor2d([[10, 20]]) as Tensor2D,
          tf.tensor1d([0.5]) as Tensor1D,
          tf.tensor1d([1], 'int32') as Tensor1D,
        );
        assert.deepEqual(out.arraySync(), [
          [1, 2],
          [8, 14],
        ]);
      });
    });

    it('should name a mismatched rows shape', () => {
      tf.tidy(() => {
        const call = () =>
          routedResidual(
            tf.zeros([4, 3]) as Tensor2D,
            tf.ones([2, 2]) as Tensor2D,
            tf.ones([2]) as Tensor1D,
            tf.tensor1d([1, 2], 'int32') as Tensor1D,
          );
        assert.throws(call, /rows\.shape/);
      });
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-5);
});
