// The token-choice router's configuration: the JSON config with a default per field, its
// resolved (validated, defaults filled) form, and the one function that validates it, so the
// router class holds only routing. The rules the options select live in tokenChoiceRules.ts.
import { ConfigError, requireInt, requireNumber, requireOneOf } from '@moderoute/core';
import { CapacityPolicy, type CapacityPolicyConfig, type CapacitySpec } from './CapacityPolicy.js';
import { checkKeys, requireBoolean } from './common.js';
import type { GivenScores } from './expertAssignments.js';
import type { RouteContext } from './Router.js';
import {
  GROUP_SCORES,
  NORMALIZATIONS,
  OVERFLOW_PRIORITIES,
  PLACEMENTS,
  SCORE_FUNCTIONS,
  checkExpertGroups,
  type ExpertGroupRule,
  type GroupScore,
  type Normalization,
  type OverflowPriority,
  type Placement,
  type ScoreFunction,
} from './tokenChoiceRules.js';
import {
  resolveOptionNames,
  type ImportanceGates,
  type LoadBalancingChoices,
  type ProbsRanking,
  type SecondExpertPolicy,
} from './tokenChoiceOptionNames.js';
import { checkOptionCombinations } from './tokenChoiceCombinations.js';
import { withPreset, type TokenChoicePresetName } from './tokenChoicePresets.js';

/** Config of the token-choice router; every field but `dModel` has a default. */
export interface TokenChoiceRouterConfig {
  /**
   * A framework preset (tokenChoicePresets.ts: 'switch', 'flaxformer', 'gshard', 'vmoe',
   * 'deepspeed', 'tutel', 'megablocks', 'megatron', 'maxtext', 'deepseek-v3') that sets every
   * routing option of that system; the options given beside it override it (default none).
   */
  readonly preset?: TokenChoicePresetName | null;
  /** Model width D (required). */
  readonly dModel: number;
  /** Number of experts E (default 8). */
  readonly numExperts?: number;
  /** Experts per token K, in [1, E] (default 1, Switch). */
  readonly topK?: number;
  /**
   * The router's defaultCapacity, used when the block's spec gives none: a preset name, config or
   * policy (default the 'switch' preset, per sequence).
   */
  readonly capacity?: CapacitySpec;
  /** Router scores from logits: 'softmax' (default) or 'sigmoid' (DeepSeek-V3). */
  readonly scoreFunction?: ScoreFunction;
  /**
   * H: split the experts into H groups of E / H and let each token use only its best topKGroups
   * of them (default 1: off).
   */
  readonly expertGroups?: number;
  /** Hk: groups a token may use with expertGroups > 1 (default expertGroups). */
  readonly topKGroups?: number;
  /** Score of an expert group: 'max' (DeepSeek-V2, default) or 'top2-sum' (DeepSeek-V3). */
  readonly groupScore?: GroupScore;
  /** Order in which choices claim capacity: 'rank-major' (default, GShard) or 'token-major' (DeepSpeed, MaxText). */
  readonly placement?: Placement;
  /** Who keeps a full expert's slots: 'position' (default), 'score' (batch-prioritized) or 'probs' (DeepSpeed). */
  readonly priority?: OverflowPriority;
  /**
   * Divide each token's weights by their sum: false or 'none' (default), true or 'before-drops'
   * (over its K choices, GShard top-2), 'after-drops' (over the choices kept, DeepSpeed topkgating).
   */
  readonly renormalize?: boolean | Normalization;
  /** Multiplies every combine weight (DeepSeek-V3's routed_scaling_factor; default 1). */
  readonly routedScale?: number;
  /** Multiplicative jitter eps on the router input in training (default 0; Switch used 1e-2). */
  readonly jitter?: number;
  /** alpha of the load-balancing loss (default 1e-2, Switch); 0 leaves the loss out. */
  readonly loadBalancingCoefficient?: number;
  /** beta of the router z-loss (default 1e-3 with softmax scores, ST-MoE; 0 with sigmoid); 0 leaves the loss out. */
  readonly zLossCoefficient?: number;
  /** w of the importance loss w * CV(importance)^2 (Shazeer et al. 2017, eq. 6; default 0: off). */
  readonly importanceCoefficient?: number;
  /**
   * Noisy top-k gating (Shazeer et al. 2017, eq. 4): in training the logits get
   * StandardNormal() * (softplus(x W_noise) + 1e-2) added, W_noise float32[D, E] learned from zero
   * (default false).
   */
  readonly noisyGating?: boolean;
  /**
   * w of the load loss w * CV(load)^2 (default 0: off): Shazeer et al. 2017 eq. 8-10 with
   * noisyGating, V-MoE's form with noiseStd.
   */
  readonly loadCoefficient?: number;
  /**
   * V-MoE's fixed gating noise (Riquelme et al. 2021; vmoe's noise_std): in training the logits get
   * StandardNormal() * noiseStd / E added (default 0: off; V-MoE's default 1).
   */
  readonly noiseStd?: number;
  /**
   * The gates the importance loss sums: 'chosen' (default; Shazeer et al.'s G, zero where a token
   * did not choose the expert) or 'all' (V-MoE: every expert's clean softmax probability).
   */
  readonly importanceGates?: ImportanceGates;
  /**
   * gamma of DeepSeek-V3's auxiliary-loss-free balancing: a per-expert bias added to the scores
   * for selection only, b_i += gamma * sign(mean load - load_i) after every training step
   * (default 0: off; DeepSeek-V3 used 0.001).
   */
  readonly biasUpdateRate?: number;
  /** alpha of DeepSeek-V3's sequence-wise balance loss (eq. 17-20; default 0: off). */
  readonly sequenceBalanceCoefficient?: number;
  /**
   * The second expert (top-2 only): 'all' (default) dispatches every second choice; 'random' with
   * probability min(1, 2 g2), g2 the normalized gate (GShard, Algorithm 1); 'sampled' picks it as
   * argmax of log p + Gumbel noise (DeepSpeed's top2_2nd_expert_sampling).
   */
  readonly secondExpertPolicy?: SecondExpertPolicy;
  /** f_i of the load-balancing loss counts 'all' choices (default) or 'first' ones (GShard, Tutel). */
  readonly loadBalancingChoices?: LoadBalancingChoices;
  /** 'probs' drops rank by the score p ('scores', default) or p / sum over the K choices ('weights'). */
  readonly probsRanking?: ProbsRanking;
  /** Router weights start from a truncated normal with std sqrt(initScale / D) (default 0.1, Switch). */
  readonly initScale?: number;
  /** Seed of the initial weights and of the jitter (default 0). */
  readonly seed?: number;
}

