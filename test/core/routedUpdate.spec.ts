// A routed block as one op (packages/core/src/primitives/routedUpdate.ts): on wasm with core's
// own kernels, fusedRoutedUpdate gives the value and every gradient (x, the weights, each
// parameter) of the same op composed of gatherRows, the block update and routedResidual, on random
// sequences, selections, heads, weights and with or without an MLP, own kernels on and off; it
// records one tape node, leaves no tensor behind and refuses a route or parameter of the wrong
// shape, naming it; on cpu it composes the layers.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ShapeError,
  blockUpdateParams,
  composedBlockUpdate,
  fusedRoutedUpdate,
  gatherRows,
  ownRoutedUpdateKernels,
  routedResidual,
  tf,
  withOwnKernels,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { expectClose, expectNoLeaks, randomTensor, runs, useBackend } from '@moderoute/testing';
import { itRunsOwnKernels } from './ownKernelChecks.js';

interface Case {
  b: number;
  t: number;
  s: number;
  heads: number;
  dh: number;
  hidden: number;
  withMlp: boolean;
  seed: number;
}

const cases = (): fc.Arbitrary<Case> =>
  fc
    .record({
      b: fc.integer({ min: 1, max: 3 }),
      t: fc.integer({ min: 1, max: 9 }),
      s: fc.integer({ min: 1, max: 9 }),
      heads: fc.integer({ min: 1, max: 2 }),
      dh: fc.integer({ min: 1, max: 5 }),
      hidden: fc.integer({ min: 1, max: 10 }),
      withMlp: fc.boolean(),
      seed: fc.nat(1e6),
    })
    .map((c) => ({ ...c, s: Math.min(c.s, c.t) }));

/** Each sequence's S selected rows of x float32[B T, D], in ascending order, from the seed. */
function indicesOf(c: Case): Tensor1D {
  const rows: number[] = [];
  for (let seq = 0; seq < c.b; seq++) {
    const order = Array.from({ length: c.t }, (_, i) => i).sort(
      (i, j) => ((i * 7919 + c.seed * (seq + 1)) % 101) - ((j * 7919 + c.seed * (seq + 1)) % 101),
    );
    rows.push(
      ...order
        .slice(0, c.s)
        .sort((i, j) => i - j)
        .map((i) => seq * c.t + i),
    );
  }
  return tf.tensor1d(rows, 'int32');
}

/** The differentiable inputs: x [B T, D], the weights [B S], then the block's parameters. */
function inputsOf(c: Case): Tensor[] {
  const d = c.heads * c.dh;
  const shapes = [[c.b * c.t, d], [c.b * c.s], [d], [d], [d, 3 * d], [3 * d], [d, d], [d]];
  if (c.withMlp) shapes.push([d], [d], [d, c.hidden], [c.hidden], [c.hidden, d], [d]);
  return shapes.map((s, i) => randomTensor(s, c.seed + i, i === 0 ? 1 : 0.5));
}

/** The same op composed of gatherRows, the block update's layers and routedResidual. */
function composed(c: Case, t: Tensor[], indices: Tensor1D): Tensor2D {
  const d = c.heads * c.dh;
  const rows = tf.reshape(gatherRows(t[0] as Tensor2D, indices), [c.b, c.s, d]) as Tensor3D;
  const f = composedBlockUpdate(rows, blockUpdateParams(t.slice(2)), c.heads, true);
  const update = tf.reshape(f, [c.b * c.s, d]) as Tensor2D;
  return routedResidual(t[0] as Tensor2D, update, t[1] as Tensor1D, indices);
}

function fused(c: Case, t: Tensor[], indices: Tensor1D): Tensor2D {
  const route = { indices, weights: t[1] as Tensor1D, sequences: c.b };
  return fusedRoutedUpdate(t[0] as Tensor2D, route, blockUpdateParams(t.slice(2)), c.heads, true);
}

