// adamwUpdateParts (issue 19): AdamW's update of parameters whose moments lie in one flat pair of
// buffers, each parameter updated where it lies (one own kernel on wasm). Bit for bit the same as
// adamwUpdate on each part's slice of the moments, on random groups of parameters with gaps and
// mixed decay, own kernel or tfjs path; moments outside every part unchanged; its refusals; no
// leaks; the tfjs path on cpu.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ShapeError,
  adamwUpdate,
  adamwUpdateParts,
  ownAdamWPartsKernels,
  setOwnKernels,
  tf,
  type AdamWPart,
  type Tensor,
} from '@moderoute/core';
import { expectNoLeaks, runs, useBackend } from '@moderoute/testing';
import { itRunsOwnKernels } from './ownKernelChecks.js';

const OPTIONS = {
  scale: 0.731,
  beta1: 0.9,
  beta2: 0.95,
  bc1: 1 - 0.9 ** 3,
  bc2: 1 - 0.95 ** 3,
  epsilon: 1e-8,
  lr: 3e-3,
};

/** A part's shape, the gap before it and whether it decays. */
type PartSpec = readonly [shape: readonly number[], gap: number, decays: boolean];

/** Parts of the given specs laid out in order in flat moments (with a trailing gap), from `seed`. */
function group(specs: readonly PartSpec[], tail: number, seed: number) {
  const parts: AdamWPart[] = [];
  let at = 0;
  specs.forEach(([shape, gap, decays], i) => {
    at += gap;
    const s = seed + 10 * i;
    parts.push({
      g: tf.randomNormal([...shape], 0, 1, 'float32', s),
      p: tf.randomNormal([...shape], 0, 1, 'float32', s + 1),
      offset: at,
      decay: decays ? 0.1 : 0,
    });
    at += tf.util.sizeFromShape([...shape]);
  });
  const n = at + tail;
  const m = tf.randomNormal([n], 0, 1, 'float32', seed + 7);
  const v = tf.abs(tf.randomNormal([n], 0, 1, 'float32', seed + 8));
  return { parts, m, v, dispose: () => tf.dispose([m, v, ...parts.flatMap((p) => [p.g, p.p])]) };
}

/** [m', v', p'...] as host arrays. */
function values(out: { m: Tensor; v: Tensor; params: Tensor[] }): Float32Array[] {
  const all = [out.m, out.v, ...out.params];
  const host = all.map((t) => t.dataSync() as Float32Array);
  tf.dispose(all);
  return host;
}

/** The reference: adamwUpdate on each part's slice; the other moments copied. */
function reference(parts: readonly AdamWPart[], m: Tensor, v: Tensor): Float32Array[] {
  const mHost = (m.dataSync() as Float32Array).slice();
  const vHost = (v.dataSync() as Float32Array).slice();
  const params = parts.map(({ g, p, offset, decay }) => {
    const slice = (x: Tensor) => tf.slice(x, [offset], [p.size]);
    const out = tf.tidy(() =>
      adamwUpdate(tf.reshape(g, [-1]), slice(m), slice(v), tf.reshape(p, [-1]), {
        ...OPTIONS,
        ...(decay > 0 ? { decay } : {}),
      }),
    );
    mHost.set(out[0].dataSync(), offset);
    vHost.set(out[1].dataSync(), offset);
    const pNew = out[2].dataSync() as Float32Array;
    tf.dispose(out);
    return pNew;
  });
  return [mHost, vHost, ...params];
}

const partSpec = fc.tuple(
  fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 40 })),
    fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 13 })),
  ),
  fc.constantFrom(0, 0, 3),
  fc.boolean(),
);

function itMatchesTheReference(own: boolean): void {
  it('should equal adamwUpdate on each slice bit for bit, gaps and mixed decay included', () => {
    fc.assert(
      fc.property(
        fc.array(partSpec, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(0, 5),
        fc.nat(1e6),
        (specs, tail, seed) => {
          const g = group(specs, tail, seed);
          try {
            const ref = reference(g.parts, g.m, g.v);
            setOwnKernels(own);
            const out = values(adamwUpdateParts(g.parts, g.m, g.v, OPTIONS));
            setOwnKernels(undefined);
            out.forEach((o, i) => assert.deepEqual(o, ref[i], `output ${i}`));
          } finally {
            setOwnKernels(undefined);
            g.dispose();
          }
        },
      ),
      runs(25),
    );
  });
}

describe('adamwUpdateParts', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownAdamWPartsKernels);

    describe('with the own kernel', () => itMatchesTheReference(true));
    describe('on the tfjs path', () => itMatchesTheReference(false));

    it('should refuse overlapping parts, a gradient of another shape and moments of other sizes', () => {
      const g = group(
        [
          [[4], 0, true],
          [[2, 3], 0, false],
        ],
        2,
        3,
      );
      try {
        const [a, b] = g.parts as [AdamWPart, AdamWPart];
        const refuse = (parts: AdamWPart[], m: Tensor, v: Tensor, name: string) =>
          assert.throws(
            () => adamwUpdateParts(parts, m, v, OPTIONS),
            (e: unknown) => e instanceof ShapeError && e.parameter === name,
          );
        refuse([a, { ...b, offset: 3 }], g.m, g.v, 'parts[1].offset');
        refuse([a, { ...b, offset: 9 }], g.m, g.v, 'parts[1].offset');
        refuse([{ ...a, g: b.g }], g.m, g.v, 'parts[0].g.shape');
        tf.tidy(() => refuse([a], g.m, tf.zeros([3]), 'v.shape'));
      } finally {
        g.dispose();
      }
    });

    it('should not leak tensors', () => {
      const g = group(
        [
          [[5], 1, true],
          [[3, 2], 0, false],
        ],
        3,
        9,
      );
      for (const own of [true, false]) {
        setOwnKernels(own);
        try {
          expectNoLeaks(() => {
            const out = adamwUpdateParts(g.parts, g.m, g.v, OPTIONS);
            tf.dispose([out.m, out.v, ...out.params]);
          });
        } finally {
          setOwnKernels(undefined);
        }
      }
      g.dispose();
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should take the tfjs path', () => {
      assert.equal(ownAdamWPartsKernels(), false);
      const g = group([[[6], 2, true]], 1, 4);
      try {
        const ref = reference(g.parts, g.m, g.v);
        const out = values(adamwUpdateParts(g.parts, g.m, g.v, OPTIONS));
        out.forEach((o, i) => assert.deepEqual(o, ref[i], `output ${i}`));
      } finally {
        g.dispose();
      }
    });
  });
});
