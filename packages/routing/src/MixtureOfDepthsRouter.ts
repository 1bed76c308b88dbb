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
// - 'predictor': a small MLP on stop-gradient(x), trained with the same BCE; decide by its
//   logit > its own running top-k cut (the paper: logit > 0). Its loss does not touch the
//   router or the model.
// Both report accuracy, precision and recall against top-k (the paper reports 97-99%).
import {
  ConfigError,
  gatherRows,
  gelu,
  linear,
  requireInt,
  requireNumber,
  requireOneOf,
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { CapacityPolicy } from './CapacityPolicy.js';
import { depthSession } from './causal.js';
import {
  checkKeys,
  checkRouteInput,
  int32,
  readValidity,
  requireLive,
  seededVariable,
} from './common.js';
import { routingCounts } from './counts.js';
import { meanBceWithLogits, stopGradient } from './losses.js';
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
import { topKOf } from './selection.js';
import {
  foldRunningMean,
  sumStatistics,
  topKCutStatistic,
  type RouterStatistics,
  type Statistic,
} from './statistics.js';

export const MOD_GATES = ['identity', 'sigmoid', 'tanh'] as const;
export type ModGate = (typeof MOD_GATES)[number];
/** The causal rule a Mixture-of-Depths router trains for (its config's `causalMode`). */
export const MOD_CAUSAL_MODES = ['threshold', 'predictor', 'none'] as const;
export type ModCausalMode = (typeof MOD_CAUSAL_MODES)[number];

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
  /** Coefficient of the causal BCE loss (default 1e-2 for 'threshold', 1 for 'predictor'). */
  readonly causalLossCoefficient?: number;
  /** Hidden width H of the predictor MLP (default 16; 'predictor' only). */
  readonly predictorHidden?: number;
  /** w starts from a truncated normal with std sqrt(initScale / D) (default 1). */
  readonly initScale?: number;
  /** Seed of the initial weights (default 0). */
  readonly seed?: number;
}

export type ResolvedMixtureOfDepthsRouterConfig = Required<MixtureOfDepthsRouterConfig>;

/** What to do when a router without a predictor is asked for the predictor rule. */
export const PREDICTOR_HINT =
  'use mode "threshold" with it, or train a model whose MoD router config sets causalMode: "predictor" (in a train --config file: ' +
  '{"model": {"schedule": {"pattern": ["dense", {"kind": "mod", "depthRouter": {"name": "mixture-of-depths", "config": {"causalMode": "predictor"}}}]}}})';

const KEYS = [
  'dModel',
  'capacity',
  'gate',
  'causalMode',
  'causalLossCoefficient',
  'predictorHidden',
  'initScale',
  'seed',
];

/**
 * The cut that sends the `fraction` largest of `values` through the block: with the values sorted
 * descending and K = round(fraction * n) (at least 1, at most n - 1), the midpoint between the
 * K-th and (K+1)-th largest, so `value > cut` holds for exactly K of them (barring ties at the
 * cut). Undefined for fewer than two values.
 */
export function quantileCut(values: Float32Array, fraction: number): number | undefined {
  const n = values.length;
  if (n < 2) return undefined;
  const sorted = Float64Array.from(values).sort().reverse();
  const k = Math.min(n - 1, Math.max(1, Math.round(fraction * n)));
  return ((sorted[k - 1] as number) + (sorted[k] as number)) / 2;
}

interface Predictor {
  readonly w1: Variable;
  readonly b1: Variable;
  readonly w2: Variable;
  readonly b2: Variable;
  /** float32[2] [cut, steps], not trainable: the predictor logits' top-k cut, as `threshold`. */
  readonly threshold: Variable;
}

/** A [cut, steps] buffer `name` of `scope`, starting at 0 (the paper's rule: logit > 0). */
function cutBuffer(scope: ParameterScope, name: string): Variable {
  return scope.variable(name, [2], () => tf.zeros([2]), false);
}

