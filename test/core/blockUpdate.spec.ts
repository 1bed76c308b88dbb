// A pre-LN block's update as one fused op (packages/core/src/primitives/blockUpdate.ts): on wasm
// with core's own kernels it gives the value and every gradient of the same update composed from
// core's layers (layer norm, attention, linear, GELU), own kernels on and off, on random shapes,
// heads, masks and with or without an MLP; it matches finite differences, records one tape node,
// leaves no tensor behind, and is used only where the layers it fuses are core's own; the threaded
// build and one thread agree too, each in a process of its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  blockUpdateParams,
  composedBlockUpdate,
  defaultPrimitives,
  fusedBlockUpdate,
  fusesBlockUpdate,
  gelu,
  ownBlockUpdateKernels,
  tf,
  withOwnKernels,
  type Tensor,
  type Tensor3D,
} from '@moderoute/core';
import {
  checkDirectionalDerivatives,
  expectClose,
  expectNoLeaks,
  randomTensor,
  runs,
  useBackend,
} from '@moderoute/testing';
import { itMatchesInChildProcesses, itRunsOwnKernels } from './ownKernelChecks.js';

const FIXTURE = fileURLToPath(
  new URL('../../packages/core/test/fixtures/blockUpdate.ts', import.meta.url),
);

interface Case {
  b: number;
  t: number;
  heads: number;
  dh: number;
  hidden: number;
  withMlp: boolean;
  masked: boolean;
  seed: number;
}

const cases = (): fc.Arbitrary<Case> =>
  fc.record({
    b: fc.integer({ min: 1, max: 3 }),
    t: fc.integer({ min: 1, max: 9 }),
    heads: fc.integer({ min: 1, max: 3 }),
    dh: fc.integer({ min: 1, max: 6 }),
    hidden: fc.integer({ min: 1, max: 12 }),
    withMlp: fc.boolean(),
    masked: fc.boolean(),
    seed: fc.nat(1e6),
  });

/** The inputs of a case, in fusedBlockUpdate's order: x, then the parameters. */
function inputsOf(c: Case): Tensor[] {
  const d = c.heads * c.dh;
  const shapes = [[c.b, c.t, d], [d], [d], [d, 3 * d], [3 * d], [d, d], [d]];
  if (c.withMlp) shapes.push([d], [d], [d, c.hidden], [c.hidden], [c.hidden, d], [d]);
  return shapes.map((s, i) => randomTensor(s, c.seed + i, i === 0 ? 1 : 0.5));
}

function maskOf(c: Case): Tensor | undefined {
  if (!c.masked) return undefined;
  const values = Array.from({ length: c.b * c.t }, (_, i) =>
    i % c.t === 0 || (i * 7 + c.seed) % 3 ? 1 : 0,
  );
  return tf.tensor2d(values, [c.b, c.t]);
}

/** Value and gradients of sum(f(x) * u) for every input. */
function valueAndGrads(c: Case, fused: boolean, inputs: Tensor[], mask?: Tensor): Tensor[] {
  const u = randomTensor([c.b, c.t, c.heads * c.dh], c.seed + 99);
  const f = (...t: Tensor[]) =>
    fused
      ? fusedBlockUpdate(t[0] as Tensor3D, blockUpdateParams(t.slice(1)), c.heads, true, mask)
      : composedBlockUpdate(t[0] as Tensor3D, blockUpdateParams(t.slice(1)), c.heads, true, mask);
  return [f(...inputs), ...tf.grads((...t: Tensor[]) => tf.sum(tf.mul(f(...t), u)))(inputs)];
}

