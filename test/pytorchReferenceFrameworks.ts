// The framework presets' routing in the PyTorch reference test: DeepSeek-V3 (sigmoid scores,
// expert groups, a selection bias the 3 training steps move away from zero), MaxText (capacity
// with K in the share) and flaxformer (token groups of at most maxGroupSize). Kept beside
// pytorchReferenceModels.ts, which lists it in REFERENCE_MODELS.
import type { LanguageModelConfig } from '@moderoute/model';

/** Framework presets whose options change the forward pass outside training. */
export const frameworkPresetsModel: LanguageModelConfig = {
  width: 16,
  numHeads: 2,
  numLayers: 3,
  contextLength: 16,
  seed: 11,
  schedule: {
    layers: [
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
          },
          capacity: { preset: 'switch', evalFactor: 1.5 },
        },
      },
      {
        kind: 'moe',
        numExperts: 4,
        expertHidden: 8,
        expertRouter: { name: 'token-choice', config: { preset: 'maxtext', topK: 2 } },
      },
      {
        kind: 'moe',
        numExperts: 3,
        expertHidden: 8,
        expertRouter: {
          name: 'token-choice',
          config: { preset: 'flaxformer' },
          capacity: { preset: 'switch', group: 'max-size', maxGroupSize: 8 },
        },
      },
    ],
  },
};
