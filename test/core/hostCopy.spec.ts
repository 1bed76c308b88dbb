import assert from 'node:assert/strict';
import { ShapeError, readInto, tensorFromView, tf } from '@moderoute/core';
import { forEachBackend } from '@moderoute/testing';

describe('readInto and tensorFromView', () => {
  forEachBackend(() => {
    it('should copy tensors into a host array at offsets, and back out of a view', () => {
      const a = tf.tensor2d([
        [1, 2],
        [3, 4],
      ]);
      const b = tf.tensor1d([5, 6, 7]);
      const out = new Float32Array(new SharedArrayBuffer(4 * 8)).fill(-1);
      readInto(a, out, 1);
      readInto(b, out, 5);
      assert.deepEqual(Array.from(out), [-1, 1, 2, 3, 4, 5, 6, 7]);
      const view = out.subarray(1, 5);
      const t = tensorFromView(view, [2, 2]);
      // The tensor keeps its values when the view is overwritten afterwards.
      view.fill(0);
      assert.deepEqual(t.arraySync(), [
        [1, 2],
        [3, 4],
      ]);
      tf.dispose([a, b, t]);
    });

    it('should refuse what does not fit and tensors other than float32', () => {
      const a = tf.tensor1d([1, 2, 3]);
      const i = tf.tensor1d([1], 'int32');
      assert.throws(() => readInto(a, new Float32Array(4), 2), ShapeError);
      assert.throws(() => readInto(i, new Float32Array(4)), ShapeError);
      tf.dispose([a, i]);
    });
  });
});
