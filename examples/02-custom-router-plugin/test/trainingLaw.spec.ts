// The training reproducibility law (@moderoute/testing trainingLaws) holds for a model built
// with the plugin router, through its ContainerModule alone. The plugin draws no noise, so a
// noisy token-choice block beside it keeps the law from being vacuous (random: true).
import { initBackend } from '@moderoute/core';
import {
  MODEL_IDS,
  createContainer,
  foldRouterStatistics,
  routerStatisticsOf,
  type LanguageModelConfig,
} from '@moderoute/model';
import { trainingLaws } from '@moderoute/testing';
import { projectionHashModule } from '../src/index.js';

const CONFIG: LanguageModelConfig = {
  vocabSize: 16,
  width: 8,
  numHeads: 2,
  numLayers: 2,
  contextLength: 6,
  seed: 3,
  schedule: {
    layers: [
      { kind: 'moe', numExperts: 4, expertHidden: 8, expertRouter: { name: 'projection-hash' } },
      {
        kind: 'moe',
        numExperts: 2,
        expertHidden: 8,
        expertRouter: { name: 'token-choice', config: { noisyGating: true, jitter: 0.2 } },
      },
    ],
  },
};

describe('training reproducibility law (projection-hash plugin)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });
  const factory = createContainer(projectionHashModule).get(MODEL_IDS.ModelFactory);
  trainingLaws({
    build: () => factory.create(CONFIG),
    statisticsOf: (model, result) => routerStatisticsOf(model, result.routing),
    fold: foldRouterStatistics,
    vocabSize: 16,
    seqLen: 6,
    random: true,
    numRuns: 1,
  });
});
