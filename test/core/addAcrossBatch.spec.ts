// x + p with p broadcast over x's leading axis (addAcrossBatch, the model's position embedding):
// tfjs's Add value and gradients bit for bit on random shapes, on every test backend (its p
// gradient a column sum, which adds the rows in order from 0 as tfjs's sum over axis 0 does);
// refusals naming the parameter; no tensor left behind.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addAcrossBatch, tf, type Tensor } from '@moderoute/core';
import { dim, expectNoLeaks, forEachBackend, randomTensor, runs } from '@moderoute/testing';

/** The value and the gradients wrt x and p under sum(y * u), of f. */
function valueAndGrads(f: (x: Tensor, p: Tensor) => Tensor, x: Tensor, p: Tensor, u: Tensor) {
  return [f(x, p), ...tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(f(a, b), u)))([x, p])];
}

describe('addAcrossBatch', () => {
  forEachBackend(() => {
    it("should give tf.add's value and gradients bit for bit, p broadcast over x's first axis", () => {
      fc.assert(
        fc.property(
          dim(1, 9),
          fc.array(dim(1, 17), { minLength: 1, maxLength: 3 }),
          fc.nat(1e6),
          (b, rest, seed) => {
            tf.tidy(() => {
              const x = randomTensor([b, ...rest], seed);
              const p = randomTensor(rest, seed + 1);
              const u = randomTensor([b, ...rest], seed + 2);
              const own = valueAndGrads(addAcrossBatch, x, p, u);
              const ref = valueAndGrads((a, c) => tf.add(a, c), x, p, u);
              own.forEach((t, i) => {
                assert.deepEqual(t.shape, ref[i]!.shape);
                assert.deepEqual(t.dataSync(), ref[i]!.dataSync(), `output ${i}`);
              });
            });
          },
        ),
        runs(25),
      );
    });

    it('should refuse p of another shape, or int32 inputs, naming them, and leak nothing', () => {
      tf.tidy(() => {
        const x = tf.zeros([2, 3, 4]);
        assert.throws(() => addAcrossBatch(x, tf.zeros([4, 3])), /p\.shape.*\[3, 4\]/);
        assert.throws(() => addAcrossBatch(x, tf.zeros([3])), /p\.shape/);
        assert.throws(() => addAcrossBatch(x, tf.zeros([3, 4], 'int32')), /p\.dtype/);
        assert.throws(() => addAcrossBatch(tf.zeros([2, 4], 'int32'), tf.zeros([4])), /x\.dtype/);
      });
      const x = randomTensor([3, 5, 2], 1);
      const p = randomTensor([5, 2], 2);
      expectNoLeaks(
        () => tf.dispose(tf.grads((a: Tensor, c: Tensor) => tf.sum(addAcrossBatch(a, c)))([x, p])),
        'addAcrossBatch',
      );
      tf.dispose([x, p]);
    });
  });
});
