import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ShapeError, linear, tf, type Tensor, type Tensor1D, type Tensor2D } from '@moderoute/core';
import {
  checkDirectionalDerivatives,
  checkSameGradients,
  expectClose,
  expectNoLeaks,
  forEachBackend,
  linearShapes,
  randomTensor,
  runs,
} from '@moderoute/testing';

/** tfjs built-ins with their own gradients: the reference. */
const reference = (x: Tensor, w: Tensor, b?: Tensor) => {
  const y = tf.matMul(x as Tensor2D, w as Tensor2D);
  return b === undefined ? y : tf.add(y, b);
};

describe('linear', () => {
  forEachBackend(() => {
    it('should match a golden example', () => {
      tf.tidy(() => {
        const x = tf.tensor2d([
          [1, 2],
          [3, 4],
        ]);
        const w = tf.tensor2d([
          [1, 0, -1],
          [2, 1, 0],
        ]);
        const b = tf.tensor1d([0.5, 0, 1]);
        expectClose(
          linear(x, w, b),
          tf.tensor2d([
            [5.5, 2, 0],
            [11.5, 4, -2],
          ]),
        );
      });
    });

    it('should equal the built-in matMul, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(linearShapes(), ({ n, i, o, bias, seed }) => {
          tf.tidy(() => {
            const inputs = [randomTensor([n, i], seed), randomTensor([i, o], seed + 1)];
            if (bias) inputs.push(randomTensor([o], seed + 2));
            checkSameGradients(
              (x, w, b) => linear(x as Tensor2D, w as Tensor2D, b as Tensor1D | undefined),
              (x, w, b) => reference(x as Tensor, w as Tensor, b),
              inputs,
            );
          });
        }),
        runs(20),
      );
    });

    it('should match finite differences', () => {
      fc.assert(
        fc.property(linearShapes(6), ({ n, i, o, seed }) => {
          tf.tidy(() => {
            const inputs = [
              randomTensor([n, i], seed),
              randomTensor([i, o], seed + 1),
              randomTensor([o], seed + 2),
            ];
            checkDirectionalDerivatives(
              (x, w, b) => tf.sum(tf.square(linear(x as Tensor2D, w as Tensor2D, b as Tensor1D))),
              inputs,
            );
          });
        }),
        runs(8),
      );
    });

    it('should flatten leading axes of a 3-D input', () => {
      tf.tidy(() => {
        const x = randomTensor([2, 3, 4], 1);
        const w = randomTensor([4, 5], 2) as Tensor2D;
        const y = linear(x, w);
        assert.deepEqual(y.shape, [2, 3, 5]);
        expectClose(y, tf.reshape(tf.matMul(tf.reshape(x, [6, 4]) as Tensor2D, w), [2, 3, 5]));
      });
    });

    it('should not leak tensors, forward or backward', () => {
      const x = randomTensor([5, 3], 1);
      const w = tf.variable(randomTensor([3, 4], 2));
      const b = tf.variable(randomTensor([4], 3));
      expectNoLeaks(() => linear(x as Tensor2D, w as Tensor2D, b as Tensor1D), 'forward');
      expectNoLeaks(
        () => tf.variableGrads(() => tf.sum(linear(x as Tensor2D, w as Tensor2D, b as Tensor1D))),
        'backward',
      );
      tf.dispose([x, w, b]);
    });
  });

  describe('when shapes disagree', () => {
    it('should name the parameter and both shapes', () => {
      const x = tf.zeros([2, 3]) as Tensor2D;
      const w = tf.zeros([4, 5]) as Tensor2D;
      const b = tf.zeros([6]) as Tensor1D;
      assert.throws(
        () => linear(x, w),
        (e: unknown) =>
          e instanceof ShapeError && /x\.shape \(\[2, 3\]\) must be \[\.\.\., 4\]/.test(e.message),
      );
      assert.throws(
        () => linear(tf.zeros([2, 4]) as Tensor2D, w, b),
        /b\.shape \(\[6\]\) must be \[5\]/,
      );
      tf.dispose([x, w, b]);
    });
  });
});
