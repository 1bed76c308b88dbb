// AdamW's update on host arrays (optim/hostUpdate.ts) against AdamW's own (tensor) update, and
// the sharding it allows: several gradient sources, and the parameters split into ranges.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initBackend, tf, type Tensor, type Variable } from '@moderoute/core';
import { runs } from '@moderoute/testing';
import { AdamW, OPTIMIZER_STATE } from '../src/index.js';
import { combinedSumOfSquares, hostAdamWUpdate, splitSlots, type GradientSource, type HostSlot } from '../src/optim/hostUpdate.js';

/** A random parameter set: sizes, which decay, which have no gradient, and the optimizer's settings. */
const problems = fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
  decays: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
  missing: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
  clipNorm: fc.constantFrom(0, 0.5, 100),
  weightDecay: fc.constantFrom(0, 0.1),
  seed: fc.nat(1e5),
});

/** Deterministic values in [-scale, scale). */
function values(n: number, seed: number, scale: number): Float32Array {
  let x = seed + 1;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return ((x / 2 ** 31) * 2 - 1) * scale;
  });
}

function layout(sizes: readonly number[], decays: readonly boolean[], weightDecay: number, weightOffset = 0): HostSlot[] {
  let offset = 0;
  return sizes.map((size, i) => {
    const slot = { size, p: offset + weightOffset, g: offset, decay: decays[i] ? weightDecay : 0 };
    offset += size;
    return slot;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-5): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const tol = rtol * Math.max(1e-3, Math.abs(expected[i]!));
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('hostAdamWUpdate', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it("should give AdamW's weights, moments and gradient norm over two updates, with decay, clipping and missing gradients (property)", () => {
    fc.assert(
      fc.property(problems, ({ sizes, decays, missing, clipNorm, weightDecay, seed }) => {
        const total = sizes.reduce((a, b) => a + b, 0);
        // The weights sit after 3 other floats, as a model's trainable parameters sit among its state.
        const slots = layout(sizes, decays, weightDecay, 3);
        const names = sizes.map((_, i) => `p${i}`);
        const initial = values(total, seed, 0.5);
        const params = new Map<string, Variable>(names.map((name, i) => [name, tf.variable(tf.tensor1d(initial.slice(slots[i]!.g, slots[i]!.g + sizes[i]!)))]));
        const optimizer = new AdamW(params, { clipNorm, weightDecay, decay: (name) => decays[Number(name.slice(1))]! });
        const weights = new Float32Array(total + 3);
        weights.set(initial, 3);
        const m = new Float32Array(total);
        const v = new Float32Array(total);
        const present = sizes.map((_, i) => !missing[i]);
        try {
          for (let t = 1; t <= 2; t++) {
            const g = values(total, seed + 10 * t, 2);
            const grads = new Map<string, Tensor>(names.flatMap((name, i) => (present[i] ? [[name, tf.tensor1d(g.slice(slots[i]!.g, slots[i]!.g + sizes[i]!))] as const] : [])));
            const expected = optimizer.apply(grads, 0.01);
            tf.dispose([...grads.values()]);
            const sources: GradientSource[] = [{ data: g, share: 1 }];
            const gradNorm = Math.sqrt(combinedSumOfSquares(slots, present, sources));
            if (!present.some((x) => x)) continue;
            assertClose([gradNorm], [expected.gradNorm], 'gradient norm');
            const scale = clipNorm > 0 ? Math.min(1, clipNorm / (gradNorm + 1e-6)) : 1;
            hostAdamWUpdate(slots, present, sources, weights, m, v, { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, lr: 0.01, scale, t: expected.step });
          }
          const state = optimizer.getState();
          names.forEach((name, i) => {
            const { p, g, size } = slots[i]!;
            assertClose(weights.subarray(p, p + size), params.get(name)!.dataSync(), `${name} weights`);
            assertClose(m.subarray(g, g + size), state.get(OPTIMIZER_STATE.m + name)!.dataSync(), `${name} m`);
            assertClose(v.subarray(g, g + size), state.get(OPTIMIZER_STATE.v + name)!.dataSync(), `${name} v`);
          });
          assert.deepEqual(Array.from(weights.subarray(0, 3)), [0, 0, 0], 'outside the slots');
          tf.dispose([...state.values()]);
        } finally {
          optimizer.dispose();
          tf.dispose([...params.values()]);
        }
      }),
      runs(40),
    );
  });

  it('should combine several sources by their shares, as one source of the combined gradient (property)', () => {
    fc.assert(
      fc.property(problems, fc.integer({ min: 2, max: 4 }), ({ sizes, decays, missing, weightDecay, seed }, replicas) => {
        const total = sizes.reduce((a, b) => a + b, 0);
        const slots = layout(sizes, decays, weightDecay);
        const present = sizes.map((_, i) => !missing[i]);
        const shares = Array.from({ length: replicas }, (_, r) => (r + 1) / ((replicas * (replicas + 1)) / 2));
        const sources = shares.map((share, r) => ({ data: values(total, seed + r, 1), share }));
        const combined = new Float32Array(total).map((_, j) => sources.reduce((acc, s) => acc + s.share * s.data[j]!, 0));
        const one = [{ data: combined, share: 1 }];
        assertClose([combinedSumOfSquares(slots, present, sources)], [combinedSumOfSquares(slots, present, one)], 'squared norm');
        const run = (srcs: GradientSource[]) => {
          const state = { w: values(total, seed + 99, 0.5), m: values(total, seed + 98, 0.1), v: values(total, seed + 97, 0.1).map(Math.abs) };
          hostAdamWUpdate(slots, present, srcs, state.w, state.m, state.v, { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, lr: 0.01, scale: 0.7, t: 3 });
          return state;
        };
        const [a, b] = [run(sources), run(one)];
        assertClose(a.w, b.w, 'weights');
        assertClose(a.m, b.m, 'm');
        assertClose(a.v, b.v, 'v');
      }),
      runs(40),
    );
  });

  it('should give exactly the whole update and norm when the slots are split among replicas (property)', () => {
    fc.assert(
      fc.property(problems, fc.integer({ min: 1, max: 5 }), ({ sizes, decays, missing, weightDecay, seed }, parts) => {
        const total = sizes.reduce((a, b) => a + b, 0);
        const slots = layout(sizes, decays, weightDecay);
        const present = sizes.map((_, i) => !missing[i]);
        const sources = [{ data: values(total, seed, 1), share: 0.25 }, { data: values(total, seed + 1, 1), share: 0.75 }];
        const bounds = splitSlots(slots, parts);
        assert.equal(bounds.length, parts + 1);
        assert.equal(bounds[0], 0);
        assert.equal(bounds[parts], slots.length);
        for (let r = 0; r < parts; r++) assert.ok(bounds[r]! <= bounds[r + 1]!, `bounds ${bounds}`);
        const fresh = () => ({ w: values(total, seed + 9, 0.5), m: new Float32Array(total), v: new Float32Array(total) });
        const whole = fresh();
        const split = fresh();
        const k = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, lr: 0.01, scale: 1, t: 1 };
        hostAdamWUpdate(slots, present, sources, whole.w, whole.m, whole.v, k);
        let sum = 0;
        for (let r = 0; r < parts; r++) {
          sum += combinedSumOfSquares(slots, present, sources, bounds[r], bounds[r + 1]);
          hostAdamWUpdate(slots, present, sources, split.w, split.m, split.v, k, bounds[r], bounds[r + 1]);
        }
        assert.deepEqual(split, whole);
        assertClose([sum], [combinedSumOfSquares(slots, present, sources)], 'squared norm', 1e-12);
      }),
      runs(40),
    );
  });

  it('should split slots into ranges of about equal size', () => {
    const slots = layout([10, 10, 10, 10, 40, 10, 10], [], 0);
    // 100 floats in 2: the cut falls before the 40 (40 against 60; after it, 80 against 20).
    assert.deepEqual(splitSlots(slots, 2), [0, 4, 7]);
    assert.deepEqual(splitSlots(slots, 1), [0, 7]);
    assert.deepEqual(splitSlots(layout([5], [], 0), 3), [0, 0, 1, 1]);
  });
});
