import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, tf, type Tensor, type Variable } from '@moderoute/core';
import { expectClose, expectNoLeaks, forEachBackend, randomTensor, runs } from '@moderoute/testing';
import { AdamW, CheckpointError, defaultDecayPredicate } from '../src/index.js';

function params(values: Record<string, number[]>): Map<string, Variable> {
  return new Map(Object.entries(values).map(([k, v]) => [k, tf.variable(tf.tensor1d(v), true)]));
}

function grads(values: Record<string, number[]>): Map<string, Tensor> {
  return new Map(Object.entries(values).map(([k, v]) => [k, tf.tensor1d(v)]));
}

const read = (p: Map<string, Variable>, name: string) =>
  Array.from((p.get(name) as Variable).dataSync());

/**
 * The per-parameter formulation AdamW had before its moments moved to flat buffers:
 * the reference the flat update must agree with.
 */
class ReferenceAdamW {
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();
  t = 0;
  constructor(
    readonly params: Map<string, Variable>,
    readonly c: {
      beta1: number;
      beta2: number;
      epsilon: number;
      weightDecay: number;
      clipNorm: number;
      decays: (name: string) => boolean;
    },
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.zerosLike(p));
      this.v.set(name, tf.zerosLike(p));
    }
  }
  apply(grads: Map<string, Tensor>, lr: number): number {
    const entries = [...grads.entries()];
    const gradNorm = tf.tidy(
      () => tf.sqrt(tf.addN(entries.map(([, g]) => tf.sum(tf.square(g))))).dataSync()[0] as number,
    );
    const t = ++this.t;
    const scale = this.c.clipNorm > 0 ? Math.min(1, this.c.clipNorm / (gradNorm + 1e-6)) : 1;
    const bc1 = 1 - this.c.beta1 ** t;
    const bc2 = 1 - this.c.beta2 ** t;
    for (const [name, grad] of entries) {
      const p = this.params.get(name) as Variable;
      const [mNew, vNew] = tf.tidy(() => {
        const g = scale === 1 ? grad : tf.mul(grad, scale);
        const mN = tf.add(
          tf.mul(this.m.get(name) as Tensor, this.c.beta1),
          tf.mul(g, 1 - this.c.beta1),
        );
        const vN = tf.add(
          tf.mul(this.v.get(name) as Tensor, this.c.beta2),
          tf.mul(tf.square(g), 1 - this.c.beta2),
        );
        const adam = tf.div(tf.div(mN, bc1), tf.add(tf.sqrt(tf.div(vN, bc2)), this.c.epsilon));
        const lambda = this.c.decays(name) ? this.c.weightDecay : 0;
        const delta = lambda > 0 ? tf.add(adam, tf.mul(p, lambda)) : adam;
        p.assign(tf.sub(p, tf.mul(delta, lr)));
        return [mN, vN];
      });
      tf.dispose([this.m.get(name) as Tensor, this.v.get(name) as Tensor]);
      this.m.set(name, mNew);
      this.v.set(name, vNew);
    }
    return gradNorm;
  }
  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}

/** A random parameter set: 1-5 parameters of rank 0-3, some of them exempt from decay. */
const paramSets = fc.record({
  shapes: fc.array(fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 3 }), {
    minLength: 1,
    maxLength: 5,
  }),
  biases: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  missing: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  clipNorm: fc.constantFrom(0, 0.5, 100),
  weightDecay: fc.constantFrom(0, 0.1),
  // Update chunks of one float, a few parameters, or all of them (the default).
  chunkFloats: fc.constantFrom(1, 7, 30, 1 << 18),
  seed: fc.nat(1e5),
});

