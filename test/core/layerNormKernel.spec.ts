// Core's own layer-norm kernels on wasm (issue 19, packages/core/assembly/layerNorm.ts): the
// same values and gradients as layerNorm's tfjs path on random shapes, finite differences, no
// leaks; the tfjs path on cpu; and the same on the threaded build and on one thread, each in a
// process of its own (wasm's thread count is fixed per process).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  layerNorm,
  ownLayerNormKernels,
  setOwnKernels,
  tf,
  type Tensor,
  type Tensor1D,
} from '@moderoute/core';
import { expectClose, randomTensor, runs, useBackend } from '@moderoute/testing';
import { itMatchesInChildProcesses, itRunsOwnKernels } from './ownKernelChecks.js';
import { checkLayerNormFiniteDifferences, checkLayerNormLeaks } from './layerNormChecks.js';

const FIXTURE = fileURLToPath(
  new URL('../../packages/core/test/fixtures/layerNormKernel.ts', import.meta.url),
);

/** layerNorm's value and its gradients (x, gamma, beta) under sum(y * w), with the own kernels or not. */
function valueAndGrads(own: boolean, inputs: Tensor[], w: Tensor): Tensor[] {
  setOwnKernels(own);
  try {
    const f = (x: Tensor, g: Tensor, b: Tensor) =>
      tf.sum(tf.mul(layerNorm(x, g as Tensor1D, b as Tensor1D), w));
    const [x, g, b] = inputs as [Tensor, Tensor, Tensor];
    return [layerNorm(x, g as Tensor1D, b as Tensor1D), ...tf.grads(f)([x, g, b])];
  } finally {
    setOwnKernels(undefined);
  }
}

describe('layerNorm own wasm kernels', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownLayerNormKernels);

    it('should equal the tfjs path, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 2 }),
          fc.integer({ min: 2, max: 70 }),
          fc.nat(1e6),
          (lead, d, seed) => {
            tf.tidy(() => {
              const inputs = [
                randomTensor([...lead, d], seed, 3),
                randomTensor([d], seed + 1),
                randomTensor([d], seed + 2),
              ];
              const w = randomTensor([...lead, d], seed + 3);
              const own = valueAndGrads(true, inputs, w);
              const ref = valueAndGrads(false, inputs, w);
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
      checkLayerNormFiniteDifferences(9, () => assert.equal(ownLayerNormKernels(), true));
    });

    it('should not leak tensors', () => {
      checkLayerNormLeaks([3, 5, 12]);
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should fall back to the tfjs path', () => {
      assert.equal(ownLayerNormKernels(), false);
      tf.tidy(() => {
        const y = layerNorm(
          tf.tensor2d([[1, 2, 3]]),
          tf.tensor1d([1, 2, 1]),
          tf.tensor1d([0, 0, 1]),
        );
        expectClose(y, [[-1.2247357, 0, 2.2247357]], { rtol: 1e-4, atol: 1e-4 });
      });
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-4);
});
