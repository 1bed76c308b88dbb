import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SHARED_IDENTITY, tf, type Tensor } from '@moderoute/core';
import {
  dim,
  expectClose,
  expectNoLeaks,
  forEachBackend,
  randomTensor,
  runs,
} from '@moderoute/testing';

describe('Identity (clone and tensors saved for backprop)', () => {
  it('should share the buffer on wasm instead of copying it', () => {
    const kernel = tf.getKernel(tf.Identity, 'wasm') as unknown as
      Record<string, unknown> | undefined;
    assert.equal(kernel?.[SHARED_IDENTITY], true);
  });

  forEachBackend(() => {
    it('should give a clone that outlives its source, with the same values, dtype and shape', () => {
      fc.assert(
        fc.property(
          fc.array(dim(1, 4), { maxLength: 3 }),
          fc.constantFrom('float32', 'int32', 'bool'),
          fc.nat(1e6),
          (shape, dtype, seed) => {
            const start = tf.memory().numTensors;
            const x = tf.tidy(() =>
              tf.cast(tf.mul(randomTensor(shape, seed), 3), dtype as 'float32'),
            );
            const expected = Array.from(x.dataSync());
            const y = tf.clone(x);
            x.dispose();
            assert.equal(y.dtype, dtype);
            assert.deepEqual(y.shape, shape);
            assert.deepEqual(Array.from(y.dataSync()), expected);
            y.dispose();
            assert.equal(tf.memory().numTensors, start);
          },
        ),
        runs(20),
      );
    });

    it('should keep a clone unchanged when the source variable is assigned', () => {
      const init = tf.tensor1d([1, 2, 3]);
      const v = tf.variable(init);
      const y = tf.clone(v);
      v.assign(tf.tensor1d([7, 8, 9]));
      assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
      assert.deepEqual(Array.from(v.dataSync()), [7, 8, 9]);
      tf.dispose([init, v, y]);
    });

    it('should give the gradients of saved tensors, and free them after backprop', () => {
      const x = randomTensor([3, 4], 5);
      // customGrad's save() and the built-in kernels' saved inputs both clone through Identity.
      const f = tf.customGrad(((a: Tensor, save: (t: Tensor[]) => void) => {
        const y = tf.exp(a);
        save([y]);
        return {
          value: y,
          gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, saved[0] as Tensor),
        };
      }) as never) as (a: Tensor) => Tensor;
      expectNoLeaks(
        () => tf.grads((a: Tensor) => tf.sum(tf.mul(f(a) as Tensor, tf.sigmoid(a))))([x]),
        'grads',
      );
      const [g] = tf.grads((a: Tensor) => tf.sum(tf.mul(f(a) as Tensor, tf.sigmoid(a))))([x]);
      const s = tf.sigmoid(x);
      expectClose(g as Tensor, tf.mul(tf.exp(x), tf.add(s, tf.mul(s, tf.sub(1, s)))), {
        rtol: 1e-5,
      });
      tf.dispose([x, g as Tensor, s]);
    });
  });
});
