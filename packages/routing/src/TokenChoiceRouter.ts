// Token-choice routing (Switch Transformer, Fedus et al. 2021; GShard, Lepikhin et al. 2020;
// DeepSeek-V3, DeepSeek-AI 2024): each token picks its top-K experts by router score; each expert
// keeps at most C tokens per group. Axis legend: B batch, T tokens, D width, M = B*T, E experts,
// K experts per token, G groups, n tokens per group, C capacity, N kept assignments.
//
// The rules (tokenChoiceRules.ts, docs/routing.md "Token-choice options" with their sources):
// scores are softmax(logits) or sigmoid(logits); the K choices may be limited to a token's best
// expert groups; choices claim capacity rank-major (every top-1 choice of a group before any
// top-2 choice, GShard section 2.2) or token-major (DeepSpeed, MaxText), tokens by position or by
// top-1 score ('score', batch-prioritized routing, Riquelme et al. 2021), or each expert keeps its
// highest-score assignments ('probs', DeepSpeed). A choice that finds its expert full is dropped:
// it has no assignment, so it contributes exactly zero. Selection and placement run on the host
// over detached scores; the combine weights are the scores gathered at the kept (token, expert)
// pairs with core's gatherRows (then optionally normalized and scaled), so the router weights, or
// the given scores of routeScores, get gradients through them.
import {
  ConfigError,
  gatherRows,
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
import { CapacityPolicy, type CapacityPolicyConfig, type CapacitySpec } from './CapacityPolicy.js';
import { LinearExpertRouter } from './LinearExpertRouter.js';
import type { ParameterScope } from './ParameterScope.js';
import {
  checkKeys,
  checkRouteInput,
  int32,
  readValidity,
  requireBoolean,
  requireLive,
  seededVariable,
} from './common.js';
import {
  flattenSlots,
  gatherWeights,
  givenScores,
  routerDistribution,
  type GivenScores,
} from './expertAssignments.js';
import {
  countLoadLoss,
  importanceLoss,
  loadBalancingCoefficients,
  noisyLoadLoss,
  loadBalancingLoss,
  meanEntropy,
  meanWeights,
  routerZLoss,
} from './losses.js';
import { tokenChoiceSession } from './causal.js';
import { routingCounts } from './counts.js';
import { GATING_NOISE_STREAM, JITTER_STREAM, streamSeed } from './randomness.js';
import type { TokenChoicePlan } from './plan.js';
import type {
  CausalContext,
  CausalSession,
  RouteContext,
  Router,
  RouterDescription,
} from './Router.js';
import {
  GROUP_SCORES,
  NORMALIZATIONS,
  OVERFLOW_PRIORITIES,
  PLACEMENTS,
  SCORE_FUNCTIONS,
  checkExpertGroups,
  chooseExperts,
  placeChoices,
  type ExpertGroupRule,
  type GroupScore,
  type Normalization,
  type OverflowPriority,
  type Placement,
  type ScoreFunction,
} from './tokenChoiceRules.js';

export interface TokenChoiceRouterConfig {
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
  /** H: split the experts into H groups of E / H and let each token use only its best topKGroups of them (default 1: off). */
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
  /** w of the load loss w * CV(load)^2 (Shazeer et al. 2017, eq. 8-10; needs noisyGating; default 0: off). */
  readonly loadCoefficient?: number;
  /** Router weights start from a truncated normal with std sqrt(initScale / D) (default 0.1, Switch). */
  readonly initScale?: number;
  /** Seed of the initial weights and of the jitter (default 0). */
  readonly seed?: number;
}

export interface ResolvedTokenChoiceRouterConfig extends Required<
  Omit<TokenChoiceRouterConfig, 'capacity' | 'renormalize'>
> {
  readonly capacity: CapacityPolicyConfig;
  readonly renormalize: Normalization;
}

export interface RouteScoresOptions extends Partial<RouteContext> {
  /** 'logits' (default): float32[B, T, E] before the score function; 'scores': after it (probabilities for softmax). */
  readonly given?: GivenScores;
}

const KEYS = [
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
  'initScale',
  'seed',
];

/** false/true (the original boolean form) or a Normalization name. */
function normalizationOf(value: unknown): Normalization {
  if (value === false) return 'none';
  if (value === true) return 'before-drops';
  return requireOneOf('renormalize', value, NORMALIZATIONS);
}

export class TokenChoiceRouter
  extends LinearExpertRouter<ResolvedTokenChoiceRouterConfig>
  implements Router<TokenChoicePlan>
{
  static readonly className = 'token-choice';
  readonly className = TokenChoiceRouter.className;
  readonly kind = 'token-choice' as const;
  readonly combineWeightRange: readonly [number, number];
  readonly config: ResolvedTokenChoiceRouterConfig;
  readonly defaultCapacity: CapacityPolicy;
  readonly weight: Variable;
  private readonly expertGroups: ExpertGroupRule | undefined;
  /** float32[D, E] W_noise of noisy top-k gating (absent without it). */
  readonly noiseWeight: Variable | undefined;

  constructor(config: TokenChoiceRouterConfig, scope?: ParameterScope) {
    super(scope);
    if (config === null || typeof config !== 'object' || Array.isArray(config))
      throw new ConfigError('config', config, 'an object');
    checkKeys(config, KEYS);
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
    this.expertGroups = checkExpertGroups(numExperts, topK, {
      count: expertGroups,
      keep: topKGroups,
      score: groupScore,
    });
    this.defaultCapacity = CapacityPolicy.from(config.capacity, { preset: 'switch' });
    const routedScale = requireNumber('routedScale', config.routedScale ?? 1, {
      min: 0,
      minInclusive: false,
    });
    this.config = Object.freeze({
      dModel,
      numExperts,
      topK,
      capacity: this.defaultCapacity.getConfig(),
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
      initScale: requireNumber('initScale', config.initScale ?? 0.1, { min: 0 }),
      seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
    });
    this.combineWeightRange = [0, routedScale];
    if (this.config.loadCoefficient > 0 && !this.config.noisyGating) {
      throw new ConfigError(
        'loadCoefficient',
        this.config.loadCoefficient,
        '0 without noisyGating (the load loss is defined through the gating noise, Shazeer et al. 2017 eq. 8-10)',
      );
    }
    if (this.config.noisyGating && this.expertGroups !== undefined)
      throw new ConfigError(
        'noisyGating',
        true,
        'false with expertGroups > 1 (the load loss ranks a token against all experts)',
      );
    this.weight = seededVariable(
      this.scope,
      'weight',
      [dModel, numExperts],
      Math.sqrt(this.config.initScale / dModel),
      this.config.seed,
    );
    this.noiseWeight = this.config.noisyGating
      ? seededVariable(this.scope, 'noiseWeight', [dModel, numExperts], 0, this.config.seed)
      : undefined;
  }

  /** E experts, K per token, 2 D E FLOPs per token (twice that with noisy gating's W_noise). */
  describe(): RouterDescription {
    const { dModel: d, numExperts: e, topK } = this.config;
    return {
      numExperts: e,
      topK,
      flopsPerToken: 2 * d * e * (this.noiseWeight === undefined ? 1 : 2),
      causalModes: ['causal'],
      defaultCausalMode: 'causal',
    };
  }

  /**
   * Token by token with running per-expert loads (causal.ts tokenChoiceSession), the capacity
   * evaluated for a sequence of context.capacityLength tokens. With a finite capacity a token's
   * experts must depend on earlier tokens only: top-1 or token-major placement, position priority;
   * otherwise a ConfigError names the option.
   */
  causal(context: CausalContext): CausalSession<TokenChoicePlan> {
    requireLive(this.disposed, this.className);
    if (context.mode !== 'causal')
      throw new ConfigError('mode', context.mode, `'causal' for a token-choice router`);
    const { numExperts: e, topK: k, placement, priority } = this.config;
    const n = context.capacityLength;
    const policy = context.capacity;
    let capacity = Infinity;
    if (!policy.config.dropless) {
      if (k !== 1 && placement !== 'token-major') {
        throw new ConfigError(
          'placement',
          placement,
          "'token-major' for causal decisions of top-K > 1 with a finite capacity (rank-major " +
            'places every top-1 choice of the sequence before any top-2); or use a dropless capacity',
        );
      }
      if (priority !== 'position') {
        throw new ConfigError(
          'priority',
          priority,
          "'position' for causal decisions with a finite capacity ('score' and 'probs' rank a " +
            'token against later ones); or use a dropless capacity',
        );
      }
      capacity = Math.min(policy.capacity({ groupSize: n, numExperts: e, topK: k }), n);
    }
    return tokenChoiceSession({
      scores: (x) => this.scoresOf(routerDistribution(x, this.weight, 0, undefined).logits),
      numExperts: e,
      topK: k,
      expertGroups: this.expertGroups,
      renormalize: this.config.renormalize,
      routedScale: this.config.routedScale,
      capacity,
    });
  }

  route(x: Tensor3D, options: Partial<RouteContext> = {}): TokenChoicePlan {
    requireLive(this.disposed, this.className);
    checkRouteInput(x, this.config.dModel, options.mask);
    const training = options.training ?? false;
    const jitter = this.config.jitter;
    const seed = (stream: number) => streamSeed(options.rngSeed, this.config.seed, stream);
    const jitterSeed = training && jitter > 0 ? seed(JITTER_STREAM) : undefined;
    const [b, t, d] = x.shape;
    return tf.tidy(() => {
      const { logits: clean } = routerDistribution(x, this.weight, jitter, jitterSeed);
      if (this.noiseWeight === undefined)
        return this.planFrom(clean, this.scoresOf(clean), b, t, options) as never;
      // Shazeer et al. 2017 eq. 4: H = x W_g + StandardNormal() * softplus(x W_noise), in training;
      // the standard deviation gets tensor2tensor's noise_epsilon 1e-2. Shape: [B, T, D] -> [M, D] -> [M, E]
      const std = tf.add(
        tf.softplus(linear(tf.reshape(x, [b * t, d]) as Tensor2D, this.noiseWeight as Tensor2D)),
        1e-2,
      ) as Tensor2D;
      const noisy = training
        ? (tf.add(
            clean,
            tf.mul(tf.randomNormal(clean.shape, 0, 1, 'float32', seed(GATING_NOISE_STREAM)), std),
          ) as Tensor2D)
        : clean;
      return this.planFrom(noisy, this.scoresOf(noisy), b, t, options, { clean, std }) as never;
    }) as TokenChoicePlan;
  }

  /**
   * Routes given router outputs float32[B, T, E] with this router's rules and capacity, as route()
   * would had its gating network produced them: the logits (default), or the scores after the
   * score function (`given: 'scores'`; the z-loss needs logits). The combine
   * weights are differentiable in the given tensor. The router's own weight is not used.
   */
  routeScores(scores: Tensor3D, options: RouteScoresOptions = {}): TokenChoicePlan {
    requireLive(this.disposed, this.className);
    return tf.tidy(() => {
      const { flat, given } = givenScores(
        scores,
        this.config.numExperts,
        options.mask,
        options.given,
        this.config.zLossCoefficient,
      );
      const [b, t] = scores.shape;
      return (
        given === 'logits'
          ? this.planFrom(flat, this.scoresOf(flat), b, t, options)
          : this.planFrom(undefined, flat, b, t, options)
      ) as never;
    }) as TokenChoicePlan;
  }

  /** `weight` float32[D, E] (logits x W), and `noiseWeight` float32[D, E] with noisy gating. */
  override namedVariables(): Readonly<Record<string, Variable>> {
    return this.noiseWeight === undefined
      ? { weight: this.weight }
      : { weight: this.weight, noiseWeight: this.noiseWeight };
  }

  /** Scores float32[M, E] from logits: softmax over experts, or elementwise sigmoid. */
  private scoresOf(logits: Tensor2D): Tensor2D {
    return this.config.scoreFunction === 'softmax' ? tf.softmax(logits) : tf.sigmoid(logits);
  }

  /**
   * The plan from logits (absent when scores were given) and scores float32[M, E]; with noisy
   * gating, the clean logits and the noise's standard deviation too. Call inside a tidy.
   */
  private planFrom(
    logits: Tensor2D | undefined,
    scores: Tensor2D,
    b: number,
    t: number,
    options: Partial<RouteContext>,
    noise?: { clean: Tensor2D; std: Tensor2D },
  ): TokenChoicePlan {
    const { numExperts: e, topK: k, priority, placement, renormalize, routedScale } = this.config;
    const capacityPolicy = options.capacity ?? this.defaultCapacity;
    const policy = capacityPolicy.config;
    const training = options.training ?? false;
    const m = b * t;
    const n = policy.group === 'sequence' ? t : m;
    const groups = m / n;
    const valid = readValidity(options.mask, m);
    const p = scores.dataSync() as Float32Array;
    const choices = chooseExperts(p, m, e, k, this.expertGroups);

    // Capacity: the policy's formula (at most n: a token takes an expert once), or the
    // largest load of any expert in any group when dropless.
    let capacity: number;
    if (policy.dropless) {
      const load = new Int32Array(groups * e);
      for (let tok = 0; tok < m; tok++) {
        if (!valid[tok]) continue;
        for (let r = 0; r < k; r++)
          load[Math.floor(tok / n) * e + (choices[tok * k + r] as number)]! += 1;
      }
      capacity = load.reduce((a, v) => Math.max(a, v), 0);
    } else {
      capacity = Math.min(
        capacityPolicy.capacity({ groupSize: n, numExperts: e, topK: k, training }),
        n,
      );
    }
    const placed = placeChoices({
      choices,
      valid,
      gates: p,
      numExperts: e,
      topK: k,
      groupSize: n,
      capacity,
      placement,
      priority,
    });
    // Without normalization a slot's weight is scores[token, expert] (one gather from [M*E]);
    // with it, scores at the K choices [M*K] normalized, gathered at the slot's choice.
    const assignments = flattenSlots(placed.slots, groups, capacity);
    if (renormalize === 'none')
      assignments.sources.forEach(
        (c, i) => (assignments.sources[i] = Math.floor(c / k) * e + (choices[c] as number)),
      );

    // Shape: scores [M, E] -> [M*E]
    const flatScores = tf.reshape(scores, [m * e]) as Tensor1D;
    let table = flatScores;
    if (renormalize !== 'none') {
      const choiceSources = new Int32Array(m * k);
      for (let c = 0; c < m * k; c++)
        choiceSources[c] = Math.floor(c / k) * e + (choices[c] as number);
      // Shape: gather [M*K] -> [M, K], normalized over K (the kept ones after drops) -> [M*K]
      let top: Tensor = tf.reshape(gatherRows(flatScores, int32(choiceSources) as Tensor1D), [
        m,
        k,
      ]);
      if (renormalize === 'after-drops')
        top = tf.mul(top, tf.tensor2d(Float32Array.from(placed.kept), [m, k]));
      const denominator =
        renormalize === 'after-drops'
          ? tf.maximum(tf.sum(top, 1, true), 1.1920929e-7)
          : tf.sum(top, 1, true);
      table = tf.reshape(tf.div(top, denominator), [m * k]) as Tensor1D;
    }
    if (routedScale !== 1) table = tf.mul(table, routedScale) as Tensor1D;
    const combineWeights = gatherWeights(table, assignments.sources, gatherRows);

    // The distribution the balancing losses read: the softmax probabilities, or the sigmoid
    // scores normalized per token (DeepSeek-V3 eq. 19-20).
    const distribution =
      this.config.scoreFunction === 'softmax'
        ? scores
        : (tf.div(scores, tf.sum(scores, 1, true)) as Tensor2D);
    const auxLosses: Record<string, Scalar> = {};
    if (this.config.loadBalancingCoefficient > 0) {
      const coefficients = loadBalancingCoefficients(
        choices,
        valid,
        m,
        e,
        k,
        n,
        this.config.loadBalancingCoefficient,
      );
      auxLosses['loadBalancing'] = loadBalancingLoss(distribution, coefficients);
    }
    if (this.config.zLossCoefficient > 0)
      auxLosses['zLoss'] = routerZLoss(logits!, meanWeights(valid), this.config.zLossCoefficient);
    if (this.config.importanceCoefficient > 0)
      auxLosses['importance'] = importanceLoss(
        scores,
        choices,
        valid,
        k,
        this.config.importanceCoefficient,
        renormalize !== 'none',
      );
    if (this.config.loadCoefficient > 0) {
      if (noise === undefined)
        throw new ConfigError(
          'loadCoefficient',
          this.config.loadCoefficient,
          "0 when routing given scores (the load loss needs the router's own noisy gating)",
        );
      auxLosses['load'] = training
        ? noisyLoadLoss(logits!, noise.clean, noise.std, valid, k, this.config.loadCoefficient)
        : countLoadLoss(choices, valid, e, k, this.config.loadCoefficient);
    }

    const entropyOf =
      this.config.scoreFunction === 'softmax' ? p : (distribution.dataSync() as Float32Array);
    return {
      kind: 'token-choice',
      batchSize: b,
      seqLen: t,
      numExperts: e,
      topK: k,
      numGroups: groups,
      groupSize: n,
      capacity,
      tokenIndex: int32(assignments.tokenIndex) as Tensor1D,
      expertIndex: int32(assignments.expertIndex) as Tensor1D,
      slotIndex: int32(assignments.slotIndex) as Tensor1D,
      bufferIndex: int32(assignments.bufferIndex) as Tensor1D,
      expertCounts: assignments.expertCounts,
      combineWeights,
      // Shape: [M, E] -> [B, T, E]; [M*K] -> [B, T, K]
      ...(logits ? { routerLogits: tf.reshape(logits, [b, t, e]) as Tensor3D } : {}),
      routerProbs: tf.reshape(scores, [b, t, e]) as Tensor3D,
      choices: int32(choices, [b, t, k]) as Tensor3D,
      choiceKept: int32(placed.kept, [b, t, k]) as Tensor3D,
      auxLosses,
      counts: routingCounts({
        valid,
        numExperts: e,
        tokenIndex: assignments.tokenIndex,
        expertIndex: assignments.expertIndex,
        choicesPerToken: k,
        entropy: { kind: 'categorical', probs: entropyOf, width: e },
      }),
    };
  }
}
