// Expert-choice routing (Zhou et al. 2022, "Mixture-of-Experts with Expert Choice Routing",
// section 3.1): S = softmax(X W) over experts; each expert takes the C tokens of its group with
// the highest score, C = n * c / E for capacity factor c; the combine weight of (token, expert)
// is S[token, expert]. A token may get several experts or none; with none it contributes
// exactly zero. Not causal: a token's routing depends on the other tokens of its group.
// Axis legend: B batch, T tokens, D width, M = B*T, E experts, G groups, n tokens per group,
// C capacity, N assignments (= E * G * min(C, real tokens of the group)).
import {
  ConfigError,
  gatherRows,
  requireInt,
  requireNumber,
  requireOneOf,
  tf,
  type Scalar,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { CapacityPolicy, type CapacityPolicyConfig, type CapacitySpec } from './CapacityPolicy.js';
import { routingCounts } from './counts.js';
import { LinearExpertRouter } from './LinearExpertRouter.js';
import type { ParameterScope } from './ParameterScope.js';
import { checkKeys, checkRouteInput, readValidity, requireLive, seededVariable } from './common.js';
import {
  emptySlots,
  flattenSlots,
  gatherWeights,
  givenScores,
  routerDistribution,
  type GivenScores,
} from './expertAssignments.js';
import { meanWeights, routerZLoss } from './losses.js';
import type { ExpertChoicePlan } from './plan.js';
import { JITTER_STREAM, streamSeed } from './randomness.js';
import type { RouteContext, Router, RouterDescription } from './Router.js';
import { topKOf } from './selection.js';
import { layoutIndexTensors } from './assignmentLayout.js';

/** Config of the expert-choice router; every field but `dModel` has a default. */
export interface ExpertChoiceRouterConfig {
  /** Model width D (required). */
  readonly dModel: number;
  /** Number of experts E (default 8). */
  readonly numExperts?: number;
  /**
   * The router's defaultCapacity, used when the block's spec gives none (default c = 1 in train
   * and eval, ceil, minimum 1, per sequence); a capacity it routes with must not be dropless.
   */
  readonly capacity?: CapacitySpec;
  /**
   * Order of an expert's slots: 'position' (default, ascending position) or 'score' (descending
   * router probability, V-MoE's expert-choice routing fills slots best first; ties to the lower position).
   */
  readonly slotOrder?: SlotOrder;
  /** Multiplicative jitter eps on the router input in training (default 0). */
  readonly jitter?: number;
  /** beta of the router z-loss (default 0: Zhou et al. use no auxiliary loss); 0 leaves it out. */
  readonly zLossCoefficient?: number;
  /** Router weights start from a truncated normal with std sqrt(initScale / D) (default 0.1). */
  readonly initScale?: number;
  /** Seed of the initial weights and of the jitter (default 0). */
  readonly seed?: number;
}

/** An `ExpertChoiceRouterConfig` checked, with every default filled. */
export interface ResolvedExpertChoiceRouterConfig extends Required<
  Omit<ExpertChoiceRouterConfig, 'capacity'>
> {
  readonly capacity: CapacityPolicyConfig;
}

function checkNotDropless(policy: CapacityPolicy): void {
  if (policy.config.dropless) {
    throw new ConfigError(
      'capacity.dropless',
      true,
      'false for expert-choice routing (each expert takes a fixed number of tokens)',
    );
  }
}

/** Every slot order. */
export const SLOT_ORDERS = ['position', 'score'] as const;
/** The order of an expert's slots: by token position or by score. */
export type SlotOrder = (typeof SLOT_ORDERS)[number];

const KEYS = [
  'dModel',
  'numExperts',
  'capacity',
  'slotOrder',
  'jitter',
  'zLossCoefficient',
  'initScale',
  'seed',
];

/** Expert-choice routing: each expert takes its top-C tokens (Zhou et al. 2022). */
export class ExpertChoiceRouter
  extends LinearExpertRouter<ResolvedExpertChoiceRouterConfig>
  implements Router<ExpertChoicePlan>
{
  static readonly className = 'expert-choice';
  readonly className = ExpertChoiceRouter.className;
  readonly kind = 'expert-choice' as const;
  readonly combineWeightRange = [0, 1] as const;
  readonly config: ResolvedExpertChoiceRouterConfig;
  readonly defaultCapacity: CapacityPolicy;
  readonly weight: Variable;

  constructor(config: ExpertChoiceRouterConfig, scope?: ParameterScope) {
    super(scope);
    if (config === null || typeof config !== 'object')
      throw new ConfigError('config', config, 'an object');
    checkKeys(config, KEYS);
    const dModel = requireInt('dModel', config.dModel, { min: 1 });
    const numExperts = requireInt('numExperts', config.numExperts ?? 8, { min: 1 });
    this.defaultCapacity = CapacityPolicy.from(config.capacity, {
      trainFactor: 1,
      evalFactor: 1,
      rounding: 'ceil',
      minimum: 1,
    });
    checkNotDropless(this.defaultCapacity);
    this.config = Object.freeze({
      dModel,
      numExperts,
      capacity: this.defaultCapacity.getConfig(),
      slotOrder: requireOneOf('slotOrder', config.slotOrder ?? 'position', SLOT_ORDERS),
      jitter: requireNumber('jitter', config.jitter ?? 0, { min: 0, max: 1 }),
      zLossCoefficient: requireNumber('zLossCoefficient', config.zLossCoefficient ?? 0, { min: 0 }),
      initScale: requireNumber('initScale', config.initScale ?? 0.1, { min: 0 }),
      seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
    });
    this.weight = seededVariable(
      this.scope,
      'weight',
      [dModel, numExperts],
      Math.sqrt(this.config.initScale / dModel),
      this.config.seed,
    );
  }

  /**
   * E experts, one slot per expert and token at most, 2 D E FLOPs per token. No causal rule: an
   * expert picks its top-C tokens of the whole group, so a token's experts depend on later ones.
   */
  describe(): RouterDescription {
    const { dModel: d, numExperts: e } = this.config;
    return { numExperts: e, topK: 1, flopsPerToken: 2 * d * e, causalModes: [] };
  }

  route(x: Tensor3D, options: Partial<RouteContext> = {}): ExpertChoicePlan {
    requireLive(this.disposed, this.className);
    checkRouteInput(x, this.config.dModel, options.mask);
    const jitter = this.config.jitter;
    const jitterSeed =
      (options.training ?? false) && jitter > 0
        ? streamSeed(options.rngSeed, this.config.seed, JITTER_STREAM)
        : undefined;
    return tf.tidy(() => {
      const { logits, probs } = routerDistribution(x, this.weight, jitter, jitterSeed);
      return this.planFrom(logits, probs, x.shape[0], x.shape[1], options) as never;
    }) as ExpertChoicePlan;
  }

  /**
   * Routes given router logits float32[B, T, E] (or, with `given: 'scores'`, probabilities; the
   * z-loss needs logits) with this router's rule and capacity, as route() would had its gating
   * network produced them; the combine weights are differentiable in the given tensor.
   */
  routeScores(
    scores: Tensor3D,
    options: Partial<RouteContext> & { readonly given?: GivenScores } = {},
  ): ExpertChoicePlan {
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
          ? this.planFrom(flat, tf.softmax(flat) as Tensor2D, b, t, options)
          : this.planFrom(undefined, flat, b, t, options)
      ) as never;
    }) as ExpertChoicePlan;
  }

  /**
   * The plan from logits (absent when probabilities were given) and probabilities float32[M, E];
   * call inside a tidy.
   */
  private planFrom(
    logits: Tensor2D | undefined,
    probs: Tensor2D,
    b: number,
    t: number,
    options: Partial<RouteContext>,
  ): ExpertChoicePlan {
    const e = this.config.numExperts;
    const training = options.training ?? false;
    const m = b * t;
    const policy = options.capacity ?? this.defaultCapacity;
    checkNotDropless(policy);
    const n = policy.groupSize(b, t, e);
    const groups = m / n;
    const valid = readValidity(options.mask, m);
    const capacity = Math.min(
      policy.capacity({ groupSize: n, numExperts: e, topK: 1, training }),
      n,
    );
    const p = probs.dataSync() as Float32Array;

    // Each expert's top-C real tokens of each group (ties to the lower position), in its
    // buffer by ascending position, or best first with slotOrder 'score'.
    const slots = emptySlots(e, groups);
    for (let g = 0; g < groups; g++) {
      const candidates: number[] = [];
      for (let tok = g * n; tok < (g + 1) * n; tok++) if (valid[tok]) candidates.push(tok);
      for (let ex = 0; ex < e; ex++) {
        const chosen = topKOf(candidates, capacity, (tok) => p[tok * e + ex] as number);
        if (this.config.slotOrder === 'position') chosen.sort((i, j) => i - j);
        for (const tok of chosen) {
          slots[ex]![g]!.push({ token: tok, source: tok * e + ex });
        }
      }
    }
    const assignments = flattenSlots(slots, groups, capacity);
    // Shape: probs [M, E] -> [M*E], gathered at token * E + expert -> [N]
    const combineWeights = gatherWeights(
      tf.reshape(probs, [m * e]) as Tensor1D,
      assignments.sources,
      gatherRows,
    );

    const auxLosses: Record<string, Scalar> = {};
    if (this.config.zLossCoefficient > 0)
      auxLosses['zLoss'] = routerZLoss(logits!, meanWeights(valid), this.config.zLossCoefficient);

    const plan: ExpertChoicePlan = {
      kind: 'expert-choice',
      batchSize: b,
      seqLen: t,
      numExperts: e,
      numGroups: groups,
      groupSize: n,
      capacity,
      ...layoutIndexTensors(assignments),
      combineWeights,
      // Shape: [M, E] -> [B, T, E]
      ...(logits ? { routerLogits: tf.reshape(logits, [b, t, e]) as Tensor3D } : {}),
      routerProbs: tf.reshape(probs, [b, t, e]) as Tensor3D,
      auxLosses,
      counts: routingCounts({
        valid,
        numExperts: e,
        tokenIndex: assignments.tokenIndex,
        expertIndex: assignments.expertIndex,
        histogram: true,
        entropy: { kind: 'categorical', probs: p, width: e },
      }),
    };
    return plan;
  }
}