/** A `TokenChoiceRouterConfig` checked, with every default filled. */
export interface ResolvedTokenChoiceRouterConfig extends Required<
  Omit<TokenChoiceRouterConfig, 'capacity' | 'renormalize' | 'preset'>
> {
  readonly preset: TokenChoicePresetName | null;
  readonly capacity: CapacityPolicyConfig;
  readonly renormalize: Normalization;
}

/** Options of `routeScores`: the route context, and whether logits or scores are given. */
export interface RouteScoresOptions extends Partial<RouteContext> {
  /** 'logits' (default): float32[B, T, E] before the score function; 'scores': after it (probabilities for softmax). */
  readonly given?: GivenScores;
}

const KEYS = [
  'preset',
  'dModel',
  'numExperts',
  'topK',
  'capacity',
  'scoreFunction',
  'expertGroups',
  'topKGroups',
  'groupScore',
  'placement',
  'priority',
  'renormalize',
  'routedScale',
  'jitter',
  'loadBalancingCoefficient',
  'zLossCoefficient',
  'importanceCoefficient',
  'noisyGating',
  'loadCoefficient',
  'noiseStd',
  'importanceGates',
  'biasUpdateRate',
  'sequenceBalanceCoefficient',
  'secondExpertPolicy',
  'loadBalancingChoices',
  'probsRanking',
  'initScale',
  'seed',
];

/** false/true (the original boolean form) or a Normalization name. */
function normalizationOf(value: unknown): Normalization {
  if (value === false) return 'none';
  if (value === true) return 'before-drops';
  return requireOneOf('renormalize', value, NORMALIZATIONS);
}