describe('fused block update (blockUpdate)', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownBlockUpdateKernels);

    it('should give the composed layers’ value and every gradient, own kernels on and off', () => {
      fc.assert(
        fc.property(cases(), (c) => {
          tf.tidy(() => {
            const inputs = inputsOf(c);
            const mask = maskOf(c);
            const fused = valueAndGrads(c, true, inputs, mask);
            const own = withOwnKernels(true, () => valueAndGrads(c, false, inputs, mask));
            const tfjs = withOwnKernels(false, () => valueAndGrads(c, false, inputs, mask));
            assert.equal(fused.length, inputs.length + 1);
            fused.forEach((t, i) => {
              expectClose(t, own[i]!, { rtol: 1e-5, atol: 1e-5 });
              expectClose(t, tfjs[i]!, { rtol: 1e-4, atol: 1e-4 });
            });
          });
        }),
        runs(25),
      );
    });

    it('should match finite differences', () => {
      const c: Case = {
        b: 2,
        t: 5,
        heads: 2,
        dh: 3,
        hidden: 7,
        withMlp: true,
        masked: true,
        seed: 5,
      };
      tf.tidy(() => {
        const inputs = inputsOf(c);
        const mask = maskOf(c);
        const u = randomTensor([c.b, c.t, c.heads * c.dh], 17);
        checkDirectionalDerivatives(
          (...t: Tensor[]) =>
            tf.sum(
              tf.mul(
                fusedBlockUpdate(
                  t[0] as Tensor3D,
                  blockUpdateParams(t.slice(1)),
                  c.heads,
                  true,
                  mask,
                ),
                u,
              ),
            ),
          inputs,
          { seed: 11 },
        );
      });
    });

    it('should record one tape node and leave no tensor behind', () => {
      const c: Case = {
        b: 2,
        t: 6,
        heads: 2,
        dh: 4,
        hidden: 16,
        withMlp: true,
        masked: false,
        seed: 3,
      };
      const inputs = inputsOf(c);
      let kernels = 0;
      expectNoLeaks(() => {
        const grads = tf.grads((...t: Tensor[]) => {
          const before = tf.engine().state.activeTape?.length ?? 0;
          const y = fusedBlockUpdate(
            t[0] as Tensor3D,
            blockUpdateParams(t.slice(1)),
            c.heads,
            true,
          );
          kernels = (tf.engine().state.activeTape?.length ?? 0) - before;
          return tf.sum(y);
        })(inputs);
        tf.dispose(grads);
      }, 'fused update with gradients');
      tf.dispose(inputs);
      // The op itself and one clone per tensor its backward keeps; nothing of its inner layers.
      assert.ok(kernels <= 25, `tape nodes recorded: ${kernels}`);
    });

    it('should fuse only with core’s own layers, and only where the own kernels serve', () => {
      assert.equal(fusesBlockUpdate(defaultPrimitives), true);
      const rebound = { ...defaultPrimitives, gelu: <T extends Tensor>(x: T) => gelu(x) };
      assert.equal(fusesBlockUpdate(rebound), false);
      assert.equal(
        withOwnKernels(false, () => fusesBlockUpdate(defaultPrimitives)),
        false,
      );
    });

    it('should refuse a parameter, heads or a mask of the wrong shape, naming it', () => {
      const c: Case = {
        b: 2,
        t: 3,
        heads: 2,
        dh: 2,
        hidden: 5,
        withMlp: true,
        masked: false,
        seed: 1,
      };
      tf.tidy(() => {
        const inputs = inputsOf(c);
        const call =
          (t: Tensor[], heads = 2, mask?: Tensor) =>
          () =>
            fusedBlockUpdate(t[0] as Tensor3D, blockUpdateParams(t.slice(1)), heads, true, mask);
        const swapped = (i: number, shape: number[]) =>
          inputs.map((t, j) => (j === i ? tf.zeros(shape) : t));
        assert.throws(call(inputs, 3), /heads \(3\).*dividing the width 4/);
        assert.throws(call(swapped(3, [4, 11])), /attention\.wQkv\.shape.*\[4,12\]/);
        assert.throws(call(swapped(11, [4, 4])), /mlp\.w2\.shape.*\[5,4\]/);
        assert.throws(call(swapped(8, [3])), /ln2\.beta\.shape/);
        assert.throws(call(inputs, 2, tf.ones([2, 4])), /mask\.shape.*\[2, 3\]/);
        assert.throws(call([tf.zeros([2, 3]), ...inputs.slice(1)]), /x .*float32\[B, T, D\]/);
      });
    });

    itMatchesInChildProcesses(FIXTURE, 1e-5, 'the layers composed');
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should not fuse (the layers compose there), and fusedBlockUpdate composes them itself', () => {
      assert.equal(fusesBlockUpdate(defaultPrimitives), false);
      const c: Case = {
        b: 2,
        t: 4,
        heads: 2,
        dh: 2,
        hidden: 6,
        withMlp: true,
        masked: true,
        seed: 9,
      };
      tf.tidy(() => {
        const inputs = inputsOf(c);
        const mask = maskOf(c);
        const fused = valueAndGrads(c, true, inputs, mask);
        const composed = valueAndGrads(c, false, inputs, mask);
        fused.forEach((t, i) => expectClose(t, composed[i]!, { rtol: 0, atol: 0 }));
      });
    });
  });
});
