// Framework presets of the token-choice router: every routing option of a published system at
// once (`preset: 'deepspeed'` in the router's config; options given beside it override the
// preset's). docs/routing.md "Framework presets" has the table with each value's source, and
// test/routing/tokenChoicePresets.spec.ts the goldens. Model sizes (dModel, numExperts, topK where
// the system lets it vary, expert groups) stay the caller's.
import { requireInt, requireOneOf } from '@moderoute/core';
import type { CapacityPresetName, CapacitySpec } from './CapacityPolicy.js';
import type { TokenChoiceRouterConfig } from './tokenChoiceConfig.js';

/** Every token-choice framework preset (docs/routing.md has the table of what each sets). */
export const TOKEN_CHOICE_PRESETS = [
  'switch',
  'flaxformer',
  'gshard',
  'vmoe',
  'deepspeed',
  'tutel',
  'megablocks',
  'megatron',
  'maxtext',
  'deepseek-v3',
] as const;
/** A token-choice preset named after the system whose routing it reproduces. */
export type TokenChoicePresetName = (typeof TOKEN_CHOICE_PRESETS)[number];

type PresetOptions = Omit<TokenChoiceRouterConfig, 'dModel' | 'numExperts' | 'preset' | 'seed'>;

const batch = (preset: CapacityPresetName): CapacitySpec => ({ preset, group: 'batch' });

/**
 * The options a preset sets, for experts per token `topK` (the presets whose load-balancing loss
 * counts tokens rather than (token, choice) pairs scale its coefficient by K: flaxformer, MaxText;
 * DeepSpeed picks its gate by K).
 */
function presetOptions(name: TokenChoicePresetName, topK: number): PresetOptions {
  const softmaxRouter = { scoreFunction: 'softmax', zLossCoefficient: 0, jitter: 0 } as const;
  switch (name) {
    case 'switch':
      return {
        ...softmaxRouter,
        topK: 1,
        placement: 'rank-major',
        priority: 'position',
        renormalize: 'none',
        jitter: 1e-2,
        loadBalancingCoefficient: 1e-2,
        capacity: 'switch',
      };
    case 'flaxformer':
      return {
        ...softmaxRouter,
        placement: 'rank-major',
        priority: 'position',
        renormalize: 'none',
        loadBalancingCoefficient: 1e-2 * topK,
        zLossCoefficient: 1e-3,
        capacity: { preset: 'switch', group: 'max-size', maxGroupSize: 4096 },
      };
    case 'gshard':
      return {
        ...softmaxRouter,
        topK: 2,
        placement: 'rank-major',
        priority: 'position',
        renormalize: 'before-drops',
        secondExpertPolicy: 'random',
        loadBalancingCoefficient: 1e-2,
        loadBalancingChoices: 'first',
        capacity: { preset: 'megablocks', group: 'batch' },
      };
    case 'vmoe':
      return {
        ...softmaxRouter,
        // vmoe/configs/vmoe_paper/common.py: batch_priority False, capacity_factor 1.05.
        placement: 'rank-major',
        priority: 'position',
        renormalize: 'none',
        noiseStd: 1,
        loadBalancingCoefficient: 0,
        importanceGates: 'all',
        importanceCoefficient: 5e-3,
        loadCoefficient: 5e-3,
        capacity: {
          trainFactor: 1.05,
          evalFactor: 1.05,
          rounding: 'ceil',
          minimum: 0,
          scaleByK: true,
          multipleOf: 4,
          group: 'batch',
        },
      };
    case 'deepspeed':
      // sharded_moe.py picks the gate by K: top1gating (weights p, not normalized; random token
      // selection, use_rts, on by default), top2gating (rank-major, normalized over the kept
      // pair, l_aux over first choices, second expert sampled with Gumbel noise by default) and
      // topkgating (token-major, drop_policy 'probs',
      // normalized over the kept choices, l_aux over all K).
      return {
        ...softmaxRouter,
        placement: topK > 2 ? 'token-major' : 'rank-major',
        priority: topK > 2 ? 'probs' : topK === 1 ? 'random' : 'position',
        renormalize: topK === 1 ? 'none' : 'after-drops',
        loadBalancingCoefficient: 1e-2,
        loadBalancingChoices: topK === 2 ? 'first' : 'all',
        secondExpertPolicy: topK === 2 ? 'sampled' : 'all',
        capacity: batch('deepspeed'),
      };
    case 'tutel':
      return {
        ...softmaxRouter,
        placement: 'rank-major',
        priority: 'position',
        renormalize: 'before-drops',
        loadBalancingCoefficient: 1e-2,
        loadBalancingChoices: 'first',
        capacity: batch('tutel'),
      };
    case 'megablocks':
      return {
        ...softmaxRouter,
        placement: 'token-major',
        priority: 'position',
        renormalize: 'none',
        loadBalancingCoefficient: 0.1,
        capacity: batch('megablocks'),
      };
    case 'megatron':
      return {
        ...softmaxRouter,
        placement: 'token-major',
        priority: 'probs',
        probsRanking: 'weights',
        renormalize: 'before-drops',
        // Megatron-Core's default moe_aux_loss_coeff is 0 (the loss is off unless asked for).
        loadBalancingCoefficient: 0,
        capacity: batch('megatron'),
      };
    case 'maxtext':
      return {
        ...softmaxRouter,
        placement: 'token-major',
        priority: 'position',
        renormalize: 'before-drops',
        loadBalancingCoefficient: 1e-2 * topK,
        capacity: 'maxtext',
      };
    case 'deepseek-v3':
      return {
        scoreFunction: 'sigmoid',
        groupScore: 'top2-sum',
        placement: 'token-major',
        priority: 'position',
        renormalize: 'before-drops',
        routedScale: 2.5,
        jitter: 0,
        loadBalancingCoefficient: 0,
        zLossCoefficient: 0,
        sequenceBalanceCoefficient: 1e-4,
        biasUpdateRate: 1e-3,
        capacity: { dropless: true },
      };
  }
}

/**
 * `config` with its preset's options filled in where `config` leaves them undefined (no preset:
 * `config` itself). A ConfigError names `preset` when the name is unknown.
 */
export function withPreset(config: TokenChoiceRouterConfig): TokenChoiceRouterConfig {
  if (config.preset === undefined || config.preset === null) return config;
  const name = requireOneOf('preset', config.preset, TOKEN_CHOICE_PRESETS);
  const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  const preset = presetOptions(name, 1);
  const topK = requireInt('topK', config.topK ?? preset.topK ?? 1, { min: 1 });
  return { ...presetOptions(name, topK), ...given } as TokenChoiceRouterConfig;
}
