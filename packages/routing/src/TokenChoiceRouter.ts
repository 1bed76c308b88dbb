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
  linear,
  tf,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import type { CapacityPolicy } from './CapacityPolicy.js';
import { LinearExpertRouter } from './LinearExpertRouter.js';
import type { ParameterScope } from './ParameterScope.js';
import { checkRouteInput, requireLive, seededVariable } from './common.js';
import { givenScores, routerDistribution } from './expertAssignments.js';
import { tokenChoiceSession } from './causal.js';
import { GATING_NOISE_STREAM, JITTER_STREAM, streamSeed } from './randomness.js';
import { foldSelectionBias, selectionBiasBuffer } from './selectionBias.js';
import type { RouterStatistics } from './statistics.js';
import type { TokenChoicePlan } from './plan.js';
import type {
  CausalContext,
  CausalSession,
  RouteContext,
  Router,
  RouterDescription,
} from './Router.js';
import {
  resolveTokenChoiceConfig,
  type ResolvedTokenChoiceRouterConfig,
  type RouteScoresOptions,
  type TokenChoiceRouterConfig,
} from './tokenChoiceConfig.js';
import { routingDraws } from './tokenChoiceDraws.js';
import { scoresOf, tokenChoicePlan } from './tokenChoicePlan.js';
import type { ExpertGroupRule } from './tokenChoiceRules.js';

/**
 * Token-choice routing: each token picks its top-K experts, within each expert's capacity (Switch,
 * GShard, DeepSeek).
 */
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
  /**
   * float32[E] DeepSeek-V3's selection bias b (absent unless biasUpdateRate > 0): added to the
   * scores for the top-K selection only; not trained, saved with the parameters as
   * `selectionBias`, moved by foldStatistics (selectionBias.ts).
   */
  readonly selectionBias: Variable | undefined;

  constructor(config: TokenChoiceRouterConfig, scope?: ParameterScope) {
    super(scope);
    const setup = resolveTokenChoiceConfig(config);
    this.config = setup.config;
    this.defaultCapacity = setup.defaultCapacity;
    this.expertGroups = setup.expertGroups;
    this.combineWeightRange = [0, this.config.routedScale];
    const { dModel, numExperts } = this.config;
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
    this.selectionBias =
      this.config.biasUpdateRate > 0 ? selectionBiasBuffer(this.scope, numExperts) : undefined;
  }

  /**
   * Folds one training step's expert loads (`selectionLoad.<i>`, every replica's) into the
   * selection bias: b_i += biasUpdateRate * sign(mean load - load_i) (Wang et al. 2024,
   * Algorithm 1; DeepSeek-V3 section 2.1.2). A router without the bias ignores them.
   */
  foldStatistics(statistics: readonly RouterStatistics[]): void {
    requireLive(this.disposed, this.className);
    if (this.selectionBias !== undefined)
      foldSelectionBias(this.selectionBias, statistics, this.config.biasUpdateRate);
  }

  /**
   * E experts, K per token, 2 D E FLOPs per token (twice that with noisy gating's W_noise); causal
   * decisions unless the second expert is dispatched at random.
   */
  describe(): RouterDescription {
    const { dModel: d, numExperts: e, topK } = this.config;
    return {
      numExperts: e,
      topK,
      flopsPerToken: 2 * d * e * (this.noiseWeight === undefined ? 1 : 2),
      // GShard's random second expert and random priority draw per batch: no causal form.
      ...(this.config.secondExpertPolicy !== 'all' || this.config.priority === 'random'
        ? { causalModes: [] }
        : { causalModes: ['causal'], defaultCausalMode: 'causal' as const }),
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
    if (this.config.secondExpertPolicy !== 'all')
      throw new ConfigError(
        'secondExpertPolicy',
        this.config.secondExpertPolicy,
        "'all' for causal decisions (the random second expert draws per batch, not per token)",
      );
    if (this.config.priority === 'random')
      throw new ConfigError(
        'priority',
        'random',
        "'position' for causal decisions (random token selection draws per batch, not per token)",
      );
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
      selectionBias: this.biasValues(),
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
    const seed = (stream: number) => this.streamSeed(options, stream);
    const jitterSeed = training && jitter > 0 ? seed(JITTER_STREAM) : undefined;
    const [b, t, d] = x.shape;
    return tf.tidy(() => {
      const { logits: clean } = routerDistribution(x, this.weight, jitter, jitterSeed);
      const { noiseStd, numExperts: e } = this.config;
      if (this.noiseWeight === undefined && noiseStd > 0) {
        // V-MoE (vmoe/nn/routing.py): H = x W + StandardNormal() * noiseStd / E, in training.
        const noisy = training
          ? (tf.add(
              clean,
              tf.randomNormal(clean.shape, 0, noiseStd / e, 'float32', seed(GATING_NOISE_STREAM)),
            ) as Tensor2D)
          : clean;
        return this.planFrom(noisy, this.scoresOf(noisy), b, t, options, { clean }) as never;
      }
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

  /** `weight` float32[D, E], `noiseWeight` float32[D, E] with noisy gating, `selectionBias` float32[E]. */
  override namedVariables(): Readonly<Record<string, Variable>> {
    return {
      weight: this.weight,
      ...(this.noiseWeight === undefined ? {} : { noiseWeight: this.noiseWeight }),
      ...(this.selectionBias === undefined ? {} : { selectionBias: this.selectionBias }),
    };
  }

  /** The selection bias b on the host (undefined when off). */
  biasValues(): Float32Array | undefined {
    return this.selectionBias?.dataSync() as Float32Array | undefined;
  }

  /** The plan from the scores float32[M, E] (tokenChoicePlan.ts); call inside a tidy. */
  private planFrom(
    logits: Tensor2D | undefined,
    scores: Tensor2D,
    b: number,
    t: number,
    options: Partial<RouteContext>,
    noise?: { clean: Tensor2D; std?: Tensor2D },
  ): TokenChoicePlan {
    const setup = {
      config: this.config,
      defaultCapacity: this.defaultCapacity,
      expertGroups: this.expertGroups,
    };
    // The random rules' draws (GShard's and DeepSpeed's), keyed by the call's seed.
    const draws = routingDraws(this.config, b * t, (stream) => this.streamSeed(options, stream));
    const extras = { noise, selectionBias: this.biasValues(), ...draws };
    return tokenChoicePlan(setup, logits, scores, b, t, options, extras);
  }

  private streamSeed(options: Partial<RouteContext>, stream: number): number {
    return streamSeed(options.rngSeed, this.config.seed, stream);
  }

  /** Scores float32[M, E] from logits: softmax over experts, or elementwise sigmoid. */
  private scoresOf(logits: Tensor2D): Tensor2D {
    return scoresOf(this.config.scoreFunction, logits);
  }
}
