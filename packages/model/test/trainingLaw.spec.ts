// The training reproducibility law (@moderoute/testing trainingLaws) applied to every built-in
// block kind with random routers: expert-choice jitter, token-choice noisy gating with jitter,
// and the mixture-of-depths threshold cut and DeepSeek-V3's selection bias as router state that a
// resume must restore.
import { initBackend } from '@moderoute/core';
import { trainingLaws } from '@moderoute/testing';
import {
  MODEL_IDS,
  createContainer,
  foldRouterStatistics,
  routerStatisticsOf,
  type LanguageModelConfig,
  type ScheduleEntry,
} from '../src/index.js';

const NOISY = { name: 'token-choice', config: { noisyGating: true, jitter: 0.2 } };
const JITTERY = { name: 'expert-choice', config: { jitter: 0.2 } };
const DEPTH = { name: 'mixture-of-depths', config: { causalMode: 'threshold', capacity: 0.5 } };

// Two tiny models cover every routed block kind, one block each.
const KINDS: Record<string, readonly ScheduleEntry[]> = {
  'mod, moe (noisy token-choice), moe (jittery expert-choice)': [
    { kind: 'mod', depthRouter: DEPTH },
    { kind: 'moe', numExperts: 4, expertHidden: 8, expertRouter: NOISY },
    { kind: 'moe', numExperts: 4, expertHidden: 8, expertRouter: JITTERY },
  ],
  'moe (DeepSeek-V3 token-choice: selection bias folded each step)': [
    {
      kind: 'moe',
      numExperts: 4,
      expertHidden: 8,
      expertRouter: {
        name: 'token-choice',
        config: {
          preset: 'deepseek-v3',
          topK: 2,
          expertGroups: 2,
          topKGroups: 1,
          biasUpdateRate: 0.05,
          jitter: 0.5,
        },
      },
    },
  ],
  'mode-staged and mode-integrated': [
    {
      kind: 'mode-staged',
      numExperts: 2,
      expertHidden: 8,
      depthRouter: DEPTH,
      expertRouter: NOISY,
    },
    { kind: 'mode-integrated', numExperts: 2, expertHidden: 8, expertRouter: JITTERY },
  ],
};

describe('training reproducibility law (built-in blocks)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });
  const factory = createContainer().get(MODEL_IDS.ModelFactory);
  for (const [name, layers] of Object.entries(KINDS)) {
    describe(name, () => {
      const config: LanguageModelConfig = {
        vocabSize: 16,
        width: 8,
        numHeads: 2,
        numLayers: layers.length,
        contextLength: 6,
        seed: 5,
        schedule: { layers },
      };
      trainingLaws({
        build: () => factory.create(config),
        statisticsOf: (model, result) => routerStatisticsOf(model, result.routing),
        fold: foldRouterStatistics,
        vocabSize: 16,
        seqLen: 6,
        random: true,
        numRuns: 1,
      });
    });
  }
});