/** Folds one step's top-k cut statistic into a [cut, steps] buffer (statistics.ts). */
function foldCut(state: Variable, statistic: Statistic | undefined): void {
  const [cut, steps] = state.dataSync() as Float32Array;
  const next = foldRunningMean([cut as number, steps as number], statistic);
  if (next[1] !== steps) tf.tidy(() => state.assign(tf.tensor1d([...next])));
}

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
    if (config === null || typeof config !== 'object')
      throw new ConfigError('config', config, 'an object');
    checkKeys(config, KEYS);
    const dModel = requireInt('dModel', config.dModel, { min: 1 });
    const capacity = config.capacity ?? 0.125;
    this.defaultCapacity = CapacityPolicy.fraction(capacity);
    const causalMode = requireOneOf(
      'causalMode',
      config.causalMode ?? 'threshold',
      MOD_CAUSAL_MODES,
    );
    this.config = Object.freeze({
      dModel,
      capacity,
      gate: requireOneOf('gate', config.gate ?? 'identity', MOD_GATES),
      causalMode,
      causalLossCoefficient: requireNumber(
        'causalLossCoefficient',
        config.causalLossCoefficient ?? (causalMode === 'predictor' ? 1 : 1e-2),
        { min: 0 },
      ),
      predictorHidden: requireInt('predictorHidden', config.predictorHidden ?? 16, { min: 1 }),
      initScale: requireNumber('initScale', config.initScale ?? 1, { min: 0 }),
      seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
    });
    this.combineWeightRange =
      this.config.gate === 'identity'
        ? [-Infinity, Infinity]
        : this.config.gate === 'sigmoid'
          ? [0, 1]
          : [-1, 1];
    const seed = this.config.seed;
    this.ownScope = scope === undefined ? new OwnedParameterScope() : undefined;
    const p = scope ?? this.ownScope!;
    const std = Math.sqrt(this.config.initScale / dModel);
    this.weight = seededVariable(p, 'weight', [dModel, 1], std, seed);
    this.threshold = causalMode === 'threshold' ? cutBuffer(p, 'threshold') : undefined;
    if (causalMode === 'predictor') {
      const h = this.config.predictorHidden;
      this.predictor = {
        w1: seededVariable(p, 'predictor.w1', [dModel, h], Math.sqrt(1 / dModel), seed + 1),
        b1: seededVariable(p, 'predictor.b1', [h], 0, seed + 2),
        w2: seededVariable(p, 'predictor.w2', [h, 1], Math.sqrt(1 / h), seed + 3),
        b2: seededVariable(p, 'predictor.b2', [1], 0, seed + 4),
        threshold: cutBuffer(p, 'predictor.threshold'),
      };
    }
  }

  /** Tokens kept per sequence of length T in top-k mode, under `capacity` (default its own). */
  tokensPerSequence(seqLen: number, capacity: CapacityPolicy = this.defaultCapacity): number {
    return Math.min(seqLen, capacity.capacity({ groupSize: seqLen, numExperts: 1 }));
  }

  /** One scalar logit per token (2 D), plus the predictor MLP (2 D H + 2 H) when it has one. */
  describe(): RouterDescription {
    const { dModel: d, predictorHidden: h, causalMode } = this.config;
    return {
      numExperts: 1,
      topK: 1,
      flopsPerToken: 2 * d + (this.predictor === undefined ? 0 : 2 * d * h + 2 * h),
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
        `a mode this router was configured for: it has no predictor (its causalMode is "${this.config.causalMode}"); ${PREDICTOR_HINT}`,
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
    const [b, t, d] = x.shape;
    const m = b * t;
    const k = this.tokensPerSequence(t, context.capacity);
    const valid = readValidity(context.mask, m);

    return tf.tidy(() => {
      // Shape: [B, T, D] -> [M, D] -> [M, 1] -> [M]
      const x2 = tf.reshape(x, [m, d]) as Tensor2D;
      const r = tf.reshape(linear(x2, this.weight as Tensor2D), [m]) as Tensor1D;
      const rHost = r.dataSync() as Float32Array;
      let predictorLogits: Tensor1D | undefined;
      let predHost: Float32Array | undefined;
      if (this.predictor !== undefined) {
        const { w1, b1, w2, b2 } = this.predictor;
        const hidden = gelu(linear(stopGradient(x2), w1 as Tensor2D, b1 as Tensor1D));
        // Shape: [M, 1] -> [M]
        predictorLogits = tf.reshape(linear(hidden, w2 as Tensor2D, b2 as Tensor1D), [
          m,
        ]) as Tensor1D;
        predHost = predictorLogits.dataSync() as Float32Array;
      }

      // Top-k membership per sequence over real tokens, ties to the lower position.
      const member = new Uint8Array(m);
      for (let row = 0; row < b; row++) {
        const candidates: number[] = [];
        for (let tok = row * t; tok < (row + 1) * t; tok++) if (valid[tok]) candidates.push(tok);
        for (const tok of topKOf(candidates, k, (i) => rHost[i] as number)) member[tok] = 1;
      }
      const tau = this.thresholdValue();
      const thresholdDecision = new Uint8Array(m);
      for (let i = 0; i < m; i++)
        thresholdDecision[i] = valid[i] && (rHost[i] as number) > tau ? 1 : 0;
      let predictorDecision: Uint8Array | undefined;
      if (predHost !== undefined) {
        const cut = this.predictorCutValue();
        predictorDecision = new Uint8Array(m);
        for (let i = 0; i < m; i++)
          predictorDecision[i] = valid[i] && (predHost[i] as number) > cut ? 1 : 0;
      }
      // What the training step folds into the cuts (foldStatistics); route changes nothing.
      const statistics: Record<string, Statistic> = {};
      if (context.training === true && mode === 'top-k') {
        if (this.threshold !== undefined)
          statistics['thresholdCut'] = topKCutStatistic(rHost, valid, b, t, k);
        if (this.predictor !== undefined && predHost !== undefined)
          statistics['predictorCut'] = topKCutStatistic(predHost, valid, b, t, k);
      }
      const selected =
        mode === 'top-k'
          ? member
          : mode === 'threshold'
            ? thresholdDecision
            : (predictorDecision as Uint8Array);

      // Flat (b, t)-ordered lists: ascending positions within each sequence.
      const tokenList: number[] = [];
      const positionList: number[] = [];
      const rowCounts = new Array<number>(b).fill(0);
      for (let i = 0; i < m; i++) {
        if (!selected[i]) continue;
        tokenList.push(i);
        positionList.push(i % t);
        rowCounts[Math.floor(i / t)]! += 1;
      }
      const tokenIndex = int32(tokenList) as Tensor1D;
      let combineWeights: Tensor1D;
      if (tokenList.length === 0) {
        combineWeights = tf.zeros([0]);
      } else {
        const gathered = gatherRows(r, tokenIndex);
        combineWeights =
          this.config.gate === 'identity'
            ? gathered
            : this.config.gate === 'sigmoid'
              ? tf.sigmoid(gathered)
              : tf.tanh(gathered);
      }

      // Section 3.5 auxiliary losses: BCE against top-k membership, mean over real tokens.
      const auxLosses: Record<string, Scalar> = {};
      const coefficient = this.config.causalLossCoefficient;
      if (this.config.causalMode !== 'none' && coefficient > 0) {
        if (this.config.causalMode === 'threshold')
          auxLosses['causalBce'] = meanBceWithLogits(r, rHost, member, valid, coefficient);
        else
          auxLosses['predictorBce'] = meanBceWithLogits(
            predictorLogits as Tensor1D,
            predHost as Float32Array,
            member,
            valid,
            coefficient,
          );
      }

      // sigmoid(r) per token, in double precision, for the entropy count.
      const gateProbs = Float64Array.from(rHost, (v) => 1 / (1 + Math.exp(-v)));
      const plan: MixtureOfDepthsPlan = {
        kind: 'mixture-of-depths',
        mode,
        batchSize: b,
        seqLen: t,
        capacity: k,
        rowCounts,
        tokenIndex,
        positions: int32(positionList) as Tensor1D,
        combineWeights,
        // Shape: [M] -> [B, T]
        routerLogits: tf.reshape(r, [b, t]) as Tensor2D,
        ...(predictorLogits !== undefined
          ? { predictorLogits: tf.reshape(predictorLogits, [b, t]) as Tensor2D }
          : {}),
        auxLosses,
        ...(Object.keys(statistics).length > 0 ? { statistics } : {}),
        counts: routingCounts({
          valid,
          numExperts: 1,
          tokenIndex: tokenList,
          entropy: { kind: 'bernoulli', probs: gateProbs },
          causal: {
            target: member,
            threshold: thresholdDecision,
            ...(predictorDecision !== undefined ? { predictor: predictorDecision } : {}),
          },
        }),
      };
      return plan as never;
    }) as MixtureOfDepthsPlan;
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

  trainableVariables(): readonly Variable[] {
    return Object.values(this.namedVariables()).filter((v) => v.trainable);
  }

  /**
   * `weight` float32[D, 1]; with the threshold rule also `threshold` [2] (not trainable); with
   * the predictor `predictor.w1` [D, H], `.b1` [H], `.w2` [H, 1], `.b2` [1] and
   * `predictor.threshold` [2] (not trainable: the cut on its logits).
   */
  namedVariables(): Readonly<Record<string, Variable>> {
    const p = this.predictor;
    if (p !== undefined) {
      return {
        weight: this.weight,
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
