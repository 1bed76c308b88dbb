// Expert-choice Mixture-of-Depths routing (Raposo et al. 2024, arXiv 2404.02258, section 3).
// Axis legend: B batch, T tokens, D width, M = B*T, H predictor width, k tokens kept per
// sequence, N selected tokens.
//
// Section 3.2-3.3: a scalar router weight r_i = w . x_i per token; per sequence the k tokens with
// the largest r (k = capacity * T, default 12.5%) go through the block; the others skip it.
// Selected tokens are returned in ascending position order, so the block can run causal
// attention on the subsequence. The block output is weighed by g(r_i): out_i = x_i + g(r_i) f(x_i)
// for selected tokens and x_i for the rest; g is the identity in the paper (default), or
// sigmoid / tanh. The router learns through g(r) (combineWeights, gathered with core's gatherRows).
//
// Section 3.5, sampling: top-k over a sequence is not causal. Two causal rules:
// - 'threshold': an auxiliary binary cross-entropy loss on the router logits with top-k
//   membership as target (the paper's); decide by r > tau, where tau is not learned but tracks
//   the top-k cut of r over the training steps (see `threshold` and foldStatistics below). The paper decides by
//   sigmoid(r) > 0.5 (tau = 0), which the BCE alone calibrates: at a small coefficient (1e-2) it
//   left the rule over-selecting (16.7% for 12.5%, 95.8% agreement); at 1e-1 it agreed but cost
//   language-model quality (docs/sampling.md). The BCE still shapes r's ranking.
// - 'predictor': a small MLP with a linear path on stop-gradient(x) (depthCuts.ts), trained to
//   regress r (default; predictorTarget 'membership': the paper's BCE against top-k membership);
//   decide by its logit > its own top-k cut (the paper: logit > 0). Its loss does not touch the
//   router or the model.
// Both report accuracy, precision and recall against top-k (the paper reports 97-99%).
import {
  ConfigError,
  requireInt,
  requireOneOf,
  tf,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import type { CapacityPolicy } from './CapacityPolicy.js';
import { depthSession } from './causal.js';
import { checkRouteInput, readValidity, requireLive, seededVariable } from './common.js';
import { createPredictor, cutBuffer, foldCut, quantileCut, type Predictor } from './depthCuts.js';
import {
  PREDICTOR_HINT,
  resolveMixtureOfDepthsConfig,
  type MixtureOfDepthsRouterConfig,
  type ResolvedMixtureOfDepthsRouterConfig,
} from './mixtureOfDepthsConfig.js';
import { depthPlan } from './mixtureOfDepthsPlan.js';
import {
  DECISION_MODES,
  type CausalCutSamples,
  type DecisionMode,
  type MixtureOfDepthsPlan,
} from './plan.js';
import { OwnedParameterScope, type ParameterScope } from './ParameterScope.js';
import type {
  CausalContext,
  CausalMode,
  CausalSession,
  RouteContext,
  Router,
  RouterDescription,
} from './Router.js';
import { sumStatistics, type RouterStatistics } from './statistics.js';

/**
 * Mixture-of-Depths routing: a scalar weight per token, the top-k tokens of each sequence go
 * through the block (Raposo et al. 2024).
 */
export class MixtureOfDepthsRouter implements Router<MixtureOfDepthsPlan> {
  static readonly className = 'mixture-of-depths';
  readonly className = MixtureOfDepthsRouter.className;
  readonly kind = 'mixture-of-depths' as const;
  readonly combineWeightRange: readonly [number, number];
  readonly config: ResolvedMixtureOfDepthsRouterConfig;
  /** k = max(1, floor(capacity * T)) per sequence, when the block gives no capacity. */
  readonly defaultCapacity: CapacityPolicy;
  /** float32[D, 1] router weight w. */
  readonly weight: Variable;
  /**
   * 'threshold' mode only: float32[2] [tau, steps], not trainable (a buffer, saved with the
   * parameters as `threshold`): tau estimates the top-k cut of r from the training steps' top-k
   * plans (their `thresholdCut` statistics, folded by foldStatistics with THRESHOLD_RATE); the
   * causal rule decides r > tau.
   */
  readonly threshold: Variable | undefined;
  private readonly predictor: Predictor | undefined;
  private disposed = false;
  /** The scope the router made for itself when given none (it disposes that one). */
  private readonly ownScope: OwnedParameterScope | undefined;

  /**
   * A router whose variables are created in `scope` (a block passes its store's `routers.<r>`
   * scope, which owns them); without one, the router owns them and `dispose` frees them.
   */
  constructor(config: MixtureOfDepthsRouterConfig, scope?: ParameterScope) {
    const setup = resolveMixtureOfDepthsConfig(config);
    this.config = setup.config;
    this.defaultCapacity = setup.defaultCapacity;
    this.combineWeightRange = setup.combineWeightRange;
    const { dModel, causalMode } = this.config;
    const seed = this.config.seed;
    this.ownScope = scope === undefined ? new OwnedParameterScope() : undefined;
    const p = scope ?? this.ownScope!;
    const std = Math.sqrt(this.config.initScale / dModel);
    this.weight = seededVariable(p, 'weight', [dModel, 1], std, seed);
    this.threshold = causalMode === 'threshold' ? cutBuffer(p, 'threshold') : undefined;
    if (causalMode === 'predictor') {
      this.predictor = createPredictor(p, dModel, this.config.predictorHidden, seed);
    }
  }

  /** Tokens kept per sequence of length T in top-k mode, under `capacity` (default its own). */
  tokensPerSequence(seqLen: number, capacity: CapacityPolicy = this.defaultCapacity): number {
    return Math.min(seqLen, capacity.capacity({ groupSize: seqLen, numExperts: 1 }));
  }

  /** One scalar logit per token (2 D), plus the predictor (2 D H + 2 H + 2 D) when it has one. */
  describe(): RouterDescription {
    const { dModel: d, predictorHidden: h, causalMode } = this.config;
    return {
      numExperts: 1,
      topK: 1,
      flopsPerToken: 2 * d + (this.predictor === undefined ? 0 : 2 * d * h + 2 * h + 2 * d),
      causalModes: this.predictor === undefined ? ['threshold'] : ['threshold', 'predictor'],
      defaultCausalMode: causalMode === 'predictor' ? 'predictor' : 'threshold',
    };
  }

  /**
   * Section 3.5's causal rules for one sequence: each token goes through the block when r > tau
   * (threshold) or when the predictor's logit > its cut (predictor); nothing depends on other
   * tokens, so the session keeps no state but the cut, read once.
   */
  causal(context: CausalContext): CausalSession<MixtureOfDepthsPlan> {
    requireLive(this.disposed, this.className);
    const mode = this.causalRule(context.mode);
    return depthSession({
      mode,
      weight: this.weight,
      predictor: mode === 'predictor' ? this.predictor : undefined,
      gate: this.config.gate,
      cut: mode === 'predictor' ? this.predictorCutValue() : this.thresholdValue(),
      dModel: this.config.dModel,
    });
  }

  /** The rule `mode` names ('causal': the configured one), or a ConfigError naming `mode`. */
  private causalRule(mode: CausalMode | DecisionMode): 'threshold' | 'predictor' {
    if (mode === 'causal')
      return this.config.causalMode === 'predictor' ? 'predictor' : 'threshold';
    if (mode === 'predictor' && this.predictor === undefined) {
      throw new ConfigError(
        'mode',
        mode,
        'a mode this router was configured for: it has no predictor ' +
          `(its causalMode is "${this.config.causalMode}"); ${PREDICTOR_HINT}`,
      );
    }
    if (mode !== 'threshold' && mode !== 'predictor')
      throw new ConfigError(
        'mode',
        mode,
        'a causal rule of a Mixture-of-Depths router (threshold, predictor)',
      );
    return mode;
  }

  route(x: Tensor3D, context: Partial<RouteContext> = {}): MixtureOfDepthsPlan {
    requireLive(this.disposed, this.className);
    checkRouteInput(x, this.config.dModel, context.mask);
    const given: DecisionMode = requireOneOf('mode', context.mode ?? 'top-k', DECISION_MODES);
    const mode = given === 'top-k' ? given : this.causalRule(given);
    const [b, t] = x.shape;
    const k = this.tokensPerSequence(t, context.capacity);
    const valid = readValidity(context.mask, b * t);

    return tf.tidy(
      () =>
        depthPlan({
          x,
          weight: this.weight as Tensor2D,
          predictor: this.predictor,
          gate: this.config.gate,
          causalMode: this.config.causalMode,
          causalLossCoefficient: this.config.causalLossCoefficient,
          predictorTarget: this.config.predictorTarget,
          mode,
          k,
          valid,
          hasThreshold: this.threshold !== undefined,
          thresholdCut: this.thresholdValue(),
          predictorCut: this.predictorCutValue(),
          training: context.training === true,
        }) as never,
    ) as MixtureOfDepthsPlan;
  }

  /**
   * Folds one training step's top-k cut statistics (`thresholdCut`, `predictorCut`: sums and
   * counts of per-sequence cuts, from the plans of every replica) into the running cuts: the
   * step's mean cut, averaged with THRESHOLD_RATE (foldRunningMean). A step whose sequences
   * had no cut (none longer than k) leaves them unchanged.
   */
  foldStatistics(statistics: readonly RouterStatistics[]): void {
    requireLive(this.disposed, this.className);
    const total = sumStatistics(statistics);
    if (this.threshold !== undefined) foldCut(this.threshold, total['thresholdCut']);
    if (this.predictor !== undefined) foldCut(this.predictor.threshold, total['predictorCut']);
  }

  /**
   * Sets each causal rule's cut to the exact top-k quantile of the samples (quantileCut at
   * k(T) / T, the fraction top-k keeps of a sequence of T tokens): afterwards the threshold rule
   * (r > tau) and the predictor rule (logit > cut) each select top-k's fraction of the sample
   * tokens. The running estimate kept during training lags the weights (it averages the cuts of
   * past batches, while r drifts until the last step: docs/sampling.md), so the Trainer calls
   * this with the final weights before it writes a checkpoint. The batch count is kept, so a
   * resumed run's running estimate continues from the calibrated cut.
   */
  calibrateCausalCuts(samples: CausalCutSamples): void {
    requireLive(this.disposed, this.className);
    const seqLen = requireInt('samples.seqLen', samples.seqLen, { min: 1 });
    const fraction = this.tokensPerSequence(seqLen, samples.capacity) / seqLen;
    const set = (state: Variable | undefined, values: Float32Array | undefined) => {
      if (state === undefined || values === undefined) return;
      const cut = quantileCut(values, fraction);
      if (cut === undefined) return;
      const batches = state.dataSync()[1] as number;
      tf.tidy(() => state.assign(tf.tensor1d([cut, batches])));
    };
    set(this.threshold, samples.threshold);
    set(this.predictor?.threshold, samples.predictor);
  }

  /** The threshold rule's tau (0 for a router without the threshold state: r > 0, the paper's). */
  thresholdValue(): number {
    return this.threshold === undefined ? 0 : (this.threshold.dataSync()[0] as number);
  }

  /** The predictor rule's cut on its logits (0 without a predictor: logit > 0, the paper's). */
  predictorCutValue(): number {
    return this.predictor === undefined ? 0 : (this.predictor.threshold.dataSync()[0] as number);
  }

  /** The variables the optimizer updates (not the untrained cuts of the causal rules). */
  trainableVariables(): readonly Variable[] {
    return Object.values(this.namedVariables()).filter((v) => v.trainable);
  }

  /**
   * `weight` float32[D, 1]; with the threshold rule also `threshold` [2] (not trainable); with
   * the predictor `predictor.linear` [D, 1], `predictor.w1` [D, H], `.b1` [H], `.w2` [H, 1],
   * `.b2` [1] and `predictor.threshold` [2] (not trainable: the cut on its logits).
   */
  namedVariables(): Readonly<Record<string, Variable>> {
    const p = this.predictor;
    if (p !== undefined) {
      return {
        weight: this.weight,
        'predictor.linear': p.linear,
        'predictor.w1': p.w1,
        'predictor.b1': p.b1,
        'predictor.w2': p.w2,
        'predictor.b2': p.b2,
        'predictor.threshold': p.threshold,
      };
    }
    return this.threshold === undefined
      ? { weight: this.weight }
      : { weight: this.weight, threshold: this.threshold };
  }

  getConfig(): Record<string, unknown> {
    return { ...this.config };
  }

  /** Routing afterwards throws; the variables are freed by their scope's owner (the store). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ownScope?.dispose();
  }
}
