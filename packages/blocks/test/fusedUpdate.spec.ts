// Blocks run a pre-LN block's update as core's one fused op on wasm with core's own layers
// (fusedBlockUpdate), and compose the layers otherwise: the two give the same outputs and
// gradients for dense and Mixture-of-Depths blocks, and a consumer's rebound primitive is still
// the one called.
import assert from 'node:assert/strict';
import {
  CORE_IDS,
  defaultPrimitives,
  tf,
  type Primitives,
  type Scalar,
  type Tensor,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { expectClose, randomTensor, useBackend } from '@moderoute/testing';
import type { Block, BlockSpec } from '../src/index.js';
import { WIDTH, makeBlock, testContainer } from './helpers.js';

/** Core's primitives with GELU wrapped (so not core's own): blocks compose the layers. */
function rebound(calls: string[]): Primitives {
  return {
    ...defaultPrimitives,
    gelu: (<T extends Tensor>(x: T): T => {
      calls.push('gelu');
      return defaultPrimitives.gelu(x);
    }) as Primitives['gelu'],
  };
}

/** Output, and the gradients of sum(output * cot) wrt x and every parameter (by name order). */
function outputAndGrads(block: Block, params: Variable[], x: Tensor3D, cot: Tensor): Tensor[] {
  const run = (xx: Tensor3D) => block.forward(xx, { training: true, rngSeed: 3 }).output;
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(run(x), cot)) as Scalar, params);
  const gx = tf.grad((xx: Tensor) => tf.sum(tf.mul(run(xx as Tensor3D), cot)) as Scalar)(x);
  return [run(x), value, gx, ...params.map((p) => grads[p.name]!)];
}

describe('fused block update in blocks', () => {
  useBackend('wasm');

  const specs: [string, BlockSpec][] = [
    ['dense', { kind: 'dense' }],
    ['MoD', { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.5 } } }],
  ];
  for (const [name, spec] of specs) {
    it(`a ${name} block should give the same outputs and gradients fused and composed`, () => {
      const calls: string[] = [];
      const container = testContainer();
      container.rebind(CORE_IDS.Primitives).toConstantValue(rebound(calls));
      const fused = makeBlock(spec, 4);
      const composed = makeBlock(spec, 4, 4, container);
      try {
        tf.tidy(() => {
          const x = randomTensor([2, 8, WIDTH], 21, 1) as Tensor3D;
          const cot = randomTensor([2, 8, WIDTH], 22);
          const variables = (s: typeof fused) => s.store.trainable();
          const a = outputAndGrads(fused.block, variables(fused), x, cot);
          const b = outputAndGrads(composed.block, variables(composed), x, cot);
          assert.equal(a.length, b.length);
          a.forEach((t, i) => expectClose(t, b[i]!, { rtol: 1e-4, atol: 1e-5 }, `output ${i}`));
        });
        assert.ok(calls.length > 0, 'the rebound GELU was called');
      } finally {
        fused.dispose();
        composed.dispose();
      }
    });
  }
});