/** A validated token-choice config and what the router derives from it once. */
export interface TokenChoiceSetup {
  readonly config: ResolvedTokenChoiceRouterConfig;
  /** The capacity used when the block gives none (config.capacity, default 'switch'). */
  readonly defaultCapacity: CapacityPolicy;
  /** The expert-group limit (undefined with expertGroups 1: off). */
  readonly expertGroups: ExpertGroupRule | undefined;
}

/** Validates `config` (each error names the option and its value) and fills the defaults. */
export function resolveTokenChoiceConfig(given: TokenChoiceRouterConfig): TokenChoiceSetup {
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    throw new ConfigError('config', given, 'an object');
  checkKeys(given, KEYS);
  const config = withPreset(given);
  const dModel = requireInt('dModel', config.dModel, { min: 1 });
  const numExperts = requireInt('numExperts', config.numExperts ?? 8, { min: 1 });
  const topK = requireInt('topK', config.topK ?? 1, { min: 1 });
  if (topK > numExperts) throw new ConfigError('topK', topK, `<= numExperts (${numExperts})`);
  const scoreFunction = requireOneOf(
    'scoreFunction',
    config.scoreFunction ?? 'softmax',
    SCORE_FUNCTIONS,
  );
  const zLossCoefficient = requireNumber(
    'zLossCoefficient',
    config.zLossCoefficient ?? (scoreFunction === 'softmax' ? 1e-3 : 0),
    { min: 0 },
  );
  if (scoreFunction === 'sigmoid' && zLossCoefficient > 0) {
    throw new ConfigError(
      'zLossCoefficient',
      zLossCoefficient,
      '0 with scoreFunction "sigmoid" (the router z-loss penalizes the log-partition of a softmax, ST-MoE eq. 5)',
    );
  }
  const expertGroups = requireInt('expertGroups', config.expertGroups ?? 1, { min: 1 });
  const topKGroups = requireInt('topKGroups', config.topKGroups ?? expertGroups, { min: 1 });
  const groupScore = requireOneOf('groupScore', config.groupScore ?? 'max', GROUP_SCORES);
  const expertGroupRule = checkExpertGroups(numExperts, topK, {
    count: expertGroups,
    keep: topKGroups,
    score: groupScore,
  });
  const defaultCapacity = CapacityPolicy.from(config.capacity, { preset: 'switch' });
  const routedScale = requireNumber('routedScale', config.routedScale ?? 1, {
    min: 0,
    minInclusive: false,
  });
  const resolved: ResolvedTokenChoiceRouterConfig = Object.freeze({
    preset: config.preset ?? null,
    dModel,
    numExperts,
    topK,
    capacity: defaultCapacity.getConfig(),
    scoreFunction,
    expertGroups,
    topKGroups,
    groupScore,
    placement: requireOneOf('placement', config.placement ?? 'rank-major', PLACEMENTS),
    priority: requireOneOf('priority', config.priority ?? 'position', OVERFLOW_PRIORITIES),
    renormalize: normalizationOf(config.renormalize ?? false),
    routedScale,
    jitter: requireNumber('jitter', config.jitter ?? 0, { min: 0, max: 1 }),
    loadBalancingCoefficient: requireNumber(
      'loadBalancingCoefficient',
      config.loadBalancingCoefficient ?? 1e-2,
      { min: 0 },
    ),
    zLossCoefficient,
    importanceCoefficient: requireNumber(
      'importanceCoefficient',
      config.importanceCoefficient ?? 0,
      { min: 0 },
    ),
    noisyGating: requireBoolean('noisyGating', config.noisyGating ?? false),
    loadCoefficient: requireNumber('loadCoefficient', config.loadCoefficient ?? 0, { min: 0 }),
    noiseStd: requireNumber('noiseStd', config.noiseStd ?? 0, { min: 0 }),
    ...resolveOptionNames(config),
    biasUpdateRate: requireNumber('biasUpdateRate', config.biasUpdateRate ?? 0, { min: 0 }),
    sequenceBalanceCoefficient: requireNumber(
      'sequenceBalanceCoefficient',
      config.sequenceBalanceCoefficient ?? 0,
      { min: 0 },
    ),
    initScale: requireNumber('initScale', config.initScale ?? 0.1, { min: 0 }),
    seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
  });
  checkOptionCombinations(resolved, expertGroupRule);
  return { config: resolved, defaultCapacity, expertGroups: expertGroupRule };
}
