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

const read = (p: Map<string, Variable>, name: string) => Array.from((p.get(name) as Variable).dataSync());

describe('AdamW', () => {
  forEachBackend(() => {
    describe('.apply', () => {
      it('should match a hand-computed two-step update with decoupled decay (golden)', () => {
        // beta1 0.9, beta2 0.999, eps 1e-8, lambda 0.1, lr 0.1, no clipping. Step 1 of
        // w.x = 1 with g = 0.5: m = 0.05, v = 0.00025, mhat/sqrt(vhat) = 1 (up to eps), so
        // x = 1 - 0.1 * (1 + 0.1 * 1) = 0.89. Expected values computed in float64 from the
        // equations in AdamW.ts; `b` is a bias, so it gets no decay.
        const p = params({ 'layer.w': [1, -2], 'layer.b': [3] });
        const opt = new AdamW(p, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1, clipNorm: 0 });
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
        assert.throws(() => opt.apply(g1, 0.1), (e: unknown) => e instanceof ConfigError && /grads \("z"\)/.test(e.message));
        assert.throws(() => opt.apply(g2, 0.1), (e: unknown) => e instanceof ConfigError && /grads\["a"\]\.shape \(\[1\]\) must be \[2\]/.test(e.message));
        tf.dispose([...g1.values(), ...g2.values(), ...p.values()]);
        opt.dispose();
      });

      it('should not leak tensors', () => {
        const p = new Map([['w', tf.variable(randomTensor([3, 4], 1))], ['ln.gamma', tf.variable(tf.ones([4]))]]);
        const opt = new AdamW(p);
        const g = new Map<string, Tensor>([['w', randomTensor([3, 4], 2)], ['ln.gamma', randomTensor([4], 3)]]);
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
            assert.deepEqual(Array.from((pb.get('w') as Variable).dataSync()), Array.from((pa.get('w') as Variable).dataSync()));
            tf.dispose([init, ...state.values(), ...gs.flatMap((g) => [...g.values()]), ...pa.values(), ...pb.values()]);
            a.dispose();
            b.dispose();
          }),
          runs(5),
        );
      });

      it('should refuse a state for other parameters and change nothing', () => {
        const p = params({ a: [1, 2] });
        const opt = new AdamW(p);
        const g = grads({ a: [1, 1] });
        opt.apply(g, 0.1);
        const other = new Map<string, Tensor>([['step', tf.scalar(9, 'int32')], ['m.a', tf.zeros([3])], ['v.a', tf.zeros([3])], ['m.x', tf.zeros([1])]]);
        assert.throws(
          () => opt.setState(other, 'optimizer.safetensors'),
          (e: unknown) => e instanceof CheckpointError && e.problem === 'mismatch' && /optimizer\.safetensors.*unexpected m\.x.*m\.a has shape \[3\], expected \[2\]/.test(e.message),
        );
        assert.equal(opt.step, 1);
        tf.dispose([...other.values(), ...g.values(), ...p.values()]);
        opt.dispose();
      });
    });
  });

  describe('defaultDecayPredicate', () => {
    it('should exempt biases and norm parameters, and decay weights', () => {
      const exempt = ['blocks.0.ln1.gamma', 'blocks.0.ln1.beta', 'lnFinal.gamma', 'blocks.2.mlp.b1', 'head.bias', 'blocks.1.attn.qkvBias', 'norm.weight', 'blocks.0.rmsnorm.scale'];
      const decayed = ['blocks.0.attn.wQkv', 'embed.weight', 'blocks.2.mlp.w1', 'blocks.0.router.weight', 'head.w'];
      for (const n of exempt) assert.equal(defaultDecayPredicate(n, [4]), false, n);
      for (const n of decayed) assert.equal(defaultDecayPredicate(n, [4, 4]), true, n);
    });

    it('should be replaceable by a custom rule', () => {
      const p = new Map([['w', tf.variable(tf.ones([2]))], ['v', tf.variable(tf.ones([2]))]]);
      const opt = new AdamW(p, { decay: (_name, shape) => shape.length >= 2 });
      assert.equal(opt.decaysParameter('w'), false);
      tf.dispose([...p.values()]);
      opt.dispose();
    });
  });
});
