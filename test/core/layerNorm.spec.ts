import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ShapeError, layerNorm, tf, type Tensor, type Tensor1D } from '@moderoute/core';
import {
  checkSameGradients,
  expectClose,
  forEachBackend,
  randomTensor,
  runs,
} from '@moderoute/testing';
import { checkLayerNormFiniteDifferences, checkLayerNormLeaks } from './layerNormChecks.js';

const reference = (x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
};

describe('layerNorm', () => {
  forEachBackend(() => {
    it('should match a golden example', () => {
      tf.tidy(() => {
        // mean 2, biased variance 2/3: xhat = [-1.2247, 0, 1.2247]
        const y = layerNorm(
          tf.tensor2d([[1, 2, 3]]),
          tf.tensor1d([1, 2, 1]),
          tf.tensor1d([0, 0, 1]),
        );
        expectClose(y, [[-1.2247357, 0, 2.2247357]], { rtol: 1e-4, atol: 1e-4 });
      });
    });

    it('should equal the built-in composition, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 2 }),
          fc.integer({ min: 2, max: 9 }),
          fc.nat(1e6),
          (lead, d, seed) => {
            tf.tidy(() => {
              const inputs = [
                randomTensor([...lead, d], seed, 3),
                randomTensor([d], seed + 1),
                randomTensor([d], seed + 2),
              ];
              checkSameGradients(
                (x, g, b) => layerNorm(x as Tensor, g as Tensor1D, b as Tensor1D),
                (x, g, b) => reference(x as Tensor, g as Tensor, b as Tensor),
                inputs,
                { rtol: 2e-3, atol: 2e-4 },
              );
            });
          },
        ),
        runs(20),
      );
    });

    it('should match finite differences', () => {
      checkLayerNormFiniteDifferences(8);
    });

    it('should not leak tensors', () => {
      checkLayerNormLeaks([2, 3, 4]);
    });
  });

  describe('when gamma does not match the last axis', () => {
    it('should name gamma and the expected shape', () => {
      tf.tidy(() => {
        assert.throws(
          () => layerNorm(tf.zeros([2, 3]), tf.ones([4]) as Tensor1D, tf.zeros([3]) as Tensor1D),
          (e: unknown) =>
            e instanceof ShapeError && /gamma\.shape \(\[4\]\) must be \[3\]/.test(e.message),
        );
      });
    });
  });
});
