// Named model variants for `moderoute train --variant`: the block kinds of the MoD paper's
// comparison on one base size.
import type { LanguageModelConfig, Schedule } from '@moderoute/model';

export const VARIANT_NAMES = ['dense', 'mod', 'mod-every', 'moe', 'moe-ec', 'staged-mode', 'integrated-mode'] as const;
export type VariantName = (typeof VARIANT_NAMES)[number];

const MOD = { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125 } } } as const;
const TOKEN_CHOICE = { name: 'token-choice', config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } } } as const;

/** The schedule of a variant: MoD at 12.5% every other block (the paper's best), etc. */
export function variantSchedule(name: VariantName): Schedule {
  switch (name) {
    case 'dense':
      return { pattern: ['dense'] };
    case 'mod':
      return { pattern: ['dense', MOD] };
    case 'mod-every':
      return { pattern: [MOD] };
    case 'moe':
      return { pattern: ['dense', { kind: 'moe', numExperts: 4, expertRouter: TOKEN_CHOICE }] };
    case 'moe-ec':
      return { pattern: ['dense', { kind: 'moe', numExperts: 4, expertRouter: { name: 'expert-choice', config: { capacity: { trainFactor: 1, evalFactor: 1 } } } }] };
    case 'staged-mode':
      return { pattern: ['dense', { kind: 'mode-staged', numExperts: 4, depthRouter: MOD.depthRouter, expertRouter: TOKEN_CHOICE }] };
    case 'integrated-mode':
      return { pattern: ['dense', { kind: 'mode-integrated', numExperts: 4, numNoopExperts: 4, expertRouter: TOKEN_CHOICE }] };
  }
}

/** The bench config's model (vocabulary 256, width 128, 4 layers, 4 heads, context 128) as a variant. */
export function variantModel(name: VariantName, base: LanguageModelConfig = {}): LanguageModelConfig {
  return { width: 128, numLayers: 4, numHeads: 4, contextLength: 128, ...base, schedule: variantSchedule(name) };
}
