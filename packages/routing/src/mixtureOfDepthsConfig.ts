// The Mixture-of-Depths router's configuration: the JSON config with a default per field, its
// resolved form, and the one function that validates it (each error names the option and value).
import { ConfigError, requireInt, requireNumber, requireOneOf } from '@moderoute/core';
import { CapacityPolicy } from './CapacityPolicy.js';
import { checkKeys } from './common.js';

/** Every Mixture-of-Depths gate. */
export const MOD_GATES = ['identity', 'sigmoid', 'tanh'] as const;
/**
 * The gate on a Mixture-of-Depths router's weight before it scales the block's output: identity,
 * sigmoid or tanh.
 */
export type ModGate = (typeof MOD_GATES)[number];
/** The causal rule a Mixture-of-Depths router trains for (its config's `causalMode`). */
export const MOD_CAUSAL_MODES = ['threshold', 'predictor', 'none'] as const;
/** The causal rule a Mixture-of-Depths router trains for. */
export type ModCausalMode = (typeof MOD_CAUSAL_MODES)[number];
/** What the predictor learns: the router's logit r (regression), or top-k membership (BCE). */
export const PREDICTOR_TARGETS = ['logit', 'membership'] as const;
export type PredictorTarget = (typeof PREDICTOR_TARGETS)[number];

/** Config of the Mixture-of-Depths router; every field but `dModel` has a default. */
export interface MixtureOfDepthsRouterConfig {
  /** Model width D (required). */
  readonly dModel: number;
  /**
   * The default fraction of each sequence that goes through the block, in (0, 1] (default 0.125):
   * the router's defaultCapacity, used when the block's spec gives no capacity.
   */
  readonly capacity?: number;
  /** g applied to r for the combine weight (default 'identity', the paper's). */
  readonly gate?: ModGate;
  /** Causal decision rule to train (default 'threshold'; 'none' trains neither). */
  readonly causalMode?: ModCausalMode;
  /**
   * Coefficient of the causal loss: the router's BCE ('threshold', default 1e-2) or the
   * predictor's loss ('predictor': default 1e-4 for predictorTarget 'logit', whose RMSE gradient
   * norm is coefficient / sqrt(tokens) before the linear path's factor 10 and x's scale; 1 for
   * 'membership'). The predictor's own AdamW steps barely depend on it; it sets the predictor's
   * share of the global gradient norm AdamW clips.
   */
  readonly causalLossCoefficient?: number;
  /** Hidden width H of the predictor MLP (default 16; 'predictor' only). */
  readonly predictorHidden?: number;
  /**
   * What the predictor is trained on ('predictor' only): 'logit' (default) regresses the router's
   * logit r, whose top-k cut is then the rule's cut; 'membership' is the paper's BCE against top-k
   * membership (section 3.5), which ranked tokens less well after short runs (docs/sampling.md).
   */
  readonly predictorTarget?: PredictorTarget;
  /** w starts from a truncated normal with std sqrt(initScale / D) (default 1). */
  readonly initScale?: number;
  /** Seed of the initial weights (default 0). */
  readonly seed?: number;
}

/** A `MixtureOfDepthsRouterConfig` checked, with every default filled. */
export type ResolvedMixtureOfDepthsRouterConfig = Required<MixtureOfDepthsRouterConfig>;

/** What to do when a router without a predictor is asked for the predictor rule. */
export const PREDICTOR_HINT =
  'use mode "threshold" with it, or train a model whose MoD router config sets causalMode: ' +
  '"predictor" (in a train --config file: {"model": {"schedule": {"pattern": ["dense", ' +
  '{"kind": "mod", "depthRouter": {"name": "mixture-of-depths", "config": ' +
  '{"causalMode": "predictor"}}}]}}})';

const KEYS = [
  'dModel',
  'capacity',
  'gate',
  'causalMode',
  'causalLossCoefficient',
  'predictorHidden',
  'predictorTarget',
  'initScale',
  'seed',
];

/** A validated Mixture-of-Depths config and its default capacity (the fraction `capacity`). */
export interface MixtureOfDepthsSetup {
  readonly config: ResolvedMixtureOfDepthsRouterConfig;
  readonly defaultCapacity: CapacityPolicy;
  /** The range of g(r): unbounded for the identity, [0, 1] for sigmoid, [-1, 1] for tanh. */
  readonly combineWeightRange: readonly [number, number];
}

/** Validates `config` and fills the defaults. */
export function resolveMixtureOfDepthsConfig(
  config: MixtureOfDepthsRouterConfig,
): MixtureOfDepthsSetup {
  if (config === null || typeof config !== 'object')
    throw new ConfigError('config', config, 'an object');
  checkKeys(config, KEYS);
  const dModel = requireInt('dModel', config.dModel, { min: 1 });
  const capacity = config.capacity ?? 0.125;
  const defaultCapacity = CapacityPolicy.fraction(capacity);
  const causalMode = requireOneOf('causalMode', config.causalMode ?? 'threshold', MOD_CAUSAL_MODES);
  const predictorTarget = requireOneOf(
    'predictorTarget',
    config.predictorTarget ?? 'logit',
    PREDICTOR_TARGETS,
  );
  const defaultCoefficient =
    causalMode !== 'predictor' ? 1e-2 : predictorTarget === 'logit' ? 1e-4 : 1;
  const resolved: ResolvedMixtureOfDepthsRouterConfig = Object.freeze({
    dModel,
    capacity,
    gate: requireOneOf('gate', config.gate ?? 'identity', MOD_GATES),
    causalMode,
    causalLossCoefficient: requireNumber(
      'causalLossCoefficient',
      config.causalLossCoefficient ?? defaultCoefficient,
      { min: 0 },
    ),
    predictorHidden: requireInt('predictorHidden', config.predictorHidden ?? 16, { min: 1 }),
    predictorTarget,
    initScale: requireNumber('initScale', config.initScale ?? 1, { min: 0 }),
    seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
  });
  const combineWeightRange: readonly [number, number] =
    resolved.gate === 'identity'
      ? [-Infinity, Infinity]
      : resolved.gate === 'sigmoid'
        ? [0, 1]
        : [-1, 1];
  return { config: resolved, defaultCapacity, combineWeightRange };
}
