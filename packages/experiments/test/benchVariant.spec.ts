// The bench's timed steps train as the Trainer's do: each step keys the routing randomness by
// its step (a fresh rngSeed per step, not the routers' own fixed seed) and folds the routers'
// statistics (the MoD cuts) after the update.
import assert from 'node:assert/strict';
import {
  createContainer,
  MODEL_IDS,
  type LanguageModel,
  type LanguageModelConfig,
  type ModelFactory,
} from '@moderoute/model';
import type { RouterStatistics } from '@moderoute/routing';
import { expectNoLeaksAsync, useBackend } from '@moderoute/testing';
import { benchVariant } from '../src/bench/variant.js';

/** The bench's vocabulary and sequence at a tiny width: a dense block, then a MoD block. */
const TINY_MOD: LanguageModelConfig = {
  vocabSize: 256,
  width: 8,
  numLayers: 2,
  numHeads: 1,
  contextLength: 128,
  mlpRatio: 1,
  schedule: {
    pattern: [
      'dense',
      { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125 } } },
    ],
  },
};

interface Seen {
  /** rngSeed of each training routing call, in order. */
  readonly seeds: (number | undefined)[];
  /** What each foldStatistics call got, in order. */
  readonly folds: (readonly RouterStatistics[])[];
}

/** A model factory whose models record their routers' training calls and folds into `seen`. */
function recordingFactory(seen: Seen): ModelFactory {
  const models = createContainer().get(MODEL_IDS.ModelFactory);
  return {
    create: (config: LanguageModelConfig): LanguageModel => {
      const model = models.create(config);
      for (const router of model.blocks.flatMap((b) => [...b.routers()])) {
        const route = router.route.bind(router);
        router.route = (x, context) => {
          if (context.training) seen.seeds.push(context.rngSeed);
          return route(x, context);
        };
        const fold = router.foldStatistics?.bind(router);
        if (fold !== undefined)
          router.foldStatistics = (statistics) => {
            seen.folds.push(statistics);
            fold(statistics);
          };
      }
      return model;
    },
  } as ModelFactory;
}

describe('benchVariant', () => {
  useBackend('cpu');

  describe('when training on one thread', () => {
    it("should key each step's routing randomness by its step and fold the MoD statistics", async () => {
      const seen: Seen = { seeds: [], folds: [] };
      await expectNoLeaksAsync(() => benchVariant(TINY_MOD, 1, 'adamw', recordingFactory(seen)));
      // Two warm-up steps and one timed step, one MoD routing call each.
      assert.equal(seen.seeds.length, 3);
      assert.ok(
        seen.seeds.every((s) => s !== undefined),
        `rngSeed per step: ${seen.seeds.join(', ')}`,
      );
      assert.equal(new Set(seen.seeds).size, 3, `rngSeed per step: ${seen.seeds.join(', ')}`);
      assert.equal(seen.folds.length, 3);
      for (const statistics of seen.folds) {
        assert.equal(statistics.length, 1);
        assert.ok(statistics[0]!['thresholdCut'], JSON.stringify(statistics));
      }
    });
  });
});
