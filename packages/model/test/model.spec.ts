import assert from 'node:assert/strict';
import { ConfigError, ShapeError, initBackend, tf, type Tensor2D } from '@moderoute/core';
import { RegistryError } from '@moderoute/core';
import { expectClose, expectNoLeaks } from '@moderoute/testing';
import {
  LanguageModel,
  MODEL_IDS,
  createContainer,
  resolveConfig,
  type LanguageModelConfig,
} from '../src/index.js';

const SMALL: LanguageModelConfig = {
  width: 16,
  numHeads: 2,
  numLayers: 2,
  contextLength: 12,
  vocabSize: 32,
  schedule: { pattern: ['dense', 'mod'] },
};
const factory = () => createContainer().get(MODEL_IDS.ModelFactory);

describe('LanguageModel', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('.namedParameters', () => {
    it('should use stable names, blocks by index, routers under their block', () => {
      const model = factory().create(SMALL);
      try {
        const names = [...model.namedParameters().keys()];
        assert.deepEqual(names.slice(0, 2), ['embed.tokens', 'embed.positions']);
        assert.ok(names.includes('blocks.0.attn.wQkv'));
        assert.ok(names.includes('blocks.1.mlp.fc2.w'));
        assert.ok(
          names.includes('lnF.gamma') && names.includes('head.w') && names.includes('head.b'),
        );
        assert.ok(
          names.some((n) => n.startsWith('blocks.1.routers.0.')),
          names.join(', '),
        );
        // Parameters are the trainable variables; the MoD threshold rule's state is saved, not trained.
        const trainable = model.trainableParameters();
        assert.equal(
          model.parameterCount(),
          [...trainable.values()].reduce((a, v) => a + v.size, 0),
        );
        const buffers = names.filter((n) => !trainable.has(n));
        for (const n of buffers) assert.match(n, /^blocks\.\d+\.routers\.0\.threshold$/);
        assert.deepEqual(buffers, ['blocks.1.routers.0.threshold']);
      } finally {
        model.dispose();
      }
    });

    it('should start from the same values for the same seed, and different ones otherwise', () => {
      const [a, b, c] = [
        factory().create(SMALL),
        factory().create(SMALL),
        factory().create({ ...SMALL, seed: 1 }),
      ];
      try {
        for (const [name, v] of a.namedParameters())
          expectClose(b.namedParameters().get(name)!, v, { rtol: 0, atol: 0 }, name);
        assert.notDeepEqual(
          a.namedParameters().get('blocks.0.attn.wQkv')!.dataSync(),
          c.namedParameters().get('blocks.0.attn.wQkv')!.dataSync(),
        );
      } finally {
        [a, b, c].forEach((m) => m.dispose());
      }
    });
  });

  describe('.loss', () => {
    it('should start near ln(V), train every parameter, and not leak', () => {
      const model = factory().create(SMALL);
      const ids = tf.randomUniform([2, 12], 0, 32, 'int32', 3) as Tensor2D;
      try {
        const lm = tf.tidy(() => model.loss(ids, ids).lmLoss.dataSync()[0] as number);
        assert.ok(Math.abs(lm - Math.log(32)) < 0.2, String(lm));
        expectNoLeaks(() => {
          const { value, grads } = tf.variableGrads(
            () => model.loss(ids, ids, { training: true }).loss,
            model.trainableVariables(),
          );
          for (const [name, g] of Object.entries(grads))
            assert.ok(
              (tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) as number) > 0,
              `zero gradient: ${name}`,
            );
          assert.equal(Object.keys(grads).length, model.trainableVariables().length);
          return [value, ...Object.values(grads)];
        }, 'loss + gradients');
      } finally {
        model.dispose();
        ids.dispose();
      }
    });

    it('should not score padded tokens', () => {
      const model = factory().create({ ...SMALL, schedule: { pattern: ['dense'] } });
      try {
        tf.tidy(() => {
          const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
          const other = tf.tensor2d([[1, 2, 9, 9]], [1, 4], 'int32');
          const mask = tf.tensor2d([[1, 1, 0, 0]]);
          const a = model.loss(ids, ids, { mask }).lmLoss.dataSync()[0];
          const b = model.loss(ids, other, { mask }).lmLoss.dataSync()[0];
          assert.equal(a, b);
        });
      } finally {
        model.dispose();
      }
    });

    it('should weigh auxiliary losses by auxLossWeights', () => {
      const depthRouter = { name: 'mixture-of-depths', config: { causalMode: 'threshold' } };
      const base = factory().create({ ...SMALL, blockDefaults: { mod: { depthRouter } } });
      const doubled = factory().create({
        ...SMALL,
        blockDefaults: { mod: { depthRouter } },
        auxLossWeights: { causalBce: 2 },
      });
      try {
        tf.tidy(() => {
          const ids = tf.randomUniform([2, 12], 0, 32, 'int32', 4) as Tensor2D;
          const a = base.loss(ids, ids, { training: true });
          const b = doubled.loss(ids, ids, { training: true });
          assert.ok(a.auxLosses['blocks.1.causalBce'], Object.keys(a.auxLosses).join(', '));
          expectClose(b.auxLoss, tf.mul(a.auxLoss, 2), { rtol: 1e-5, atol: 1e-7 });
        });
      } finally {
        base.dispose();
        doubled.dispose();
      }
    });
  });

  describe('when the input or config is bad', () => {
    it('should name an unknown block kind in the schedule', () => {
      assert.throws(
        () => resolveConfig({ schedule: { pattern: ['dense', 'mode'] as never } }),
        (e: unknown) =>
          e instanceof ConfigError &&
          /blocks\[1\]\.kind \("mode"\) must be one of "dense", "mod"/.test(e.message),
      );
    });

    it('should refuse heads that do not divide the width', () => {
      assert.throws(
        () => resolveConfig({ width: 10, numHeads: 4 }),
        /numHeads \(4\) must be a divisor of width \(10\)/,
      );
    });

    it('should refuse a MoD capacity out of range, naming it', () => {
      assert.throws(
        () =>
          factory().create({
            ...SMALL,
            blockDefaults: {
              mod: { depthRouter: { name: 'mixture-of-depths', config: { capacity: 1.5 } } },
            },
          }),
        (e: unknown) => e instanceof ConfigError && /capacity \(1\.5\)/.test(e.message),
      );
    });

    it('should list the registered routers for an unknown router name', () => {
      assert.throws(
        () =>
          factory().create({
            ...SMALL,
            blockDefaults: { mod: { depthRouter: 'mixture-of-depth' } },
          }),
        (e: unknown) => e instanceof RegistryError && /mixture-of-depths/.test(e.message),
      );
    });

    it('should refuse a sequence longer than the position table', () => {
      const model = factory().create(SMALL);
      try {
        const ids = tf.zeros([1, 13], 'int32') as Tensor2D;
        assert.throws(
          () => model.forward(ids),
          (e: unknown) => e instanceof ShapeError && /contextLength \(12\)/.test(e.message),
        );
        ids.dispose();
      } finally {
        model.dispose();
      }
    });

    it(
      'should refuse a model over MAX_MODEL_PARAMETERS before ' +
        'allocating its large tensor, and free what it allocated',
      () => {
        // --width 100000 used to fail inside tfjs ("RangeError: Invalid typed array length").
        expectNoLeaks(() =>
          assert.throws(
            () =>
              factory().create({
                width: 16384,
                numHeads: 1,
                numLayers: 1,
                contextLength: 4,
                vocabSize: 2,
                schedule: { pattern: ['mod'] },
              }),
            (e: unknown) =>
              e instanceof ConfigError &&
              new RegExp(
                /^model size \(\d+\) must be at most 268435456 parameters \(1\.0 GiB of float32 weights, /
                  .source +
                  /4\.0 GiB with gradients and AdamW moments\); parameter blocks\.0\.attn\.wQkv \[16384, 49152\]/
                    .source,
              ).test(e.message),
          ),
        );
      },
    );

    it('should refuse a config that is not an object', () => {
      for (const config of [[], 'dense', 3])
        assert.throws(
          () => resolveConfig(config as never),
          (e: unknown) =>
            e instanceof ConfigError && /^config \(.*\) must be an object$/.test(e.message),
        );
    });

    it('should refuse a schedule list of the wrong length and unknown fields', () => {
      assert.throws(
        () => resolveConfig({ numLayers: 3, schedule: { layers: ['dense'] } }),
        /schedule\.layers .* exactly numLayers \(3\)/,
      );
      assert.throws(() => resolveConfig({ widht: 3 } as never), /widht \(3\) must be absent/);
    });
  });

  describe('.getConfig', () => {
    it('should rebuild an equal model', () => {
      const model = factory().create(SMALL);
      const copy = factory().create(model.getConfig());
      try {
        assert.deepEqual(copy.getConfig(), model.getConfig());
        assert.ok(copy instanceof LanguageModel);
        tf.tidy(() => {
          const ids = tf.randomUniform([1, 12], 0, 32, 'int32', 5) as Tensor2D;
          expectClose(copy.forward(ids).logits, model.forward(ids).logits, { rtol: 0, atol: 0 });
        });
      } finally {
        model.dispose();
        copy.dispose();
      }
    });
  });
});
