// The block owns the capacity of each routing stage (RouterSpec.capacity): a `capacity` key in a
// router's config, the form configs, presets and checkpoints were written in before, is lifted
// into it, so that they keep loading and build the same blocks.
import assert from 'node:assert/strict';
import { ConfigError, tf, type Tensor3D } from '@moderoute/core';
import { expectClose, forEachBackend, randomTensor } from '@moderoute/testing';
import { resolveBlockSpec, type BlockSpec } from '../src/index.js';
import { makeBlock } from './helpers.js';

describe('resolveBlockSpec', () => {
  describe('when a router config carries a capacity (the earlier form)', () => {
    it('should lift it into the router spec, out of the router config', () => {
      const spec = resolveBlockSpec(
        {
          kind: 'mode-staged',
          depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25, gate: 'sigmoid' } },
          expertRouter: { name: 'token-choice', config: { capacity: 'deepspeed', topK: 1 } },
        },
        16,
      );
      assert.deepEqual(spec.depthRouter, {
        name: 'mixture-of-depths',
        config: { gate: 'sigmoid' },
        capacity: 0.25,
      });
      assert.deepEqual(spec.expertRouter, {
        name: 'token-choice',
        config: { topK: 1 },
        capacity: 'deepspeed',
      });
    });

    it('should refuse a capacity given twice, naming the config key', () => {
      assert.throws(
        () =>
          resolveBlockSpec(
            {
              kind: 'mod',
              depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 }, capacity: 0.5 },
            },
            16,
            'blocks[1]',
          ),
        (e: unknown) =>
          e instanceof ConfigError && e.parameter === 'blocks[1].depthRouter.config.capacity',
      );
    });
  });
});

describe('a block built from either form', () => {
  forEachBackend(() => {
    const pairs: [string, BlockSpec, BlockSpec][] = [
      [
        'mod',
        { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.5 } } },
        { kind: 'mod', depthRouter: { name: 'mixture-of-depths', capacity: 0.5 } },
      ],
      [
        'moe',
        {
          kind: 'moe',
          expertRouter: { name: 'token-choice', config: { capacity: { evalFactor: 0.5 } } },
        },
        { kind: 'moe', expertRouter: { name: 'token-choice', capacity: { evalFactor: 0.5 } } },
      ],
    ];
    for (const [name, legacy, current] of pairs) {
      it(`should compute the same outputs and FLOPs: ${name}`, () => {
        const a = makeBlock(legacy);
        const b = makeBlock(current);
        try {
          assert.deepEqual(a.block.flops(16), b.block.flops(16));
          tf.tidy(() => {
            const x = randomTensor([2, 16, 8], 3) as Tensor3D;
            expectClose(
              a.block.forward(x, { training: false }).output,
              b.block.forward(x, { training: false }).output,
              { rtol: 0, atol: 0 },
            );
          });
        } finally {
          a.dispose();
          b.dispose();
        }
      });
    }
  });
});
