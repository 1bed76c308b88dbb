// Core's own attention-core kernels on wasm (issue 19, packages/core/assembly/attention.ts): the
// same values and gradients as scaledDotProductAttention's tfjs path on random shapes (causal or
// not, with or without a key-padding mask), the causal skip exact, finite differences, no leaks;
// the tfjs path on cpu; and the same on the threaded build and on one thread, each in a process
// of its own (wasm's thread count is fixed per process).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  attentionBias,
  MASKED_LOGIT,
  ownAttentionKernels,
  scaledDotProductAttention,
  setOwnKernels,
  tf,
  type Tensor,
  type Tensor4D,
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
  new URL('../../packages/core/test/fixtures/attentionKernel.ts', import.meta.url),
);

type Qkv = [Tensor4D, Tensor4D, Tensor4D];

/** Random q, k, v float32[B, H, T, Dh] (q scaled up so that the softmax is far from uniform). */
function qkv(shape: number[], seed: number): Qkv {
  return [
    randomTensor(shape, seed, 2),
    randomTensor(shape, seed + 1),
    randomTensor(shape, seed + 2),
  ] as Qkv;
}

/** A key mask float32[B, T]: sequence i keeps its first 1 + (seed + 3 i) % T tokens. */
function keyMask(b: number, t: number, seed: number): Tensor {
  const lengths = Array.from({ length: b }, (_, i) => 1 + ((seed + 3 * i) % t));
  return tf.tensor2d(
    lengths.flatMap((len) => Array.from({ length: t }, (_, j) => (j < len ? 1 : 0))),
    [b, t],
  );
}

/** The core's value and its gradients (q, k, v) under sum(o * w), with the own kernels or not. */
function valueAndGrads(own: boolean, [q, k, v]: Qkv, w: Tensor, bias?: Tensor4D): Tensor[] {
  setOwnKernels(own);
  try {
    const f = (a: Tensor, b: Tensor, c: Tensor) =>
      tf.sum(
        tf.mul(scaledDotProductAttention(a as Tensor4D, b as Tensor4D, c as Tensor4D, bias), w),
      );
    return [scaledDotProductAttention(q, k, v, bias), ...tf.grads(f)([q, k, v])];
  } finally {
    setOwnKernels(undefined);
  }
}

