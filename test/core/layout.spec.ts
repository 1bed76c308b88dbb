import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ShapeError,
  concatFlat,
  concatOuter,
  splitFlat,
  splitOuter,
  tf,
  type Tensor,
} from '@moderoute/core';
import {
  checkSameGradients,
  dim,
  expectClose,
  expectNoLeaks,
  forEachBackend,
  randomTensor,
  runs,
} from '@moderoute/testing';

describe('splitOuter', () => {
  forEachBackend(() => {
    it('should equal tf.split along axis 0, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(
          dim(2, 4),
          dim(1, 3),
          fc.array(dim(1, 5), { minLength: 0, maxLength: 2 }),
          fc.nat(1e6),
          (n, rows, rest, seed) => {
            tf.tidy(() => {
              const x = randomTensor([n * rows, ...rest], seed);
              // n >= 2: tfjs's own SplitV gradient (the reference) fails for a single part.
              // Weigh the parts differently so that each part's gradient is checked.
              const weigh = (parts: Tensor[]) => tf.stack(parts.map((p, i) => tf.mul(p, i + 1)));
              checkSameGradients(
                (xx) => weigh(splitOuter(xx as Tensor, n)),
                (xx) => weigh(tf.split(xx as Tensor, n, 0)),
                [x],
              );
            });
          },
        ),
        runs(20),
      );
    });

    it('should give zero gradients to parts that are not used', () => {
      tf.tidy(() => {
        const x = randomTensor([6, 2], 3);
        const [g] = tf.grads((xx: Tensor) => tf.sum(splitOuter(xx, 3)[1] as Tensor))([x]);
        expectClose(
          g as Tensor,
          tf.tensor2d([
            [0, 0],
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
            [0, 0],
          ]),
        );
      });
    });

    it('should not leak tensors, forward or backward', () => {
      const x = randomTensor([4, 3], 1);
      expectNoLeaks(() => splitOuter(x, 2), 'forward');
      expectNoLeaks(
        () => tf.grads((xx: Tensor) => tf.sum(tf.mul(splitOuter(xx, 2)[0] as Tensor, 2)))([x]),
        'backward',
      );
      x.dispose();
    });

    it('should name an outer axis that does not divide', () => {
      tf.tidy(() => {
        assert.throws(
          () => splitOuter(tf.zeros([5, 2]), 2),
          (e: unknown) => e instanceof ShapeError && /x\.shape/.test(e.message),
        );
      });
    });
  });
});

describe('concatOuter', () => {
  forEachBackend(() => {
    it('should equal tf.concat along axis 0, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(
          fc.array(dim(1, 4), { minLength: 1, maxLength: 4 }),
          fc.array(dim(1, 4), { minLength: 0, maxLength: 2 }),
          fc.nat(1e6),
          (sizes, rest, seed) => {
            tf.tidy(() => {
              const parts = sizes.map((s, i) => randomTensor([s, ...rest], seed + i));
              checkSameGradients(
                (...ps) => concatOuter(ps),
                (...ps) => tf.concat(ps, 0),
                parts,
              );
            });
          },
        ),
        runs(20),
      );
    });

    it('should not leak tensors, forward or backward', () => {
      const a = randomTensor([2, 3], 1);
      const b = randomTensor([1, 3], 2);
      expectNoLeaks(() => concatOuter([a, b]), 'forward');
      expectNoLeaks(
        () => tf.grads((x: Tensor, y: Tensor) => tf.sum(tf.square(concatOuter([x, y]))))([a, b]),
        'backward',
      );
      tf.dispose([a, b]);
    });
  });
});

describe('concatFlat / splitFlat', () => {
  const shapesArb = fc.array(fc.array(dim(1, 4), { maxLength: 3 }), { minLength: 1, maxLength: 5 });

  forEachBackend(() => {
    it('should equal tf.concat of the flattened tensors, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(shapesArb, fc.nat(1e6), (shapes, seed) => {
          tf.tidy(() => {
            const parts = shapes.map((s, i) => randomTensor(s, seed + i));
            const flat = concatFlat(parts);
            assert.deepEqual(flat.shape, [parts.reduce((n, p) => n + p.size, 0)]);
            checkSameGradients(
              (...ps) => concatFlat(ps),
              (...ps) =>
                tf.concat(
                  ps.map((p) => tf.reshape(p, [-1])),
                  0,
                ),
              parts,
            );
          });
        }),
        runs(20),
      );
    });

    it('should split back to the original tensors, value and gradients, on random shapes', () => {
      fc.assert(
        fc.property(shapesArb, fc.nat(1e6), (shapes, seed) => {
          tf.tidy(() => {
            const parts = shapes.map((s, i) => randomTensor(s, seed + i));
            const back = splitFlat(concatFlat(parts), shapes);
            back.forEach((b, i) => {
              assert.deepEqual(b.shape, shapes[i]);
              assert.deepEqual(
                Array.from(b.dataSync()),
                Array.from((parts[i] as Tensor).dataSync()),
              );
            });
            // Weigh the parts differently so that each part's gradient is checked.
            const weigh = (ps: Tensor[]) =>
              tf.concat(
                ps.map((p, i) => tf.reshape(tf.mul(p, i + 1), [-1])),
                0,
              );
            const total = parts.reduce((n, p) => n + p.size, 0);
            const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
            const x = randomTensor([total], seed + 99);
            checkSameGradients(
              (xx) => weigh(splitFlat(xx, shapes)),
              (xx) => weigh(shapes.length === 1 ? [xx] : tf.split(xx, sizes, 0)),
              [x],
            );
          });
        }),
        runs(20),
      );
    });

    it('should refuse a vector of another size', () => {
      tf.tidy(() => {
        assert.throws(
          () => splitFlat(tf.zeros([5]), [[2, 2]]),
          (e: unknown) => e instanceof ShapeError && /x\.shape/.test(e.message),
        );
      });
    });

    it('should not leak tensors, forward or backward', () => {
      const a = randomTensor([2, 3], 1);
      const b = randomTensor([4], 2);
      expectNoLeaks(() => concatFlat([a, b]), 'forward');
      expectNoLeaks(
        () => tf.grads((x: Tensor, y: Tensor) => tf.sum(tf.square(concatFlat([x, y]))))([a, b]),
        'backward',
      );
      const flat = randomTensor([6], 3);
      expectNoLeaks(() => splitFlat(flat, [[2], [2, 2]]), 'split forward');
      expectNoLeaks(
        () =>
          tf.grads((x: Tensor) => tf.sum(tf.square(splitFlat(x, [[2], [2, 2]])[1] as Tensor)))([
            flat,
          ]),
        'split backward',
      );
      tf.dispose([a, b, flat]);
    });
  });
});