describe('AdamW', () => {
  forEachBackend(() => {
    describe('.apply', () => {
      it('should match a hand-computed two-step update with decoupled decay (golden)', () => {
        // beta1 0.9, beta2 0.999, eps 1e-8, lambda 0.1, lr 0.1, no clipping. Step 1 of
        // w.x = 1 with g = 0.5: m = 0.05, v = 0.00025, mhat/sqrt(vhat) = 1 (up to eps), so
        // x = 1 - 0.1 * (1 + 0.1 * 1) = 0.89. Expected values computed in float64 from the
        // equations in AdamW.ts; `b` is a bias, so it gets no decay.
        const p = params({ 'layer.w': [1, -2], 'layer.b': [3] });
        const opt = new AdamW(p, {
          beta1: 0.9,
          beta2: 0.999,
          epsilon: 1e-8,
          weightDecay: 0.1,
          clipNorm: 0,
        });
        const g1 = grads({ 'layer.w': [0.5, -0.25], 'layer.b': [2] });
        opt.apply(g1, 0.1);
        expectClose(read(p, 'layer.w'), [0.890000002, -1.88], { rtol: 1e-6 });
        expectClose(read(p, 'layer.b'), [2.9], { rtol: 1e-6 });
        const g2 = grads({ 'layer.w': [1.0, 0.5], 'layer.b': [-1] });
        const result = opt.apply(g2, 0.1);
        assert.equal(result.step, 2);
        expectClose(read(p, 'layer.w'), [0.784581801, -1.89781036], { rtol: 1e-5 });
        expectClose(read(p, 'layer.b'), [2.8733663], { rtol: 1e-5 });
        const state = opt.getState();
        expectClose(state.get('m.layer.w') as Tensor, [0.145, 0.0275], { rtol: 1e-5 });
        expectClose(state.get('v.layer.w') as Tensor, [0.00124975, 0.0003124375], { rtol: 1e-5 });
        expectClose(state.get('v.layer.b') as Tensor, [0.004996], { rtol: 1e-5 });
        assert.equal((state.get('step') as Tensor).dataSync()[0], 2);
        tf.dispose([...state.values(), ...g1.values(), ...g2.values(), ...p.values()]);
        opt.dispose();
      });

      it('should hold few parameter-sized buffers at once during an update (memory)', async () => {
        // Each flat buffer has one float per parameter; the update needs the gradient, the
        // parameters, the two moments and their new values, and a few temporaries at a time.
        // One tidy around the whole update kept about 19 such buffers alive at its peak.
        const n = 40_000;
        const p = params({
          'a.w': Array.from({ length: n }, (_, i) => Math.sin(i)),
          'b.w': Array.from({ length: n }, (_, i) => Math.cos(i)),
        });
        const opt = new AdamW(p, { weightDecay: 0.1, clipNorm: 1 });
        const g = grads({
          'a.w': Array.from({ length: n }, (_, i) => Math.cos(3 * i)),
          'b.w': Array.from({ length: n }, (_, i) => Math.sin(5 * i)),
        });
        opt.apply(g, 0.01);
        const before = tf.memory().numBytes;
        const profile = await tf.profile(() => {
          opt.apply(g, 0.01);
        });
        const buffers = (profile.peakBytes - before) / (4 * 2 * n);
        assert.ok(
          buffers <= 12,
          `the update held ${buffers.toFixed(1)} parameter-sized buffers at its peak`,
        );
        tf.dispose([...g.values(), ...p.values()]);
        opt.dispose();
      });

      it(
        'should hold a few chunks, not a few parameter sets, at once when parameters ' +
          'span many chunks (memory)',
        async () => {
          const n = 20_000;
          const names = Array.from({ length: 8 }, (_, i) => `l${i}.w`);
          const p = params(
            Object.fromEntries(
              names.map((name, k) => [name, Array.from({ length: n }, (_, i) => Math.sin(i + k))]),
            ),
          );
          const opt = new AdamW(p, { weightDecay: 0.1, clipNorm: 1, chunkFloats: n });
          const g = grads(
            Object.fromEntries(
              names.map((name, k) => [
                name,
                Array.from({ length: n }, (_, i) => Math.cos(3 * i + k)),
              ]),
            ),
          );
          opt.apply(g, 0.01);
          const before = tf.memory().numBytes;
          const profile = await tf.profile(() => {
            opt.apply(g, 0.01);
          });
          // In units of all 8 parameters together: one flat update held about 12 of them.
          const sets = (profile.peakBytes - before) / (4 * 8 * n);
          assert.ok(sets <= 2.5, `the update held ${sets.toFixed(2)} parameter sets at its peak`);
          tf.dispose([...g.values(), ...p.values()]);
          opt.dispose();
        },
      );

      it('should clip gradients to the global norm and report the norm before clipping', () => {
        // Global norm of (3) and (4) is 5; clipped to 1, g becomes (0.6) and (0.8): m = 0.1 g.
        const p = params({ a: [0], b: [0] });
        const opt = new AdamW(p, { clipNorm: 1, weightDecay: 0 });
        const g = grads({ a: [3], b: [4] });
        const { gradNorm, applied } = opt.apply(g, 0.01);
        assert.ok(applied);
        expectClose([gradNorm], [5], { rtol: 1e-6 });
        const state = opt.getState();
        expectClose(state.get('m.a') as Tensor, [0.06], { rtol: 1e-5 });
        expectClose(state.get('m.b') as Tensor, [0.08], { rtol: 1e-5 });
        tf.dispose([...state.values(), ...g.values(), ...p.values()]);
        opt.dispose();
      });

      it('should leave gradients under the clip norm unchanged', () => {
        const p = params({ a: [0] });
        const opt = new AdamW(p, { clipNorm: 10, weightDecay: 0 });
        const g = grads({ a: [3] });
        opt.apply(g, 0.01);
        const state = opt.getState();
        expectClose(state.get('m.a') as Tensor, [0.3], { rtol: 1e-5 });
        tf.dispose([...state.values(), ...g.values(), ...p.values()]);
        opt.dispose();
      });

      it('should change nothing when a gradient is not finite', () => {
        const p = params({ a: [1, 2] });
        const opt = new AdamW(p);
        const g = grads({ a: [NaN, 1] });
        const result = opt.apply(g, 0.1);
        assert.equal(result.applied, false);
        assert.equal(opt.step, 0);
        assert.deepEqual(read(p, 'a'), [1, 2]);
        tf.dispose([...g.values(), ...p.values()]);
        opt.dispose();
      });

      it('should name an unknown gradient and a wrong shape', () => {
        const p = params({ a: [1, 2] });
        const opt = new AdamW(p);
        const g1 = grads({ z: [1, 2] });
        const g2 = grads({ a: [1] });
        assert.throws(
          () => opt.apply(g1, 0.1),
          (e: unknown) => e instanceof ConfigError && /grads \("z"\)/.test(e.message),
        );
        assert.throws(
          () => opt.apply(g2, 0.1),
          (e: unknown) =>
            e instanceof ConfigError &&
            /grads\["a"\]\.shape \(\[1\]\) must be \[2\]/.test(e.message),
        );
        tf.dispose([...g1.values(), ...g2.values(), ...p.values()]);
        opt.dispose();
      });

      it(
        'should agree with the per-parameter formulation on random parameter sets and ' +
          'update chunks, with and without every gradient',
        () => {
          fc.assert(
            fc.property(
              paramSets,
              ({ shapes, biases, missing, clipNorm, weightDecay, chunkFloats, seed }) => {
                const names = shapes.map((_, i) => (biases[i] ? `l${i}.bias` : `l${i}.w`));
                const init = shapes.map((shape, i) => randomTensor(shape, seed + i));
                const pa = new Map(
                  names.map((n, i) => [n, tf.variable((init[i] as Tensor).clone())]),
                );
                const pb = new Map(
                  names.map((n, i) => [n, tf.variable((init[i] as Tensor).clone())]),
                );
                const config = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay, clipNorm };
                const fast = new AdamW(pa, { ...config, chunkFloats });
                const ref = new ReferenceAdamW(pb, {
                  ...config,
                  decays: (n) => defaultDecayPredicate(n, []),
                });
                const allGrads: Map<string, Tensor>[] = [];
                for (let step = 0; step < 3; step++) {
                  // Step 1 leaves out the parameters marked missing (but never all of them).
                  const keep = names.filter((_, i) => step !== 1 || !missing[i] || i === 0);
                  const g = new Map(
                    keep.map((n) => [
                      n,
                      randomTensor(
                        (pa.get(n) as Variable).shape,
                        seed + 100 * (step + 1) + names.indexOf(n),
                      ),
                    ]),
                  );
                  allGrads.push(g);
                  const { gradNorm } = fast.apply(g, 0.05);
                  const refNorm = ref.apply(g, 0.05);
                  expectClose([gradNorm], [refNorm], { rtol: 1e-5 });
                }
                const state = fast.getState();
                for (const n of names) {
                  expectClose(pa.get(n) as Variable, pb.get(n) as Variable, {
                    rtol: 1e-5,
                    atol: 1e-6,
                  });
                  expectClose(state.get(`m.${n}`) as Tensor, ref.m.get(n) as Tensor, {
                    rtol: 1e-5,
                    atol: 1e-7,
                  });
                  expectClose(state.get(`v.${n}`) as Tensor, ref.v.get(n) as Tensor, {
                    rtol: 1e-5,
                    atol: 1e-9,
                  });
                  assert.deepEqual(
                    (state.get(`m.${n}`) as Tensor).shape,
                    (pa.get(n) as Variable).shape,
                  );
                }
                tf.dispose([
                  ...init,
                  ...state.values(),
                  ...allGrads.flatMap((g) => [...g.values()]),
                  ...pa.values(),
                  ...pb.values(),
                ]);
                fast.dispose();
                ref.dispose();
              },
            ),
            runs(15),
          );
        },
      );

      it('should leave the weights and moments of parameters without a gradient exactly as they were', () => {
        const p = params({ 'a.w': [1, 2], 'b.w': [3], 'c.bias': [4, 5, 6] });
        const opt = new AdamW(p, { weightDecay: 0.1 });
        const g1 = grads({ 'a.w': [1, 1], 'b.w': [2], 'c.bias': [1, -1, 1] });
        opt.apply(g1, 0.1);
        const before = opt.getState();
        const b = read(p, 'b.w');
        const g2 = grads({ 'a.w': [1, 1], 'c.bias': [1, 1, 1] });
        opt.apply(g2, 0.1);
        const after = opt.getState();
        assert.deepEqual(read(p, 'b.w'), b);
        assert.deepEqual(
          Array.from((after.get('m.b.w') as Tensor).dataSync()),
          Array.from((before.get('m.b.w') as Tensor).dataSync()),
        );
        assert.deepEqual(
          Array.from((after.get('v.b.w') as Tensor).dataSync()),
          Array.from((before.get('v.b.w') as Tensor).dataSync()),
        );
        assert.notDeepEqual(
          Array.from((after.get('m.a.w') as Tensor).dataSync()),
          Array.from((before.get('m.a.w') as Tensor).dataSync()),
        );
        tf.dispose([
          ...before.values(),
          ...after.values(),
          ...g1.values(),
          ...g2.values(),
          ...p.values(),
        ]);
        opt.dispose();
      });

      it('should not leak tensors with a partial gradient set, and free everything on dispose', () => {
        const start = tf.memory().numTensors;
        const init = [randomTensor([3, 4], 1), tf.ones([4]), randomTensor([2], 5)];
        const p = new Map([
          ['w', tf.variable(init[0] as Tensor)],
          ['ln.gamma', tf.variable(init[1] as Tensor)],
          ['u', tf.variable(init[2] as Tensor)],
        ]);
        const opt = new AdamW(p);
        const g = new Map<string, Tensor>([
          ['w', randomTensor([3, 4], 2)],
          ['ln.gamma', randomTensor([4], 3)],
        ]);
        opt.apply(g, 1e-3);
        expectNoLeaks(() => {
          opt.apply(g, 1e-3);
          opt.apply(g, 1e-3);
        }, 'apply with a partial gradient set');
        opt.dispose();
        tf.dispose([...init, ...g.values(), ...p.values()]);
        assert.equal(tf.memory().numTensors, start);
      });

      it('should not leak tensors', () => {
        const p = new Map([
          ['w', tf.variable(randomTensor([3, 4], 1))],
          ['ln.gamma', tf.variable(tf.ones([4]))],
        ]);
        const opt = new AdamW(p);
        const g = new Map<string, Tensor>([
          ['w', randomTensor([3, 4], 2)],
          ['ln.gamma', randomTensor([4], 3)],
        ]);
        expectNoLeaks(() => {
          opt.apply(g, 1e-3);
          opt.apply(g, 1e-3);
        }, 'apply');
        expectNoLeaks(() => [...opt.getState().values()], 'getState');
        const state = opt.getState();
        expectNoLeaks(() => opt.setState(state), 'setState');
        tf.dispose([...state.values(), ...g.values(), ...p.values()]);
        opt.dispose();
      });
    });

    describe('.getState / .setState', () => {
      it('should resume exactly: export, import into a fresh optimizer, continue', () => {
        fc.assert(
          fc.property(fc.nat(1000), (seed) => {
            const init = randomTensor([2, 3], seed);
            const pa = new Map([['w', tf.variable(init.clone())]]);
            const pb = new Map([['w', tf.variable(init.clone())]]);
            const a = new AdamW(pa);
            const b = new AdamW(pb);
            const gs = [0, 1, 2].map((i) => new Map([['w', randomTensor([2, 3], seed + 10 + i)]]));
            a.apply(gs[0] as Map<string, Tensor>, 0.01);
            // b jumps to a's state (weights and optimizer), then both take the same steps.
            (pb.get('w') as Variable).assign(pa.get('w') as Variable);
            const state = a.getState();
            b.setState(state);
            for (const g of gs.slice(1)) {
              a.apply(g, 0.01);
              b.apply(g, 0.01);
            }
            assert.equal(b.step, 3);
            assert.deepEqual(
              Array.from((pb.get('w') as Variable).dataSync()),
              Array.from((pa.get('w') as Variable).dataSync()),
            );
            tf.dispose([
              init,
              ...state.values(),
              ...gs.flatMap((g) => [...g.values()]),
              ...pa.values(),
              ...pb.values(),
            ]);
            a.dispose();
            b.dispose();
          }),
          runs(5),
        );
      });

      it('should restore from host tensors as a checkpoint reads them', () => {
        const p = params({ 'a.w': [1, 2], 'b.bias': [3] });
        const opt = new AdamW(p);
        const host = new Map([
          ['step', { dtype: 'I32' as const, shape: [], data: Int32Array.from([4]) }],
          ['m.a.w', { dtype: 'F32' as const, shape: [2], data: Float32Array.from([0.5, -0.5]) }],
          ['v.a.w', { dtype: 'F32' as const, shape: [2], data: Float32Array.from([0.25, 0.125]) }],
          ['m.b.bias', { dtype: 'F32' as const, shape: [1], data: Float32Array.from([2]) }],
          ['v.b.bias', { dtype: 'F32' as const, shape: [1], data: Float32Array.from([3]) }],
        ]);
        opt.setState(host);
        assert.equal(opt.step, 4);
        const state = opt.getState();
        for (const [k, x] of host)
          if (k !== 'step')
            assert.deepEqual(
              Array.from((state.get(k) as Tensor).dataSync()),
              Array.from(x.data),
              k,
            );
        tf.dispose([...state.values(), ...p.values()]);
        opt.dispose();
      });

      it('should refuse a state for other parameters and change nothing', () => {
        const p = params({ a: [1, 2] });
        const opt = new AdamW(p);
        const g = grads({ a: [1, 1] });
        opt.apply(g, 0.1);
        const other = new Map<string, Tensor>([
          ['step', tf.scalar(9, 'int32')],
          ['m.a', tf.zeros([3])],
          ['v.a', tf.zeros([3])],
          ['m.x', tf.zeros([1])],
        ]);
        assert.throws(
          () => opt.setState(other, 'optimizer.safetensors'),
          (e: unknown) =>
            e instanceof CheckpointError &&
            e.problem === 'mismatch' &&
            /optimizer\.safetensors.*unexpected m\.x.*m\.a has shape \[3\], expected \[2\]/.test(
              e.message,
            ),
        );
        assert.equal(opt.step, 1);
        tf.dispose([...other.values(), ...g.values(), ...p.values()]);
        opt.dispose();
      });
    });
  });

  describe('defaultDecayPredicate', () => {
    it('should exempt biases and norm parameters, and decay weights', () => {
      const exempt = [
        'blocks.0.ln1.gamma',
        'blocks.0.ln1.beta',
        'lnFinal.gamma',
        'blocks.2.mlp.b1',
        'head.bias',
        'blocks.1.attn.qkvBias',
        'norm.weight',
        'blocks.0.rmsnorm.scale',
      ];
      const decayed = [
        'blocks.0.attn.wQkv',
        'embed.weight',
        'blocks.2.mlp.w1',
        'blocks.0.router.weight',
        'head.w',
      ];
      for (const n of exempt) assert.equal(defaultDecayPredicate(n, [4]), false, n);
      for (const n of decayed) assert.equal(defaultDecayPredicate(n, [4, 4]), true, n);
    });

    it('should be replaceable by a custom rule', () => {
      const p = new Map([
        ['w', tf.variable(tf.ones([2]))],
        ['v', tf.variable(tf.ones([2]))],
      ]);
      const opt = new AdamW(p, { decay: (_name, shape) => shape.length >= 2 });
      assert.equal(opt.decaysParameter('w'), false);
      tf.dispose([...p.values()]);
      opt.dispose();
    });
  });
});
