// Core's own AdamW update kernel on wasm (issue 19, packages/core/assembly/adamw.ts): the same
// bits as adamwUpdate's tfjs path (the same float32 operations in the same order) on random sizes,
// scales and every form of decay; no leaks; the tfjs path on cpu; and the same on the threaded
// build and on one thread, each in a process of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { adamwUpdate, ownAdamWKernels, setOwnKernels, tf, type Tensor } from '@moderoute/core';
import { expectClose, expectNoLeaks, runs, useBackend } from '@moderoute/testing';
import { itMatchesInChildProcesses, itRunsOwnKernels } from './ownKernelChecks.js';

const FIXTURE = fileURLToPath(
  new URL('../../packages/core/test/fixtures/adamwKernel.ts', import.meta.url),
);

/** Random g, m, v >= 0, p and a per-entry decay, float32[n] each, from `seed`. */
function vectors(n: number, seed: number): Tensor[] {
  const [g, m, p, d] = [0, 1, 2, 3].map((i) => tf.randomNormal([n], 0, 1, 'float32', seed + i));
  return [g!, m!, tf.abs(tf.randomNormal([n], 0, 1, 'float32', seed + 4)), p!, tf.abs(d!)];
}

/** adamwUpdate's [m', v', p'] values with the own kernel or not. */
function update(own: boolean, t: Tensor[], scale: number, decayMode: number, step: number) {
  setOwnKernels(own);
  try {
    const [g, m, v, p, d] = t as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const decay = decayMode === 0 ? undefined : decayMode === 1 ? 0.1 : d;
    const out = adamwUpdate(g, m, v, p, {
      scale,
      beta1: 0.9,
      beta2: 0.95,
      bc1: 1 - 0.9 ** step,
      bc2: 1 - 0.95 ** step,
      epsilon: 1e-8,
      lr: 3e-3,
      decay,
    });
    const values = out.map((x) => x.dataSync() as Float32Array);
    tf.dispose(out);
    return values;
  } finally {
    setOwnKernels(undefined);
  }
}

describe('adamwUpdate own wasm kernel', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownAdamWKernels);

    it('should give the tfjs path bit for bit, on random sizes, scales, steps and decays', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 300 }),
          fc.nat(1e6),
          fc.constantFrom(1, 0.25, 0.731),
          fc.constantFrom(0, 1, 2),
          fc.integer({ min: 1, max: 1000 }),
          (n, seed, scale, decayMode, step) => {
            const t = vectors(n, seed);
            try {
              const own = update(true, t, scale, decayMode, step);
              const ref = update(false, t, scale, decayMode, step);
              own.forEach((o, i) => assert.deepEqual(o, ref[i], `output ${i}`));
            } finally {
              tf.dispose(t);
            }
          },
        ),
        runs(25),
      );
    });

    it('should take one Adam step as its equations say', () => {
      // g = 2 scaled by 0.5: g' = 1; m' = 0.9 * 0 + 0.1 * 1 = 0.1; v' = 0.95 * 0 + 0.05 * 1 = 0.05;
      // at step 1: mhat = 1, vhat = 1, delta = 1 / (1 + 1e-8) + 0.1 * 2; p' = 2 - 0.01 * 1.2.
      tf.tidy(() => {
        const [m, v, p] = update(
          true,
          [2, 0, 0, 2, 0].map((x) => tf.tensor1d([x])),
          0.5,
          1,
          1,
        );
        expectClose(tf.tensor1d(m!), [0.1], { rtol: 1e-6, atol: 1e-7 });
        expectClose(tf.tensor1d(v!), [0.05], { rtol: 1e-6, atol: 1e-7 });
        expectClose(tf.tensor1d(p!), [2 - 3e-3 * 1.2], { rtol: 1e-6, atol: 1e-7 });
      });
    });

    it('should not leak tensors', () => {
      const t = vectors(37, 5);
      expectNoLeaks(() => {
        tf.dispose(
          adamwUpdate(t[0]!, t[1]!, t[2]!, t[3]!, {
            scale: 1,
            beta1: 0.9,
            beta2: 0.95,
            bc1: 0.1,
            bc2: 0.05,
            epsilon: 1e-8,
            lr: 1e-3,
            decay: t[4]!,
          }),
        );
      });
      tf.dispose(t);
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should fall back to the tfjs path', () => {
      assert.equal(ownAdamWKernels(), false);
      tf.tidy(() => {
        const [m] = update(
          true,
          [2, 0, 0, 2, 0].map((x) => tf.tensor1d([x])),
          0.5,
          0,
          1,
        );
        expectClose(tf.tensor1d(m!), [0.1], { rtol: 1e-6, atol: 1e-7 });
      });
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-7);
});
