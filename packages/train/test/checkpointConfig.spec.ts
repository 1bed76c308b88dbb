// config.json's "resolved" section (checkpointConfig): the model with every layer, router config,
// capacity and default written out, for readers outside moderoute (docs/model-format.md). It must
// be a model config that builds the same model (the same logits from the same weights), hold no
// gap a default would fill, and be what the Trainer writes; checkpoints without it still load.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import {
  MODEL_IDS,
  createContainer,
  resolvedModelConfig,
  type LanguageModel,
  type LanguageModelConfig,
} from '@moderoute/model';
import {
  CheckpointStore,
  Trainer,
  assignWeights,
  checkpointConfig,
  loadCheckpoint,
  restoreModel,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

const OLD_CHECKPOINT = fileURLToPath(
  new URL('./fixtures/main-956705e/ckpt-00000002/', import.meta.url),
);

/** Defaults, blockDefaults, overrides (one changing the kind), capacities in every form. */
const CONFIG: LanguageModelConfig = {
  width: 8,
  numHeads: 2,
  numLayers: 5,
  contextLength: 12,
  mlpRatio: 1.5,
  blockDefaults: { moe: { numExperts: 3 }, 'mode-integrated': { numNoopExperts: 2 } },
  overrides: { '4': { kind: 'mode-staged', numExperts: 2 } },
  schedule: {
    layers: [
      'mod',
      {
        kind: 'moe',
        expertRouter: {
          name: 'token-choice',
          config: { topK: 2, placement: 'token-major', capacity: 'deepspeed' },
        },
      },
      {
        kind: 'mode-integrated',
        expertRouter: { name: 'expert-choice', capacity: { evalFactor: 1.5 } },
      },
      {
        kind: 'mod',
        depthRouter: { name: 'mixture-of-depths', config: { causalMode: 'predictor' } },
      },
      'moe',
    ],
  },
};

const IDS = [
  [3, 17, 9, 22, 9, 1, 38, 5],
  [30, 7, 7, 2, 19, 33, 4, 4],
];

function logits(model: LanguageModel, mode: 'top-k' | 'threshold' = 'top-k'): number[] {
  return tf.tidy(() =>
    Array.from(
      model.forward(tf.tensor2d(IDS, undefined, 'int32') as Tensor2D, { mode }).logits.dataSync(),
    ),
  );
}

describe('checkpointConfig: config.json with the resolved model', () => {
  const tmp = useTempDir();
  const factory = () => createContainer().get(MODEL_IDS.ModelFactory);
  before(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('should build, from "resolved" alone, the same model: the same logits from the same weights', async () => {
    const model = factory().create(CONFIG);
    try {
      for (const v of model.namedParameters().values())
        v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', v.size))));
      const dir = await new CheckpointStore(tmp()).save({
        weights: model.namedParameters(),
        optimizer: new Map(),
        config: checkpointConfig(model, {}),
        state: { step: 0 },
      });
      const saved = loadCheckpoint(dir);
      const { resolved } = saved.config as unknown as { resolved: LanguageModelConfig };
      assert.deepEqual(Object.keys(resolved.schedule!), ['layers']);
      assert.equal(resolved.blockDefaults, undefined);
      assert.equal(resolved.overrides, undefined);
      const rebuilt = factory().create(resolved);
      try {
        assignWeights(rebuilt.namedParameters(), saved.weights);
        assert.deepEqual(logits(rebuilt), logits(model));
        assert.deepEqual(logits(rebuilt, 'threshold'), logits(model, 'threshold'));
        // Resolving again changes nothing: no default is left to fill.
        assert.deepEqual(resolvedModelConfig(rebuilt), resolved);
      } finally {
        rebuilt.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('should write every layer, router option and capacity field out', () => {
    const model = factory().create(CONFIG);
    try {
      const layers = (
        resolvedModelConfig(model).schedule as unknown as { layers: Record<string, unknown>[] }
      ).layers;
      assert.deepEqual(
        layers.map((l) => l['kind']),
        ['mod', 'moe', 'mode-integrated', 'mod', 'mode-staged'],
      );
      const moe = layers[1] as {
        numExperts: number;
        expertHidden: number;
        expertRouter: { config: Record<string, unknown>; capacity: Record<string, unknown> };
      };
      assert.equal(moe.numExperts, 3);
      assert.equal(moe.expertHidden, 12);
      assert.equal(moe.expertRouter.config['priority'], 'position');
      assert.equal(moe.expertRouter.config['renormalize'], 'none');
      assert.equal(moe.expertRouter.config['capacity'], undefined);
      assert.deepEqual(moe.expertRouter.capacity, {
        preset: 'deepspeed',
        trainFactor: 1,
        evalFactor: 1,
        rounding: 'ceil',
        minimum: 4,
        scaleByK: true,
        kAfterRounding: false,
        ceilTokensPerExpert: false,
        kInShare: false,
        multipleOf: 1,
        group: 'sequence',
        maxGroupSize: null,
        strictGroupSize: false,
        dropless: false,
      });
      const integrated = layers[2] as { numNoopExperts: number; expertRouter: { config: object } };
      assert.equal(integrated.numNoopExperts, 2);
      assert.equal((integrated.expertRouter.config as { numExperts: number }).numExperts, 6);
      const mod = layers[0] as { depthRouter: { config: object; capacity: object } };
      assert.equal((mod.depthRouter.config as { causalMode: string }).causalMode, 'threshold');
      assert.deepEqual(
        (mod.depthRouter.capacity as { evalFactor: number; rounding: string }).rounding,
        'floor',
      );
    } finally {
      model.dispose();
    }
  });

  it('should be written by the Trainer beside the model config as given', async () => {
    const out = join(tmp(), 'run');
    await new Trainer({
      model: { ...CONFIG, contextLength: 8 },
      batchSize: 2,
      seqLen: 8,
      steps: 1,
      evalWindows: 1,
    }).run({ outDir: out });
    const { model, checkpoint } = restoreModel(out, factory());
    try {
      const config = checkpoint.config as { model: unknown; resolved: unknown; train: unknown };
      assert.deepEqual(config.model, model.getConfig());
      assert.deepEqual(config.resolved, resolvedModelConfig(model));
      assert.ok(config.train !== undefined);
    } finally {
      model.dispose();
    }
  });

  it('should leave checkpoints without it loading (fixtures/main-956705e), and resolve their model', () => {
    const saved = JSON.parse(readFileSync(join(OLD_CHECKPOINT, 'config.json'), 'utf8')) as object;
    assert.equal('resolved' in saved, false);
    const { model, checkpoint } = restoreModel(OLD_CHECKPOINT, factory());
    try {
      const rebuilt = factory().create(resolvedModelConfig(model));
      try {
        assignWeights(rebuilt.namedParameters(), checkpoint.weights);
        assert.deepEqual(logits(rebuilt), logits(model));
      } finally {
        rebuilt.dispose();
      }
    } finally {
      model.dispose();
    }
  });
});
