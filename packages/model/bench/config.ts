// The bench config (the issues'): vocabulary 256, width 128, 4 layers, 4 heads, sequence 128,
// batch 8, MLP 4x. Routed variants put their block every other layer (["dense", X]).
import type { LanguageModelConfig } from '@moderoute/model';

export const BENCH = { vocabSize: 256, width: 128, numLayers: 4, numHeads: 4, contextLength: 128, mlpRatio: 4 } as const;
export const BATCH = 8;
export const SEQ = 128;

/** The variants, by their JSON names. */
export const VARIANTS: Record<string, LanguageModelConfig> = {
  dense: { ...BENCH },
  mod: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125 } } }] } },
  moe: { ...BENCH, schedule: { pattern: ['dense', { kind: 'moe', numExperts: 4, expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } } } }] } },
  staged_mode: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mode-staged', numExperts: 4, depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125 } } }] } },
  integrated_mode: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mode-integrated', numExperts: 4, numNoopExperts: 4 }] } },
};