/** Value and gradients of sum(op(...) * u) for every differentiable input. */
function valueAndGrads(c: Case, op: typeof fused, inputs: Tensor[], indices: Tensor1D): Tensor[] {
  const u = randomTensor([c.b * c.t, c.heads * c.dh], c.seed + 99);
  const f = (...t: Tensor[]) => op(c, t, indices);
  return [f(...inputs), ...tf.grads((...t: Tensor[]) => tf.sum(tf.mul(f(...t), u)))(inputs)];
}

function itEqualsTheComposition(): void {
  it('should give the composed value and every gradient, own kernels on and off', () => {
    fc.assert(
      fc.property(cases(), fc.boolean(), (c, own) => {
        tf.tidy(() => {
          const inputs = inputsOf(c);
          const indices = indicesOf(c);
          const ref = withOwnKernels(false, () => valueAndGrads(c, composed, inputs, indices));
          const got = withOwnKernels(own, () => valueAndGrads(c, fused, inputs, indices));
          got.forEach((g, i) => expectClose(g, ref[i]!, { rtol: 1e-4, atol: 1e-5 }));
        });
      }),
      runs(20),
    );
  });
}

describe('fused routed update (routedUpdate)', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    itRunsOwnKernels(ownRoutedUpdateKernels);
    itEqualsTheComposition();

    it('should record one tape node and leave no tensor behind', () => {
      const c: Case = { b: 2, t: 6, s: 3, heads: 2, dh: 2, hidden: 5, withMlp: true, seed: 4 };
      const inputs = inputsOf(c);
      const indices = indicesOf(c);
      const engine = tf.engine() as unknown as { state: { activeTape: unknown[] | null } };
      const nodes: number[] = [];
      tf.grads((...t: Tensor[]) => {
        const before = engine.state.activeTape?.length ?? 0;
        const out = fused(c, t, indices);
        nodes.push((engine.state.activeTape?.length ?? 0) - before);
        return tf.sum(out);
      })(inputs).forEach((g) => g.dispose());
      // The op itself and one clone per tensor its backward keeps (the update's 18 with the causal
      // bias, Q/K/V as their one projection, the update f, the weights and the indices); nothing
      // of the gather, the update's layers or the epilogue.
      assert.deepEqual(nodes, [22]);
      expectNoLeaks(() => tf.dispose(tf.tidy(() => valueAndGrads(c, fused, inputs, indices))));
      tf.dispose([...inputs, indices]);
    });

    it('should refuse a route or a parameter of the wrong shape, naming it', () => {
      const c: Case = { b: 2, t: 4, s: 2, heads: 1, dh: 3, hidden: 4, withMlp: true, seed: 1 };
      tf.tidy(() => {
        const t = inputsOf(c);
        const indices = indicesOf(c);
        const params = blockUpdateParams(t.slice(2));
        const x = t[0] as Tensor2D;
        const weights = t[1] as Tensor1D;
        const refuse = (run: () => unknown, name: string) =>
          assert.throws(run, (e: unknown) => e instanceof ShapeError && e.parameter === name);
        refuse(
          () => fusedRoutedUpdate(x, { indices, weights, sequences: 3 }, params, 1, true),
          'route.indices.shape',
        );
        refuse(
          () =>
            fusedRoutedUpdate(x, { indices, weights: tf.ones([3]), sequences: 2 }, params, 1, true),
          'route.weights.shape',
        );
        const wide = {
          ...params,
          attention: { ...params.attention, wOut: tf.ones([3, 4]) as Tensor2D },
        };
        refuse(
          () => fusedRoutedUpdate(x, { indices, weights, sequences: 2 }, wide, 1, true),
          'attention.wOut.shape',
        );
        assert.throws(
          () =>
            fusedRoutedUpdate(
              x,
              { indices: tf.tensor1d([0, 1, 2, 9], 'int32'), weights, sequences: 2 },
              params,
              1,
              true,
            ),
          /indices\[3\] \(9\)/,
        );
      });
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should compose the layers there', () => {
      assert.equal(ownRoutedUpdateKernels(), false);
    });
    itEqualsTheComposition();
  });
});
