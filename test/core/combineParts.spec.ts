// combineParts (issue 19): a data-parallel step's weighted sum of gradients, parameter by
// parameter, one replica's as tensors and the others' in flat vectors. Bit for bit the tfjs ops
// (w_0 own + w_1 flat_1 + ...) on random parameter sets, absent gradients and one or two other
// replicas, own kernel or not; its refusals; no leaks; the tfjs path on cpu.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ShapeError,
  combineParts,
  ownCombineKernels,
  setOwnKernels,
  tf,
  type CombinedPart,
  type Tensor,
} from '@moderoute/core';
import { expectNoLeaks, runs, useBackend } from '@moderoute/testing';
import { itRunsOwnKernels } from './ownKernelChecks.js';

/** Parts of the given shapes laid out in order from offset `gap`, some without their own gradient. */
function setup(
  shapes: readonly number[][],
  absent: readonly boolean[],
  replicas: number,
  seed: number,
) {
  let at = 0;
  const parts: CombinedPart[] = shapes.map((shape, i) => {
    const part = {
      shape,
      offset: at,
      ...(absent[i] ? {} : { own: tf.randomNormal(shape, 0, 1, 'float32', seed + i) }),
    };
    at += tf.util.sizeFromShape(shape);
    return part;
  });
  const flats = Array.from({ length: replicas - 1 }, (_, r) =>
    tf.randomNormal([at + 3], 0, 1, 'float32', seed + 100 + r),
  );
  const weights = [0.37, 0.5, 0.13].slice(0, replicas);
  const dispose = () => tf.dispose([...flats, ...parts.flatMap((p) => (p.own ? [p.own] : []))]);
  return { parts, flats, weights, dispose };
}

/** The reference: tfjs's Mul and Add per parameter, in replica order. */
function reference(s: ReturnType<typeof setup>): Float32Array[] {
  return s.parts.map(({ shape: partShape, own, offset }) =>
    tf.tidy(() => {
      const shape = [...partShape];
      const size = tf.util.sizeFromShape(shape);
      let sum = tf.mul(own ?? tf.zeros(shape), s.weights[0]!);
      s.flats.forEach((f, r) => {
        sum = tf.add(
          sum,
          tf.mul(tf.reshape(tf.slice(f, [offset], [size]), shape), s.weights[r + 1]!),
        );
      });
      return sum.dataSync() as Float32Array;
    }),
  );
}

function values(ts: Tensor[]): Float32Array[] {
  const out = ts.map((t) => t.dataSync() as Float32Array);
  tf.dispose(ts);
  return out;
}

const shapeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 37 })),
  fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 11 })),
);

function itEqualsTheTfjsOps(own: boolean | undefined): void {
  it('should equal the tfjs ops bit for bit, absent gradients and one or two others included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(shapeArb, fc.boolean()), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(1e6),
        (specs, replicas, seed) => {
          const s = setup(
            specs.map(([shape]) => [...shape]),
            specs.map(([, absent]) => absent),
            replicas,
            seed,
          );
          try {
            const ref = reference(s);
            setOwnKernels(own);
            const got = values(combineParts(s.parts, s.flats, s.weights));
            got.forEach((g, i) => assert.deepEqual(g, ref[i], `part ${i}`));
          } finally {
            setOwnKernels(undefined);
            s.dispose();
          }
        },
      ),
      runs(25),
    );
  });
}

describe('combineParts', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownCombineKernels);
    describe('with the own kernel', () => itEqualsTheTfjsOps(true));
    describe('on the tfjs path', () => itEqualsTheTfjsOps(false));

    it('should refuse weights, flat vectors or parts that do not fit, naming them', () => {
      const s = setup([[4], [2, 3]], [false, false], 2, 5);
      try {
        const refuse = (run: () => unknown, name: string) =>
          assert.throws(run, (e: unknown) => e instanceof ShapeError && e.parameter === name);
        refuse(() => combineParts(s.parts, s.flats, [1]), 'weights');
        refuse(
          () => combineParts([{ ...s.parts[1]!, offset: 8 }], s.flats, s.weights),
          'parts[0].offset',
        );
        refuse(
          () => combineParts([{ ...s.parts[0]!, shape: [5] }], s.flats, s.weights),
          'parts[0].own.shape',
        );
        tf.tidy(() =>
          refuse(() => combineParts(s.parts, [tf.zeros([2, 7])], s.weights), 'flats[0].shape'),
        );
      } finally {
        s.dispose();
      }
    });

    it('should not leak tensors', () => {
      const s = setup([[5], [3, 2]], [false, true], 3, 7);
      for (const own of [true, false]) {
        setOwnKernels(own);
        try {
          expectNoLeaks(() => tf.dispose(combineParts(s.parts, s.flats, s.weights)));
        } finally {
          setOwnKernels(undefined);
        }
      }
      s.dispose();
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should take the tfjs path', () => assert.equal(ownCombineKernels(), false));
    itEqualsTheTfjsOps(undefined);
  });
});
