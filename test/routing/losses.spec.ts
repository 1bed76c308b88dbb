import fc from 'fast-check';
import { tf, type Tensor1D } from '@moderoute/core';
import { bceWithLogits, meanBceWithLogits, meanWeights } from '@moderoute/routing';
import { expectClose, expectNoLeaks, forEachBackend, runs } from '@moderoute/testing';

/** The tensor formulation: coefficient * sum(bceWithLogits(z, y) * w), w = 1 / real tokens. */
function reference(z: Tensor1D, targets: Uint8Array, valid: Uint8Array, coefficient: number) {
  return tf.mul(
    tf.sum(tf.mul(bceWithLogits(z, tf.tensor1d(Float32Array.from(targets))), meanWeights(valid))),
    coefficient,
  );
}

describe('meanBceWithLogits', () => {
  forEachBackend(() => {
    it('should equal the tensor formulation in value and gradient, with padding (property)', () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.tuple(fc.double({ min: -30, max: 30, noNaN: true }), fc.boolean(), fc.boolean()),
            { minLength: 1, maxLength: 64 },
          ),
          fc.double({ min: 0, max: 2, noNaN: true }),
          (tokens, coefficient) => {
            tf.tidy(() => {
              const z = tf.tensor1d(tokens.map(([v]) => v));
              const host = z.dataSync() as Float32Array;
              const targets = Uint8Array.from(tokens.map(([, y]) => (y ? 1 : 0)));
              const valid = Uint8Array.from(tokens.map(([, , real]) => (real ? 1 : 0)));
              const f = (fn: (x: Tensor1D) => tf.Scalar) => tf.valueAndGrad(fn)(z);
              const ours = f((x) => meanBceWithLogits(x, host, targets, valid, coefficient));
              const ref = f((x) => reference(x, targets, valid, coefficient) as tf.Scalar);
              expectClose(ours.value, ref.value, { rtol: 1e-5, atol: 1e-6 });
              expectClose(ours.grad, ref.grad, { rtol: 1e-5, atol: 1e-6 });
            });
          },
        ),
        runs(30),
      );
    });

    it('should not leak tensors, forward or backward', () => {
      const z = tf.tensor1d([0.5, -1, 2]);
      const host = z.dataSync() as Float32Array;
      expectNoLeaks(() => {
        const { value, grad } = tf.valueAndGrad((x: Tensor1D) =>
          meanBceWithLogits(x, host, Uint8Array.from([1, 0, 1]), Uint8Array.from([1, 1, 0]), 0.01),
        )(z);
        tf.dispose([value, grad]);
      });
      z.dispose();
    });
  });
});
