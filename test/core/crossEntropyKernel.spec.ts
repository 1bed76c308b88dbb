// The next-token loss (sparseCrossEntropy): a golden example, and on wasm core's own kernels
// (crossEntropyKernel.ts) against the tfjs path, value and gradient, on random shapes with
// weights (zeros included), extreme logits and classes outside [0, V) for V >= 2 (tfjs's
// oneHot needs 2) (no class term, as a one-hot
// row of zeros gives); finite differences; no tensor left behind; the threaded build and one
// thread agree, each in a process of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  ownCrossEntropyKernels,
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
  forEachBackend,
  randomTensor,
  runs,
  useBackend,
} from '@moderoute/testing';
import { sparseCrossEntropy } from '@moderoute/model';
import { itMatchesInChildProcesses } from './ownKernelChecks.js';

const FIXTURE = fileURLToPath(
  new URL('../../packages/model/test/fixtures/crossEntropy.ts', import.meta.url),
);

/** Loss and gradient wrt the logits, own kernels on or off. */
function lossAndGrad(own: boolean, z: Tensor, y: Tensor1D, w?: Tensor1D): Tensor[] {
  return withOwnKernels(own, () => {
    const f = (t: Tensor) => sparseCrossEntropy(t as Tensor2D, y, w);
    return [f(z), tf.grad(f)(z)];
  });
}

describe('sparseCrossEntropy', () => {
  forEachBackend(() => {
    it('should give the golden loss and gradient', () => {
      tf.tidy(() => {
        const z = tf.tensor2d([
          [0, Math.log(3)],
          [2, 2],
        ]);
        const y = tf.tensor1d([1, 0], 'int32') as Tensor1D;
        const w = tf.tensor1d([1, 3]) as Tensor1D;
        // Rows: p = [1/4, 3/4] with loss log(4/3); p = [1/2, 1/2] with loss log 2; weights 1, 3.
        const [loss, grad] = lossAndGrad(true, z, y, w);
        expectClose(loss!, tf.scalar((Math.log(4 / 3) + 3 * Math.log(2)) / 4), {
          rtol: 1e-6,
          atol: 1e-7,
        });
        expectClose(
          grad!,
          tf.tensor2d([
            [0.25 / 4, -0.25 / 4],
            [-0.5 * 0.75, 0.5 * 0.75],
          ]),
          { rtol: 1e-6, atol: 1e-7 },
        );
      });
    });
  });

  describe('on wasm', () => {
    useBackend('wasm');

    it('should run the own kernels (registered for wasm, not disabled)', () => {
      assert.equal(ownCrossEntropyKernels(), true);
      assert.equal(withOwnKernels(false, ownCrossEntropyKernels), false);
    });

    it('should equal the tfjs path, loss and gradient, with weights, extreme logits and stray classes', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 2, max: 37 }),
          fc.constantFrom(1, 30, 1000),
          fc.boolean(),
          fc.nat(1e6),
          (n, v, scale, weighted, seed) => {
            tf.tidy(() => {
              const z = randomTensor([n, v], seed, scale);
              // Classes from -1 to v: the ends lie outside [0, v).
              const classes = Array.from({ length: n }, (_, i) => ((seed + 7 * i) % (v + 2)) - 1);
              const y = tf.tensor1d(classes, 'int32') as Tensor1D;
              const w = weighted
                ? (tf.tensor1d(
                    Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 0 : 1 + (i % 2))),
                  ) as Tensor1D)
                : undefined;
              const own = lossAndGrad(true, z, y, w);
              const ref = lossAndGrad(false, z, y, w);
              own.forEach((t, i) => expectClose(t, ref[i]!, { rtol: 1e-5, atol: 1e-6 }));
            });
          },
        ),
        runs(40),
      );
    });

    it('should match finite differences and leave no tensor behind', () => {
      const z = randomTensor([6, 9], 4);
      const y = tf.tensor1d([0, 8, 3, 3, 5, 1], 'int32') as Tensor1D;
      checkDirectionalDerivatives((t: Tensor) => sparseCrossEntropy(t as Tensor2D, y), [z]);
      expectNoLeaks(() => tf.dispose(lossAndGrad(true, z, y)), 'own cross-entropy');
      tf.dispose([z, y]);
    });

    itMatchesInChildProcesses(FIXTURE, 1e-5);
  });
});
