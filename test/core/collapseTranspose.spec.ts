// The permutation collapse of core's own transpose kernel (packages/core/src/primitives/
// transposeKernel.ts): the step's transposes reduce to the forms the kernel runs, and what is none
// of them is left to tfjs's kernel.
import assert from 'node:assert/strict';
import { collapseTranspose } from '@moderoute/core';

describe('collapseTranspose', () => {
  it('should reduce the step transposes to their simplest forms', () => {
    // matmul.ts's transpose2d, [R/8, 8, C] -> [C, R/8, 8]: the 2-D swap [R, C] -> [C, R].
    assert.deepEqual(collapseTranspose([64, 8, 128], [2, 0, 1]), {
      kind: 'swap',
      n: 1,
      r: 512,
      c: 128,
    });
    // Attention's head split [B, T, H, Dh] -> [B, H, T, Dh] and the fused projections' split.
    assert.deepEqual(collapseTranspose([4, 128, 4, 32], [0, 2, 1, 3]), {
      kind: 'blocks',
      n: 4,
      a: 128,
      b: 4,
      k: 32,
    });
    assert.deepEqual(collapseTranspose([512, 3, 128], [1, 0, 2]), {
      kind: 'blocks',
      n: 1,
      a: 512,
      b: 3,
      k: 128,
    });
    // Axes of size 1 dropped: a batched swap, and a swap of a size-1 axis (the identity).
    assert.deepEqual(collapseTranspose([1, 3, 5, 1, 7], [3, 1, 4, 2, 0]), {
      kind: 'swap',
      n: 3,
      r: 5,
      c: 7,
    });
    assert.deepEqual(collapseTranspose([5, 1], [1, 0]), { kind: 'copy' });
    // A full reversal of three axes is none of the forms.
    assert.equal(collapseTranspose([2, 3, 4], [2, 1, 0]), undefined);
  });
});
