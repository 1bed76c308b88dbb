// The attention core on a Q/K/V projection where it lies (issue 19,
// packages/core/src/primitives/attentionQkvKernel.ts): bit for bit the attention-core kernels on
// Q, K, V split into heads (splitQkv), the output's heads merged and the gradients of Q, K and V
// put side by side, on random shapes with no bias, the causal bias or a key mask; the same for
// attentionOnProjection's value and gradient (what multiHeadAttention runs); refusals that name
// the parameter; no leaks; absent on cpu.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ATTENTION_BACKWARD,
  ATTENTION_FORWARD,
  attentionBias,
  attentionOnProjection,
  ConfigError,
  mergeHeads,
  ownAttentionQkvBackward,
  ownAttentionQkvForward,
  ownAttentionQkvKernels,
  ShapeError,
  scaledDotProductAttention,
  splitHeads,
  splitQkv,
  tf,
  type Tensor,
  type Tensor2D,
  type Tensor3D,
  type Tensor4D,
} from '@moderoute/core';
import { expectNoLeaks, randomTensor, runs, useBackend } from '@moderoute/testing';
import { itRunsOwnKernels } from './ownKernelChecks.js';

interface Case {
  b: number;
  t: number;
  heads: number;
  dh: number;
  /** 0: no bias, 1: causal, 2: causal and a key mask, 3: a key mask alone. */
  bias: number;
  seed: number;
}

/** The bias of case `c`: none, causal, or with a mask whose last key of sequence 0 is padding. */
function biasOf(c: Case): Tensor | undefined {
  if (c.bias === 0) return undefined;
  const mask = tf.tidy(() =>
    tf.tensor2d(
      Array.from({ length: c.b * c.t }, (_, i) => (i === c.t - 1 && c.t > 1 ? 0 : 1)),
      [c.b, c.t],
    ),
  );
  const bias = attentionBias(c.t, c.bias !== 3, c.bias >= 2 ? mask : undefined);
  mask.dispose();
  return bias;
}

/** [o, p, dqkv] by the kernels on qkv, and by the kernels on the split heads. */
function bothWays(c: Case): { own: Tensor[]; split: Tensor[] } {
  const { b, t, heads, dh } = c;
  const [n, d] = [b * t, heads * dh];
  const scale = 1 / Math.sqrt(dh);
  const qkv = randomTensor([n, 3 * d], c.seed, 2) as Tensor2D;
  const dout = randomTensor([n, d], c.seed + 1) as Tensor2D;
  const bias = biasOf(c);
  const withBias = (inputs: Record<string, Tensor>) =>
    bias === undefined ? inputs : { ...inputs, bias };
  const [o, p] = ownAttentionQkvForward(qkv, b, heads, bias, scale);
  const dqkv = ownAttentionQkvBackward(dout, { qkv, p, bias }, b, heads, scale);
  const [q, k, v] = splitQkv(qkv, b, t, heads) as [Tensor4D, Tensor4D, Tensor4D];
  const [o4, p4] = tf.engine().runKernel(ATTENTION_FORWARD, withBias({ q, k, v }), {
    scale,
  }) as [Tensor4D, Tensor];
  const dOut = splitHeads(tf.reshape(dout, [b, t, d]) as Tensor3D, heads);
  const grads = tf
    .engine()
    .runKernel(ATTENTION_BACKWARD, withBias({ dout: dOut, q, k, v, p: p4 }), {
      scale,
    }) as Tensor4D[];
  const merged = (x: Tensor4D) => tf.reshape(mergeHeads(x), [n, d]);
  return {
    own: [o, p, dqkv],
    split: [merged(o4), tf.reshape(p4, [b * heads, t, t]), tf.concat(grads.map(merged), 1)],
  };
}

const cases = () =>
  fc.record({
    b: fc.integer({ min: 1, max: 3 }),
    t: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 17)),
    heads: fc.integer({ min: 1, max: 3 }),
    dh: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 17, 32)),
    bias: fc.integer({ min: 0, max: 3 }),
    seed: fc.nat(1e6),
  });

