// Token-choice routing (Switch Transformer, Fedus et al. 2021; GShard, Lepikhin et al. 2020):
// each token picks its top-K experts by router probability; each expert keeps at most C tokens
// per group. Axis legend: B batch, T tokens, D width, M = B*T, E experts, K experts per token,
// G groups, n tokens per group, C capacity, N kept assignments.
//
// Order of placement: every top-1 choice of a group is placed before any top-2 choice (GShard
// section 2.2, flaxformer's rank-major cumsum); within a rank tokens go by position, or by their
// top-1 probability, highest first ('score', batch-prioritized routing, Riquelme et al. 2021).
// A choice that finds its expert full is dropped: it has no assignment, so it contributes
// exactly zero. Top-K and placement run on the host over detached probabilities; the combine
// weights are the probabilities gathered at the kept (token, expert) pairs with core's
// gatherRows, so the router weights get gradients through them.
import {
  ConfigError,
  gatherRows,
  requireInt,
  requireNumber,
  requireOneOf,
  tf,
  type Scalar,
  type Tensor1D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { CapacityPolicy, type CapacityPolicyConfig, type CapacitySpec } from './CapacityPolicy.js';
import { LinearExpertRouter } from './LinearExpertRouter.js';
import { checkKeys, checkRouteInput, int32, readValidity, requireBoolean, requireLive, seededVariable } from './common.js';
import { emptySlots, flattenSlots, gatherWeights, routerDistribution, type Slot } from './expertAssignments.js';
import { loadBalancingCoefficients, loadBalancingLoss, meanEntropy, meanWeights, routerZLoss } from './losses.js';
import type { RouteOptions, TokenChoicePlan } from './plan.js';
import type { Router } from './Router.js';

export const OVERFLOW_PRIORITIES = ['position', 'score'] as const;
export type OverflowPriority = (typeof OVERFLOW_PRIORITIES)[number];

export interface TokenChoiceRouterConfig {
  /** Model width D (required). */
  readonly dModel: number;
  /** Number of experts E (default 8). */
  readonly numExperts?: number;
  /** Experts per token K, in [1, E] (default 1, Switch). */
  readonly topK?: number;
  /** Capacity policy: preset name, config or policy (default the 'switch' preset, per sequence). */
  readonly capacity?: CapacitySpec;
  /** Who gets a full expert's last slots: 'position' (default) or 'score' (batch-prioritized). */
  readonly priority?: OverflowPriority;
  /** Divide each token's K weights by their sum (GShard top-2; default false). */
  readonly renormalize?: boolean;
  /** Multiplicative jitter eps on the router input in training (default 0; Switch used 1e-2). */
  readonly jitter?: number;
  /** alpha of the load-balancing loss (default 1e-2, Switch); 0 leaves the loss out. */
  readonly loadBalancingCoefficient?: number;
  /** beta of the router z-loss (default 1e-3, ST-MoE); 0 leaves the loss out. */
  readonly zLossCoefficient?: number;
  /** Router weights start from a truncated normal with std sqrt(initScale / D) (default 0.1, Switch). */
  readonly initScale?: number;
  /** Seed of the initial weights and of the jitter (default 0). */
  readonly seed?: number;
}

export interface ResolvedTokenChoiceRouterConfig extends Required<Omit<TokenChoiceRouterConfig, 'capacity'>> {
  readonly capacity: CapacityPolicyConfig;
}

const KEYS = ['dModel', 'numExperts', 'topK', 'capacity', 'priority', 'renormalize', 'jitter', 'loadBalancingCoefficient', 'zLossCoefficient', 'initScale', 'seed'];

export class TokenChoiceRouter extends LinearExpertRouter<ResolvedTokenChoiceRouterConfig> implements Router<TokenChoicePlan> {
  static readonly className = 'token-choice';
  readonly className = TokenChoiceRouter.className;
  readonly kind = 'token-choice' as const;
  readonly combineWeightRange = [0, 1] as const;
  readonly config: ResolvedTokenChoiceRouterConfig;
  readonly capacity: CapacityPolicy;
  readonly weight: Variable;
  private trainingCalls = 0;

  constructor(config: TokenChoiceRouterConfig) {
    super();
    if (config === null || typeof config !== 'object') throw new ConfigError('config', config, 'an object');
    checkKeys(config, KEYS);
    const dModel = requireInt('dModel', config.dModel, { min: 1 });
    const numExperts = requireInt('numExperts', config.numExperts ?? 8, { min: 1 });
    const topK = requireInt('topK', config.topK ?? 1, { min: 1 });
    if (topK > numExperts) throw new ConfigError('topK', topK, `<= numExperts (${numExperts})`);
    this.capacity = CapacityPolicy.from(config.capacity, { preset: 'switch' });
    this.config = Object.freeze({
      dModel,
      numExperts,
      topK,
      capacity: this.capacity.getConfig(),
      priority: requireOneOf('priority', config.priority ?? 'position', OVERFLOW_PRIORITIES),
      renormalize: requireBoolean('renormalize', config.renormalize ?? false),
      jitter: requireNumber('jitter', config.jitter ?? 0, { min: 0, max: 1 }),
      loadBalancingCoefficient: requireNumber('loadBalancingCoefficient', config.loadBalancingCoefficient ?? 1e-2, { min: 0 }),
      zLossCoefficient: requireNumber('zLossCoefficient', config.zLossCoefficient ?? 1e-3, { min: 0 }),
      initScale: requireNumber('initScale', config.initScale ?? 0.1, { min: 0 }),
      seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
    });
    this.weight = seededVariable([dModel, numExperts], Math.sqrt(this.config.initScale / dModel), this.config.seed);
  }

  route(x: Tensor3D, options: RouteOptions = {}): TokenChoicePlan {
    requireLive(this.disposed, this.className);
    checkRouteInput(x, this.config.dModel, options.mask);
    const { numExperts: e, topK: k, priority, renormalize, jitter } = this.config;
    const policy = this.capacity.config;
    const training = options.training ?? false;
    const [b, t] = x.shape;
    const m = b * t;
    const n = policy.group === 'sequence' ? t : m;
    const groups = m / n;
    const valid = readValidity(options.mask, m);
    const jitterSeed = training && jitter > 0 ? this.config.seed * 7919 + 104729 * ++this.trainingCalls : undefined;

    return tf.tidy(() => {
      const { logits, probs } = routerDistribution(x, this.weight, jitter, jitterSeed);
      const p = probs.dataSync() as Float32Array;

      // Top-K experts per token, best first, ties to the lower expert index.
      const choices = new Int32Array(m * k);
      for (let tok = 0; tok < m; tok++) {
        for (let r = 0; r < k; r++) {
          let best = -1;
          for (let ex = 0; ex < e; ex++) {
            let taken = false;
            for (let q = 0; q < r; q++) if (choices[tok * k + q] === ex) taken = true;
            if (!taken && (best < 0 || (p[tok * e + ex] as number) > (p[tok * e + best] as number))) best = ex;
          }
          choices[tok * k + r] = best;
        }
      }

      // Capacity: the policy's formula (at most n: a token takes an expert once), or the
      // largest load of any expert in any group when dropless.
      let capacity: number;
      if (policy.dropless) {
        const load = new Int32Array(groups * e);
        for (let tok = 0; tok < m; tok++) {
          if (!valid[tok]) continue;
          for (let r = 0; r < k; r++) load[Math.floor(tok / n) * e + (choices[tok * k + r] as number)]! += 1;
        }
        capacity = load.reduce((a, v) => Math.max(a, v), 0);
      } else {
        capacity = Math.min(this.capacity.capacity({ groupSize: n, numExperts: e, topK: k, training }), n);
      }

      // Placement: rank-major, then priority order within each group.
      const slots = emptySlots(e, groups);
      const kept = new Int32Array(m * k);
      const filled = new Int32Array(groups * e);
      let realChoices = 0;
      let dropped = 0;
      for (let g = 0; g < groups; g++) {
        const order = Array.from({ length: n }, (_, i) => g * n + i);
        if (priority === 'score') {
          const top1 = (tok: number) => p[tok * e + (choices[tok * k] as number)] as number;
          order.sort((i, j) => (top1(i) === top1(j) ? i - j : top1(j) > top1(i) ? 1 : -1));
        }
        for (let r = 0; r < k; r++) {
          for (const tok of order) {
            if (!valid[tok]) continue;
            realChoices++;
            const ex = choices[tok * k + r] as number;
            const used = filled[g * e + ex] as number;
            if (used < capacity) {
              filled[g * e + ex] = used + 1;
              kept[tok * k + r] = 1;
              (slots[ex]![g] as Slot[]).push({ token: tok, source: renormalize ? tok * k + r : tok * e + ex });
            } else {
              dropped++;
            }
          }
        }
      }
      const assignments = flattenSlots(slots, groups, capacity);

      // Combine weights, differentiable: probabilities (optionally renormalized over the K
      // choices, before any drop) gathered at the kept pairs.
      // Shape: probs [M, E] -> [M*E]
      const flatProbs = tf.reshape(probs, [m * e]) as Tensor1D;
      let table = flatProbs;
      if (renormalize) {
        const choiceSources = new Int32Array(m * k);
        for (let tok = 0; tok < m; tok++) for (let r = 0; r < k; r++) choiceSources[tok * k + r] = tok * e + (choices[tok * k + r] as number);
        // Shape: gather [M*K] -> [M, K], normalized over K -> [M*K]
        const top = tf.reshape(gatherRows(flatProbs, int32(choiceSources) as Tensor1D), [m, k]);
        table = tf.reshape(tf.div(top, tf.sum(top, 1, true)), [m * k]) as Tensor1D;
      }
      const combineWeights = gatherWeights(table, assignments.sources, gatherRows);

      const auxLosses: Record<string, Scalar> = {};
      if (this.config.loadBalancingCoefficient > 0) {
        const coefficients = loadBalancingCoefficients(choices, valid, m, e, k, n, this.config.loadBalancingCoefficient);
        auxLosses['loadBalancing'] = loadBalancingLoss(probs, coefficients);
      }
      if (this.config.zLossCoefficient > 0) auxLosses['zLoss'] = routerZLoss(logits, meanWeights(valid), this.config.zLossCoefficient);

      const plan: TokenChoicePlan = {
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
        routerLogits: tf.reshape(logits, [b, t, e]) as Tensor3D,
        routerProbs: tf.reshape(probs, [b, t, e]) as Tensor3D,
        choices: int32(choices, [b, t, k]) as Tensor3D,
        choiceKept: int32(kept, [b, t, k]) as Tensor3D,
        auxLosses,
        metrics: {
          load: assignments.expertCounts,
          droppedFraction: realChoices > 0 ? dropped / realChoices : 0,
          entropy: meanEntropy(p, valid, e),
        },
      };
      return plan as never;
    }) as TokenChoicePlan;
  }
}