describe('scaledDotProductAttention own wasm kernels', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownAttentionKernels);

    it('should equal the tfjs path, value and gradients, on random shapes, biases and masks', () => {
      const shapes = fc.record({
        b: fc.integer({ min: 1, max: 3 }),
        h: fc.integer({ min: 1, max: 3 }),
        t: fc.integer({ min: 1, max: 21 }),
        dh: fc.integer({ min: 1, max: 37 }),
        causal: fc.boolean(),
        masked: fc.boolean(),
        seed: fc.nat(1e6),
      });
      fc.assert(
        fc.property(shapes, ({ b, h, t, dh, causal, masked, seed }) => {
          tf.tidy(() => {
            const inputs = qkv([b, h, t, dh], seed);
            const bias = attentionBias(t, causal, masked ? keyMask(b, t, seed) : undefined);
            const w = randomTensor([b, h, t, dh], seed + 3);
            const own = valueAndGrads(true, inputs, w, bias);
            const ref = valueAndGrads(false, inputs, w, bias);
            own.forEach((x, i) => expectClose(x, ref[i]!, { rtol: 1e-4, atol: 1e-5 }));
          });
        }),
        runs(30),
      );
    });

    it('should skip the keys after each query exactly under the causal bias', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 2 }),
          fc.integer({ min: 2, max: 19 }),
          fc.integer({ min: 1, max: 9 }),
          fc.nat(1e6),
          (b, t, dh, seed) => {
            tf.tidy(() => {
              const [q, k, v] = qkv([b, 2, t, dh], seed);
              const causal = attentionBias(t, true)!;
              // The claim: with MASKED_LOGIT, the tfjs path's probabilities after each query are
              // exactly 0 in float32 (even for scores far from 0).
              const scores = tf.mul(tf.matMul(tf.mul(q, 30), k, false, true), 1 / Math.sqrt(dh));
              const p = tf.softmax(tf.add(scores, causal)).arraySync() as number[][][][];
              p.flat(2).forEach((row, r) =>
                row.forEach((x, j) => j > r % t && assert.equal(x, 0, `p[${r % t}][${j}]`)),
              );
              // The same causal bias, once per sequence ([B, 1, T, T]), is read like any bias:
              // every key is computed; the results agree with the skipping run.
              const tiled = tf.tile(causal, [b, 1, 1, 1]) as Tensor4D;
              const w = randomTensor([b, 2, t, dh], seed + 3);
              const skipped = valueAndGrads(true, [q, k, v], w, causal);
              const full = valueAndGrads(true, [q, k, v], w, tiled);
              skipped.forEach((x, i) => expectClose(x, full[i]!, { rtol: 1e-5, atol: 1e-6 }));
              assert.equal(MASKED_LOGIT, -1e9);
            });
          },
        ),
        runs(10),
      );
    });

    it('should leave a bias of another broadcast shape to the tfjs path', () => {
      tf.tidy(() => {
        // [1, 1, T, 1]: one bias per query, broadcast over keys (the kernels read [., 1, 1|T, T]).
        const inputs = qkv([2, 2, 6, 5], 7);
        const bias = randomTensor([1, 1, 6, 1], 9) as Tensor4D;
        const w = randomTensor([2, 2, 6, 5], 10);
        const own = valueAndGrads(true, inputs, w, bias);
        const ref = valueAndGrads(false, inputs, w, bias);
        own.forEach((x, i) => assert.deepEqual(x.dataSync(), ref[i]!.dataSync()));
      });
    });

    it('should match finite differences', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 6 }),
          fc.boolean(),
          fc.nat(1e6),
          (t, dh, causal, seed) => {
            tf.tidy(() => {
              assert.equal(ownAttentionKernels(), true);
              const w = randomTensor([2, 2, t, dh], seed + 3);
              const mask = causal ? undefined : keyMask(2, t, seed);
              const bias = attentionBias(t, causal, mask);
              checkDirectionalDerivatives(
                (a, b, c) =>
                  tf.sum(
                    tf.mul(
                      scaledDotProductAttention(a as Tensor4D, b as Tensor4D, c as Tensor4D, bias),
                      w,
                    ),
                  ),
                qkv([2, 2, t, dh], seed),
                { epsilon: 3e-3 },
              );
            });
          },
        ),
        runs(8),
      );
    });

    it('should not leak tensors or heap buffers, forward or backward, with or without a bias', () => {
      const [q, k, v] = qkv([2, 2, 5, 6], 1);
      const mask = keyMask(2, 5, 1);
      const backend = tf.backend();
      for (const bias of [undefined, attentionBias(5, true), attentionBias(5, false, mask)]) {
        const dataIds = backend.numDataIds();
        expectNoLeaks(() => scaledDotProductAttention(q, k, v, bias), 'forward');
        const f = (a: Tensor, b: Tensor, c: Tensor) =>
          tf.sum(scaledDotProductAttention(a as Tensor4D, b as Tensor4D, c as Tensor4D, bias));
        expectNoLeaks(() => tf.grads(f)([q, k, v]), 'backward');
        assert.equal(backend.numDataIds(), dataIds);
        tf.dispose(bias);
      }
      tf.dispose([q, k, v, mask]);
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should fall back to the tfjs path', () => {
      assert.equal(ownAttentionKernels(), false);
      tf.tidy(() => {
        // One query, two keys with scores 0 and ln 3 (scale 1 at Dh = 1): p = [1/4, 3/4].
        const q = tf.tensor4d([[[[1]]]]);
        const k = tf.tensor4d([[[[0], [Math.log(3)]]]]);
        const v = tf.tensor4d([[[[4], [8]]]]);
        const o = scaledDotProductAttention(tf.tile(q, [1, 1, 2, 1]) as Tensor4D, k, v);
        expectClose(o, [[[[7], [7]]]], { rtol: 1e-5, atol: 1e-5 });
      });
    });
  });

  itMatchesInChildProcesses(FIXTURE, 1e-4);
});
