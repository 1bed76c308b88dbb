import fc from 'fast-check';
import { GELU_SIGMOID_ALPHA, gelu, tf, type Tensor } from '@moderoute/core';
import {
  checkDirectionalDerivatives,
  checkSameGradients,
  expectClose,
  expectNoLeaks,
  forEachBackend,
  randomTensor,
  runs,
} from '@moderoute/testing';

const reference = (x: Tensor) => tf.mul(x, tf.sigmoid(tf.mul(x, GELU_SIGMOID_ALPHA)));

describe('gelu', () => {
  forEachBackend(() => {
    it('should match golden values of x * sigmoid(1.702 x)', () => {
      tf.tidy(() => {
        // 1 / (1 + e^-1.702) = 0.845796..., -2 / (1 + e^3.404) = -0.064341...
        expectClose(gelu(tf.tensor1d([0, 1, -2])), [0, 0.8457957, -0.0643414], {
          rtol: 1e-5,
          atol: 1e-6,
        });
      });
    });

    it('should equal the built-in composition and finite differences on random shapes', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
          fc.nat(1e6),
          (shape, seed) => {
            tf.tidy(() => {
              const x = randomTensor(shape, seed, 2);
              checkSameGradients(
                (a) => gelu(a as Tensor),
                (a) => reference(a as Tensor),
                [x],
              );
              checkDirectionalDerivatives((a) => tf.sum(gelu(a as Tensor)), [x]);
            });
          },
        ),
        runs(15),
      );
    });

    it('should not leak tensors', () => {
      const x = tf.variable(randomTensor([4, 3], 1));
      expectNoLeaks(() => tf.variableGrads(() => tf.sum(gelu(x))));
      x.dispose();
    });
  });
});
