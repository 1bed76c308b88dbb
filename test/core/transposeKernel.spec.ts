// Core's own transpose kernel on wasm (issue 19, packages/core/assembly/transpose.ts), which
// overrides wasm's tfjs 'Transpose': bit for bit the same as tfjs's kernel on random shapes and
// permutations (NaN, infinities, -0 among the values), tfjs's kernel for what it does not take
// (int32, other permutations), gradients through tf.transpose, no leaks, cpu untouched; and the
// same on the threaded build and on one thread, each in a process of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  collapseTranspose,
  ownKernelOverride,
  ownTransposeKernel,
  tf,
  withOwnKernels,
  type Tensor,
} from '@moderoute/core';
import { runs, useBackend } from '@moderoute/testing';
import { itMatchesInChildProcesses, itRunsOwnKernels } from './ownKernelChecks.js';
import {
  patternBits,
  patternTensor,
  transposedBits,
  transposeMismatches,
} from './transposeChecks.js';

const FIXTURE = fileURLToPath(
  new URL('../../packages/core/test/fixtures/transposeKernel.ts', import.meta.url),
);
const ORIGINAL = Symbol.for('@moderoute/core/overriddenKernel');
const OWNER = Symbol.for('@moderoute/core/overrideOwner');

/** A shape of rank 1-5 (sizes 1-9: size-1 axes and every remainder mod 4) and a permutation of it. */
const shapeAndPerm = fc
  .array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 })
  .chain((shape) =>
    fc.tuple(
      fc.constant(shape),
      fc.shuffledSubarray([...shape.keys()], { minLength: shape.length }),
    ),
  );