describe('attention core on a Q/K/V projection (attentionQkvKernel)', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownAttentionQkvKernels);

    it('should give the split heads’ output, probabilities and gradients bit for bit', () => {
      fc.assert(
        fc.property(cases(), (c) => {
          tf.tidy(() => {
            const { own, split } = bothWays(c);
            own.forEach((x, i) => {
              assert.deepEqual(x.shape, split[i]!.shape);
              assert.deepEqual(
                x.dataSync(),
                split[i]!.dataSync(),
                `output ${i} of ${JSON.stringify(c)}`,
              );
            });
          });
        }),
        runs(40),
      );
    });

    it('should differentiate on the projection as the split heads do, bit for bit', () => {
      fc.assert(
        fc.property(cases(), (c) => {
          tf.tidy(() => {
            const { b, t, heads, dh } = c;
            const [n, d] = [b * t, heads * dh];
            const qkv = randomTensor([n, 3 * d], c.seed, 2) as Tensor2D;
            const u = randomTensor([n, d], c.seed + 1);
            const bias = biasOf(c) as Tensor4D | undefined;
            const onProjection = (x: Tensor) =>
              attentionOnProjection(x as Tensor2D, b, heads, bias);
            const splitHeadsWay = (x: Tensor) => {
              const [q, k, v] = splitQkv(x, b, t, heads) as [Tensor4D, Tensor4D, Tensor4D];
              return tf.reshape(mergeHeads(scaledDotProductAttention(q, k, v, bias)), [n, d]);
            };
            const [own, split] = [onProjection, splitHeadsWay].map((f) => [
              f(qkv),
              tf.grad((x: Tensor) => tf.sum(tf.mul(f(x), u)))(qkv),
            ]);
            own!.forEach((x, i) =>
              assert.deepEqual(x.dataSync(), split![i]!.dataSync(), `${i} of ${JSON.stringify(c)}`),
            );
          });
        }),
        runs(25),
      );
    });

    it('should leave no tensor behind', () => {
      expectNoLeaks(() =>
        tf.dispose(tf.tidy(() => bothWays({ b: 2, t: 5, heads: 2, dh: 3, bias: 2, seed: 1 }).own)),
      );
    });

    it('should refuse inputs the kernels would read out of bounds, naming them', () => {
      tf.tidy(() => {
        const qkv = tf.zeros([6, 12]) as Tensor2D;
        const p = tf.zeros([4, 3, 3]);
        const dout = tf.zeros([6, 4]) as Tensor2D;
        const refuses = (
          body: () => unknown,
          kind: typeof ShapeError | typeof ConfigError,
          name: string,
        ) =>
          assert.throws(
            body,
            (e: unknown) => e instanceof kind && (e as Error).message.startsWith(name),
          );
        refuses(
          () => ownAttentionQkvForward(tf.zeros([6, 11]) as Tensor2D, 2, 2, undefined, 1),
          ShapeError,
          'qkv',
        );
        refuses(() => ownAttentionQkvForward(qkv, 4, 2, undefined, 1), ConfigError, 'batch');
        refuses(() => ownAttentionQkvForward(qkv, 2, 3, undefined, 1), ConfigError, 'heads');
        refuses(
          () => ownAttentionQkvForward(qkv, 2, 2, tf.zeros([1, 1, 3, 4]), 1),
          ShapeError,
          'bias',
        );
        refuses(
          () =>
            ownAttentionQkvBackward(
              tf.zeros([6, 3]) as Tensor2D,
              { qkv, p, bias: undefined },
              2,
              2,
              1,
            ),
          ShapeError,
          'dout',
        );
        refuses(
          () =>
            ownAttentionQkvBackward(
              dout,
              { qkv, p: tf.zeros([2, 3, 3]), bias: undefined },
              2,
              2,
              1,
            ),
          ShapeError,
          'p',
        );
        assert.equal(
          ownAttentionQkvBackward(dout, { qkv, p, bias: undefined }, 2, 2, 1).shape.join(),
          '6,12',
        );
      });
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should not serve there (the fused block update composes its layers instead)', () => {
      assert.equal(ownAttentionQkvKernels(), false);
    });
  });
});
