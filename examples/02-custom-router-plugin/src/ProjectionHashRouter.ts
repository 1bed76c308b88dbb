// A routing scheme written outside moderoute: hash routing by a seeded random projection, with a
// learned gate. Each token goes to the top-K experts of s = x R, where R float32[D, E] is a fixed
// Gaussian matrix drawn from the seed (random-projection locality-sensitive hashing, Charikar
// 2002: nearby x land in the same bucket); nothing about the assignment is learned, as in Hash
// Layers (Roller et al. 2021, arXiv 2106.04426). What is learned is how much each token's expert
// output counts: the combine weight is a gate sigmoid(x . w + b), through which the router gets
// its gradient. Each expert keeps at most C tokens per sequence, C from the capacity the block
// passes in (RouteContext.capacity; defaultCapacity when the block's spec names none), placed
// rank-major (every first choice before any second choice) and by position within a rank, as
// Switch and GShard do. Its causal sessions (causal()) decide token by token with running loads,
// so a model built with it decodes with the KV cache; describe() declares what FLOP counting needs.
// Axis legend: B batch, T tokens, D width, M = B*T tokens, E experts, K experts per token,
// C capacity per expert per sequence, N kept assignments.
import {
  ConfigError,
  ShapeError,
  linear,
  requireBoolean,
  requireInt,
  requireNumber,
  tf,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import {
  type CapacityPolicyConfig,
  type ParameterScope,
  type CausalContext,
  type CausalSession,
  type RouteContext,
  type Router,
  type RouterDescription,
  type TokenChoicePlan,
} from '@moderoute/routing';
import { assemblePlan, scoreTokens, type Scored, type Slot } from './projectionHashPlan.js';

export interface ProjectionHashRouterConfig {
  /** Model width D (required; the block factory sets it). */
  readonly dModel: number;
  /** Experts E (default 4; the block factory sets it). */
  readonly numExperts?: number;
  /** Experts per token K, in [1, E] (default 1). */
  readonly topK?: number;
  /**
   * The default capacity factor f: C = ceil(f * K * T / E) per expert per sequence, at least 1
   * (default 1.25); a block's capacity replaces it.
   */
  readonly capacityFactor?: number;
  /** By default, give every expert room for its whole load, dropping nothing (default false). */
  readonly dropless?: boolean;
  /** Initial gate bias: the gate starts near sigmoid(gateBias) (default 2, about 0.88). */
  readonly gateBias?: number;
  /** Seed of the projection R and the gate's initial weights (default 0; the block factory sets it). */
  readonly seed?: number;
}

const KEYS = ['dModel', 'numExperts', 'topK', 'capacityFactor', 'dropless', 'gateBias', 'seed'];

export class ProjectionHashRouter implements Router<TokenChoicePlan> {
  static readonly className = 'projection-hash';
  readonly className = ProjectionHashRouter.className;
  readonly kind = 'token-choice' as const;
  readonly combineWeightRange = [0, 1] as const;
  readonly config: Required<ProjectionHashRouterConfig>;
  /** The capacity a block gives the router when its spec names none (capacityFactor, dropless). */
  readonly defaultCapacity: Partial<CapacityPolicyConfig>;
  /** float32[D, E]: the fixed hash projection (a constant, not trained). */
  private readonly projection: Tensor2D;
  /** float32[D, 1] and float32[1]: the learned gate. */
  private readonly gateWeight: Variable;
  private readonly gateBias: Variable;
  private disposed = false;

  /** Builds the router from a config or a plain record (each field validated); `scope` owns the gate. */
  constructor(config: ProjectionHashRouterConfig | Record<string, unknown>, scope: ParameterScope) {
    if (config === null || typeof config !== 'object')
      throw new ConfigError('config', config, 'an object with dModel');
    for (const [key, value] of Object.entries(config)) {
      if (!KEYS.includes(key))
        throw new ConfigError(`config.${key}`, value, `a known option (${KEYS.join(', ')})`);
    }
    const numExperts = requireInt('numExperts', config.numExperts ?? 4, { min: 1 });
    const dropless = requireBoolean('dropless', config.dropless ?? false);
    this.config = Object.freeze({
      dModel: requireInt('dModel', config.dModel, { min: 1 }),
      numExperts,
      topK: requireInt('topK', config.topK ?? 1, { min: 1, max: numExperts }),
      capacityFactor: requireNumber('capacityFactor', config.capacityFactor ?? 1.25, {
        min: 0,
        minInclusive: false,
      }),
      dropless,
      gateBias: requireNumber('gateBias', config.gateBias ?? 2),
      seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
    });
    const { dModel: d, capacityFactor: f, seed } = this.config;
    // A plain config, not a CapacityPolicy: loaded from its URL, the plugin may see another copy
    // of @moderoute/routing than the block does (ESM beside CommonJS), so no class identity.
    this.defaultCapacity = { trainFactor: f, evalFactor: f, scaleByK: true, minimum: 1, dropless };
    // tfjs treats seed 0 as "unseeded", hence the offsets.
    this.projection = tf.randomNormal([d, numExperts], 0, 1, 'float32', seed + 1) as Tensor2D;
    const std = Math.sqrt(0.1 / d);
    this.gateWeight = scope.variable(
      'gateWeight',
      [d, 1],
      () => tf.truncatedNormal([d, 1], 0, std, 'float32', seed + 2),
      true,
    );
    this.gateBias = scope.variable(
      'gateBias',
      [1],
      () => tf.tensor1d([this.config.gateBias]),
      true,
    );
  }

  /** Sizes, FLOPs (the hash projection and the gate: 2 D E + 2 D per token) and the causal rule. */
  describe(): RouterDescription {
    const { dModel: d, numExperts: e, topK } = this.config;
    return {
      numExperts: e,
      topK,
      flopsPerToken: 2 * d * e + 2 * d,
      causalModes: ['causal'],
      defaultCausalMode: 'causal',
    };
  }

  route(x: Tensor3D, context: RouteContext): TokenChoicePlan {
    const { numExperts: e, topK: k } = this.config;
    const [b, t] = this.checkInput(x);
    const m = b * t;
    const valid = context.mask
      ? Array.from(context.mask.dataSync(), (v) => Number(v) !== 0)
      : new Array<boolean>(m).fill(true);

    return tf.tidy(() => {
      const scored = this.score(x);
      const { choices } = scored;

      // Capacity per expert per sequence: the block's formula (at most T), or the largest load.
      const policy = context.capacity;
      let capacity = Math.min(
        t,
        policy.capacity({ groupSize: t, numExperts: e, topK: k, training: context.training }),
      );
      if (policy.config.dropless) {
        const load = new Int32Array(b * e);
        for (let tok = 0; tok < m; tok++)
          if (valid[tok])
            for (let r = 0; r < k; r++) load[Math.floor(tok / t) * e + choices[tok * k + r]!]! += 1;
        capacity = Math.max(0, ...load);
      }

      // Placement, per sequence: rank-major, then by position; a full expert drops the choice.
      const lists: Slot[][][] = Array.from({ length: e }, () =>
        Array.from({ length: b }, () => []),
      );
      const kept = new Int32Array(m * k);
      let realChoices = 0;
      for (let g = 0; g < b; g++) {
        for (let r = 0; r < k; r++) {
          for (let tok = g * t; tok < (g + 1) * t; tok++) {
            if (!valid[tok]) continue;
            realChoices++;
            const list = lists[choices[tok * k + r]!]![g]!;
            if (list.length < capacity) {
              list.push({ token: tok, slot: list.length });
              kept[tok * k + r] = 1;
            }
          }
        }
      }
      return this.plan(x, scored, lists, kept, capacity, valid, realChoices) as never;
    }) as TokenChoicePlan;
  }

  /**
   * Causal decisions of one sequence: token by token in position order, each expert keeps a
   * token while it has taken fewer than its capacity for a sequence of context.capacityLength
   * tokens (running loads). Rank-major placement is causal only for K = 1 (or dropless): a
   * finite capacity with K > 1 gets a ConfigError naming topK.
   */
  causal(context: CausalContext): CausalSession<TokenChoicePlan> {
    const { numExperts: e, topK: k } = this.config;
    if (context.mode !== 'causal')
      throw new ConfigError('mode', context.mode, `'causal' for the ${this.className} router`);
    const n = context.capacityLength;
    const dropless = context.capacity.config.dropless;
    if (!dropless && k > 1)
      throw new ConfigError(
        'topK',
        k,
        '1 for causal decisions with a finite capacity (rank-major placement sees the whole ' +
          'sequence); or a dropless capacity',
      );
    const capacity = dropless
      ? Infinity
      : Math.min(n, context.capacity.capacity({ groupSize: n, numExperts: e, topK: k }));
    const loads = new Int32Array(e);
    return {
      step: (x: Tensor3D): TokenChoicePlan => {
        const t = this.checkInput(x)[1];
        return tf.tidy(() => {
          const scored = this.score(x);
          const lists: Slot[][][] = Array.from({ length: e }, () => [[]]);
          const kept = new Int32Array(t * k);
          for (let tok = 0; tok < t; tok++) {
            for (let r = 0; r < k; r++) {
              const ex = scored.choices[tok * k + r]!;
              if (loads[ex]! >= capacity) continue;
              lists[ex]![0]!.push({ token: tok, slot: loads[ex]! });
              loads[ex]! += 1;
              kept[tok * k + r] = 1;
            }
          }
          const planCapacity = Number.isFinite(capacity) ? capacity : Math.max(1, ...loads);
          const valid = new Array<boolean>(t).fill(true);
          return this.plan(x, scored, lists, kept, planCapacity, valid, t * k) as never;
        }) as TokenChoicePlan;
      },
    };
  }

  /** Checks x float32[B, T, D]; returns [B, T]. */
  private checkInput(x: Tensor3D): [number, number] {
    if (this.disposed) throw new Error(`This ${this.className} router has been disposed`);
    const d = this.config.dModel;
    if (x.rank !== 3 || x.shape[2] !== d || x.dtype !== 'float32')
      throw new ShapeError('x.shape', x.shape, `float32 [B, T, ${d}]`);
    return [x.shape[0], x.shape[1]];
  }

  /** Hash scores of x float32[B, T, D] and each token's top-K experts; call inside a tidy. */
  private score(x: Tensor3D): Scored {
    const { dModel: d, numExperts: e, topK: k } = this.config;
    return scoreTokens(
      tf.reshape(x, [x.shape[0] * x.shape[1], d]) as Tensor2D,
      this.projection,
      e,
      k,
    );
  }

  /** The plan of kept assignments, weighted by the learned gate sigmoid(x . w + b); inside a tidy. */
  private plan(
    x: Tensor3D,
    scored: Scored,
    lists: Slot[][][],
    kept: Int32Array,
    capacity: number,
    valid: readonly boolean[],
    realChoices: number,
  ): TokenChoicePlan {
    const m = x.shape[0] * x.shape[1];
    // Shape: [M, D] @ [D, 1] -> [M, 1] -> [M]
    const gate = tf.reshape(
      tf.sigmoid(linear(scored.rows, this.gateWeight as Tensor2D, this.gateBias as Tensor1D)),
      [m],
    ) as Tensor1D;
    const { numExperts, topK } = this.config;
    return assemblePlan({
      x,
      scored,
      lists,
      kept,
      capacity,
      valid,
      realChoices,
      gate,
      numExperts,
      topK,
    });
  }

  /** The learned gate's current bias (the gate's variables belong to the scope). */
  gateBiasValue(): number {
    return this.gateBias.dataSync()[0] as number;
  }

  getConfig(): Record<string, unknown> {
    return { ...this.config };
  }

  /** Frees what the router owns: the projection constant (the scope frees the gate). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.projection.dispose();
  }
}
