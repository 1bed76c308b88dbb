// Core's own GELU kernels on wasm (issue 19, packages/core/assembly/gelu.ts): the same values and
// gradients as gelu's tfjs path on random shapes (sizes of every remainder mod 4, saturating
// inputs among them), finite differences, no leaks; the tfjs path on cpu; and the same on the
// threaded build and on one thread, each in a process of its own (wasm's thread count is fixed
// per process).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { gelu, ownGeluKernels, setOwnKernels, tf, type Tensor } from '@moderoute/core';
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
  new URL('../../packages/core/test/fixtures/geluKernel.ts', import.meta.url),
);

/** gelu's value and its gradient under sum(y * w), with the own kernels or not. */
function valueAndGrad(own: boolean, x: Tensor, w: Tensor): Tensor[] {
  setOwnKernels(own);
  try {
    return [gelu(x), tf.grad((a: Tensor) => tf.sum(tf.mul(gelu(a), w)))(x)];
  } finally {
    setOwnKernels(undefined);
  }
}

/** Where sigmoid(1.702 x) saturates or its exponential underflows (t = -|1.702 x| < -87). */
const EXTREMES = [-100, -51.3, -30, -0, 30, 51.3, 100];

/** x float32[shape] from N(0, 9), about one entry in five replaced by one of EXTREMES. */
function inputs(shape: number[], seed: number): Tensor {
  const values = randomTensor(shape, seed, 3).dataSync() as Float32Array;
  values.forEach((_, i) => {
    if ((i * 7919 + seed) % 5 === 0) values[i] = EXTREMES[(i + seed) % EXTREMES.length]!;
  });
  return tf.tensor(values, shape);
}

describe('gelu own wasm kernels', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownGeluKernels);

    it('should equal the tfjs path, value and gradient, on random shapes and extreme inputs', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 2 }),
          fc.integer({ min: 1, max: 37 }),
          fc.nat(1e6),
          (lead, d, seed) => {
            tf.tidy(() => {
              const x = inputs([...lead, d], seed);
              const w = randomTensor([...lead, d], seed);
              const own = valueAndGrad(true, x, w);
              const ref = valueAndGrad(false, x, w);
              own.forEach((t, i) =>
                expectClose(t, ref[i]!.arraySync() as number[], { rtol: 1e-5, atol: 1e-6 }),
              );
            });
          },
        ),
        runs(30),
      );
    });

    it('should match finite differences', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 2 }),
          fc.nat(1e6),
          (shape, seed) => {
            tf.tidy(() => {
              assert.equal(ownGeluKernels(), true);
              const w = randomTensor(shape, seed + 1);
              checkDirectionalDerivatives(
                (a) => tf.sum(tf.mul(gelu(a as Tensor), w)),
                [randomTensor(shape, seed, 2)],
              );
            });
          },
        ),
        runs(10),
      );
    });

    it('should not leak tensors', () => {
      const x = tf.variable(randomTensor([3, 5, 7], 1));
      expectNoLeaks(() => tf.variableGrads(() => tf.sum(gelu(x))));
      expectNoLeaks(() => gelu(x));
      x.dispose();
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should fall back to the tfjs path', () => {
      assert.equal(ownGeluKernels(), false);
      tf.tidy(() => {
        expectClose(gelu(tf.tensor1d([0, 1, -2])), [0, 0.8457957, -0.0643414], {
          rtol: 1e-5,
          atol: 1e-6,
        });
      });
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-5);
});