describe('Transpose own wasm kernel', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownTransposeKernel);

    it('should hold test data that survives a round trip bit for bit, specials included', () => {
      const x = patternTensor([8, 7], 5);
      const data = x.dataSync() as Float32Array;
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      assert.deepEqual(bits, patternBits(56, 5));
      for (const special of [0xffc00001, 0x7f800001, 0xff800000, 0x80000000, 1])
        assert.ok(bits.includes(special), special.toString(16));
      x.dispose();
    });

    it("should equal tfjs's kernel bit for bit on random shapes and permutations", () => {
      fc.assert(
        fc.property(shapeAndPerm, fc.nat(100), ([shape, perm], seed) => {
          const x = patternTensor(shape, seed);
          try {
            assert.equal(transposeMismatches(x, perm), 0, `${shape} by ${perm}`);
          } finally {
            x.dispose();
          }
        }),
        runs(200),
      );
    });

    it("should equal tfjs's kernel on batched 2-D swaps of up to 70 x 70 and on the step's shapes", () => {
      const cases: [number[], number[]][] = [
        [
          [64, 8, 128],
          [2, 0, 1],
        ],
        [
          [128, 512],
          [1, 0],
        ],
        [
          [4, 128, 4, 32],
          [0, 2, 1, 3],
        ],
        [
          [4, 4, 128, 32],
          [0, 2, 1, 3],
        ],
        [
          [512, 3, 128],
          [1, 0, 2],
        ],
      ];
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 70 }),
          fc.integer({ min: 1, max: 70 }),
          (n, r, c) => {
            const x = patternTensor([n, r, c], r + c);
            try {
              assert.equal(transposeMismatches(x, [0, 2, 1]), 0, `[${n}, ${r}, ${c}]`);
            } finally {
              x.dispose();
            }
          },
        ),
        runs(40),
      );
      for (const [shape, perm] of cases) {
        assert.notEqual(collapseTranspose(shape, perm), undefined);
        const x = patternTensor(shape, 1);
        assert.equal(transposeMismatches(x, perm), 0, `${shape} by ${perm}`);
        x.dispose();
      }
    });

    it("should leave int32 and other permutations to tfjs's kernel, with the right values", () => {
      tf.tidy(() => {
        const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2], 'int32');
        const y = tf.transpose(x, [2, 1, 0]);
        assert.equal(y.dtype, 'int32');
        assert.deepEqual(y.arraySync(), [
          [
            [1, 7],
            [3, 9],
            [5, 11],
          ],
          [
            [2, 8],
            [4, 10],
            [6, 12],
          ],
        ]);
        assert.deepEqual(tf.transpose(x, [0, 2, 1]).arraySync(), [
          [
            [1, 3, 5],
            [2, 4, 6],
          ],
          [
            [7, 9, 11],
            [8, 10, 12],
          ],
        ]);
        const f = patternTensor([2, 3, 4], 3);
        assert.equal(transposeMismatches(f, [2, 1, 0]), 0);
      });
    });

    it("should run tfjs's kernel exactly for what the own one does not take, or when switched off", () => {
      const tfjs = (
        tf.getKernel(tf.Transpose, 'wasm') as unknown as Record<symbol, tf.KernelConfig>
      )[ORIGINAL]!;
      const kernelFunc = tfjs.kernelFunc;
      let calls = 0;
      const counted = (f: () => void) => {
        calls = 0;
        tf.tidy(f);
        return calls;
      };
      (tfjs as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
        calls++;
        return kernelFunc(args);
      };
      const env = process.env['MODEROUTE_OWN_KERNELS'];
      try {
        const x = () => tf.ones([6, 8, 5]);
        assert.equal(
          counted(() => void tf.transpose(x(), [2, 0, 1])),
          0,
        );
        assert.equal(
          counted(() => void tf.transpose(x(), [1, 0, 2])),
          0,
        );
        assert.equal(
          counted(() => void tf.transpose(x(), [2, 1, 0])),
          1,
        );
        assert.equal(
          counted(() => void tf.transpose(tf.ones([6, 5], 'int32'))),
          1,
        );
        withOwnKernels(false, () =>
          assert.equal(
            counted(() => void tf.transpose(x(), [2, 0, 1])),
            1,
          ),
        );
        process.env['MODEROUTE_OWN_KERNELS'] = '0';
        assert.equal(
          counted(() => void tf.transpose(x(), [2, 0, 1])),
          1,
        );
      } finally {
        if (env === undefined) delete process.env['MODEROUTE_OWN_KERNELS'];
        else process.env['MODEROUTE_OWN_KERNELS'] = env;
        (tfjs as { kernelFunc: tf.KernelFunc }).kernelFunc = kernelFunc;
      }
    });

    it("should give tf.transpose's gradient (the inverse transpose) through the own kernel", () => {
      const x = tf.randomNormal([6, 4, 5], 0, 1, 'float32', 1);
      const w = tf.randomNormal([5, 6, 4], 0, 1, 'float32', 2);
      const grad = (on: boolean) =>
        withOwnKernels(on, () =>
          tf.tidy(() => {
            const g = tf.grad((xi: Tensor) => tf.sum(tf.mul(tf.transpose(xi, [2, 0, 1]), w)))(x);
            return Array.from(g.dataSync());
          }),
        );
      const expected = Array.from(tf.tidy(() => tf.transpose(w, [1, 2, 0]).dataSync()));
      assert.deepEqual(grad(true), expected);
      assert.deepEqual(grad(false), expected);
      tf.dispose([x, w]);
    });

    it('should not leak tensors', () => {
      const x = patternTensor([16, 8, 12], 2);
      const before = tf.memory().numTensors;
      for (const perm of [
        [2, 0, 1],
        [1, 0, 2],
        [0, 2, 1],
        [2, 1, 0],
      ])
        transposedBits(x, perm, true);
      tf.grad((xi: Tensor) => tf.sum(tf.transpose(xi, [2, 0, 1])))(x).dispose();
      assert.equal(tf.memory().numTensors, before);
      x.dispose();
    });

    it("should replace its own override around tfjs's original, and leave another copy's", () => {
      let first = 0;
      let second = 0;
      let foreign = 0;
      const neg = tf.getKernel(tf.Neg, 'wasm')!;
      const negated = () => tf.tidy(() => tf.neg(tf.tensor1d([1, -2])).arraySync());
      try {
        // Overridden twice by this copy of core: the second wraps tfjs's Neg, not the first.
        ownKernelOverride(tf.Neg, [], () => void first++);
        ownKernelOverride(tf.Neg, [], () => void second++);
        const kept = tf.getKernel(tf.Neg, 'wasm') as unknown as Record<symbol, unknown>;
        assert.equal(kept[ORIGINAL], neg);
        assert.deepEqual(negated(), [-1, 2]);
        assert.deepEqual([first, second], [0, 1]);
        // An override registered by another copy of core stays as it is.
        const other = {
          ...neg,
          kernelFunc: ((args: never) => (foreign++, neg.kernelFunc(args))) as tf.KernelFunc,
          ...{ [ORIGINAL]: neg, [OWNER]: {} },
        };
        tf.unregisterKernel(tf.Neg, 'wasm');
        tf.registerKernel(other);
        ownKernelOverride(tf.Neg, [], () => void second++);
        assert.equal(tf.getKernel(tf.Neg, 'wasm'), other);
        assert.deepEqual(negated(), [-1, 2]);
        assert.deepEqual([second, foreign], [1, 1]);
      } finally {
        tf.unregisterKernel(tf.Neg, 'wasm');
        tf.registerKernel(neg);
      }
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it("should leave cpu's kernel alone", () => {
      assert.equal(ownTransposeKernel(), false);
      const cpu = tf.getKernel(tf.Transpose, 'cpu') as unknown as Record<symbol, unknown>;
      assert.equal(cpu[ORIGINAL], undefined);
      tf.tidy(() =>
        assert.deepEqual(tf.transpose(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3])).arraySync(), [
          [1, 4],
          [2, 5],
          [3, 6],
        ]),
      );
    });
  });

  itMatchesInChildProcesses(FIXTURE, 0.5, "tfjs's Transpose (bit for bit)");
});
