// A routing scheme written outside moderoute: hash routing by a seeded random projection, with a
// learned gate. Each token goes to the top-K experts of s = x R, where R float32[D, E] is a fixed
// Gaussian matrix drawn from the seed (random-projection locality-sensitive hashing, Charikar
// 2002: nearby x land in the same bucket); nothing about the assignment is learned, as in Hash
// Layers (Roller et al. 2021, arXiv 2106.04426). What is learned is how much each token's expert
// output counts: the combine weight is a gate sigmoid(x . w + b), through which the router gets
// its gradient. Each expert keeps at most C tokens per sequence, placed rank-major (every first
// choice before any second choice) and by position within a rank, as Switch and GShard do.
// Axis legend: B batch, T tokens, D width, M = B*T tokens, E experts, K experts per token,
// C capacity per expert per sequence, N kept assignments.
import {
  ConfigError,
  ShapeError,
  gatherRows,
  linear,
  requireInt,
  requireNumber,
  tf,
  type Scalar,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import {
  CapacityPolicy,
  stopGradient,
  topKOf,
  type ParameterScope,
  type RouteOptions,
  type Router,
  type TokenChoicePlan,
} from '@moderoute/routing';

export interface ProjectionHashRouterConfig {
  /** Model width D (required; the block factory sets it). */
  readonly dModel: number;
  /** Experts E (default 4; the block factory sets it). */
  readonly numExperts?: number;
  /** Experts per token K, in [1, E] (default 1). */
  readonly topK?: number;
  /** Capacity factor f: C = ceil(f * K * T / E) per expert per sequence, at least 1 (default 1.25). */
  readonly capacityFactor?: number;
  /** Give every expert room for its whole load, dropping nothing (default false). */
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
  /** Read by the block factory for the analytic FLOP count (tokens each expert processes). */
  readonly capacityPolicy: CapacityPolicy;
  /** float32[D, E]: the fixed hash projection (a constant, not trained). */
  private readonly projection: Tensor2D;
  /** float32[D, 1] and float32[1]: the learned gate. */
  private readonly gateWeight: Variable;
  private readonly gateBias: Variable;
  private disposed = false;

  /** Builds the router, creating its learned gate in `scope` (which owns it). */
  constructor(config: ProjectionHashRouterConfig, scope: ParameterScope) {
    if (config === null || typeof config !== 'object')
      throw new ConfigError('config', config, 'an object with dModel');
    for (const key of Object.keys(config)) {
      if (!KEYS.includes(key))
        throw new ConfigError(
          `config.${key}`,
          (config as unknown as Record<string, unknown>)[key],
          `a known option (${KEYS.join(', ')})`,
        );
    }
    const numExperts = requireInt('numExperts', config.numExperts ?? 4, { min: 1 });
    const dropless = config.dropless ?? false;
    if (typeof dropless !== 'boolean') throw new ConfigError('dropless', dropless, 'a boolean');
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
    this.capacityPolicy = new CapacityPolicy({
      trainFactor: f,
      evalFactor: f,
      scaleByK: true,
      minimum: 1,
      dropless,
    });
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

  route(x: Tensor3D, options: RouteOptions = {}): TokenChoicePlan {
    if (this.disposed) throw new Error(`This ${this.className} router has been disposed`);
    const { dModel: d, numExperts: e, topK: k } = this.config;
    if (x.rank !== 3 || x.shape[2] !== d || x.dtype !== 'float32')
      throw new ShapeError('x.shape', x.shape, `float32 [B, T, ${d}]`);
    const [b, t] = x.shape;
    const m = b * t;
    const valid = options.mask
      ? Array.from(options.mask.dataSync(), (v) => Number(v) !== 0)
      : new Array<boolean>(m).fill(true);

    return tf.tidy(() => {
      // Shape: [B, T, D] -> [M, D]
      const rows = tf.reshape(x, [m, d]) as Tensor2D;
      // Shape: [M, D] @ [D, E] -> [M, E]: hash scores, read on the host only
      const logits = tf.matMul(stopGradient(rows) as Tensor2D, this.projection);
      const probs = tf.softmax(logits);
      const p = probs.dataSync();

      // Top-K experts of each token by score, ties to the lower expert.
      const experts = Array.from({ length: e }, (_, i) => i);
      const choices = new Int32Array(m * k);
      for (let tok = 0; tok < m; tok++)
        choices.set(
          topKOf(experts, k, (ex) => p[tok * e + ex]!),
          tok * k,
        );

      // Capacity per expert per sequence: the formula (at most T), or the largest load.
      let capacity = Math.min(
        t,
        this.capacityPolicy.capacity({
          groupSize: t,
          numExperts: e,
          topK: k,
          training: options.training ?? false,
        }),
      );
      if (this.config.dropless) {
        const load = new Int32Array(b * e);
        for (let tok = 0; tok < m; tok++)
          if (valid[tok])
            for (let r = 0; r < k; r++) load[Math.floor(tok / t) * e + choices[tok * k + r]!]! += 1;
        capacity = Math.max(0, ...load);
      }

      // Placement, per sequence: rank-major, then by position; a full expert drops the choice.
      const lists: number[][][] = Array.from({ length: e }, () =>
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
              list.push(tok);
              kept[tok * k + r] = 1;
            }
          }
        }
      }

      // Assignments ordered by (expert, sequence, slot).
      const tokenIndex: number[] = [];
      const expertIndex: number[] = [];
      const slotIndex: number[] = [];
      const bufferIndex: number[] = [];
      const expertCounts = lists.map((perSequence, ex) => {
        perSequence.forEach((list, g) =>
          list.forEach((tok, slot) => {
            tokenIndex.push(tok);
            expertIndex.push(ex);
            slotIndex.push(slot);
            bufferIndex.push((ex * b + g) * capacity + slot);
          }),
        );
        return perSequence.reduce((a, list) => a + list.length, 0);
      });
      const n = tokenIndex.length;

      // Combine weights, differentiable in the gate: sigmoid(x . w + b) gathered at the kept tokens.
      // Shape: [M, D] @ [D, 1] -> [M, 1] -> [M]
      const gate = tf.reshape(
        tf.sigmoid(
          linear(
            rows,
            this.gateWeight as unknown as Tensor2D,
            this.gateBias as unknown as Tensor1D,
          ),
        ),
        [m],
      ) as Tensor1D;
      const tokens = tf.tensor1d(tokenIndex, 'int32');
      const combineWeights = n === 0 ? (tf.zeros([0]) as Tensor1D) : gatherRows(gate, tokens);

      let entropy = 0;
      let real = 0;
      for (let tok = 0; tok < m; tok++) {
        if (!valid[tok]) continue;
        real++;
        for (let ex = 0; ex < e; ex++)
          entropy -= p[tok * e + ex]! > 0 ? p[tok * e + ex]! * Math.log(p[tok * e + ex]!) : 0;
      }

      const plan: TokenChoicePlan = {
        kind: 'token-choice',
        batchSize: b,
        seqLen: t,
        numExperts: e,
        topK: k,
        numGroups: b,
        groupSize: t,
        capacity,
        tokenIndex: tokens,
        expertIndex: tf.tensor1d(expertIndex, 'int32'),
        slotIndex: tf.tensor1d(slotIndex, 'int32'),
        bufferIndex: tf.tensor1d(bufferIndex, 'int32'),
        expertCounts,
        combineWeights,
        // Shape: [M, E] -> [B, T, E]; [M*K] -> [B, T, K]
        routerLogits: tf.reshape(logits, [b, t, e]) as Tensor3D,
        routerProbs: tf.reshape(probs, [b, t, e]) as Tensor3D,
        choices: tf.tensor3d(choices, [b, t, k], 'int32'),
        choiceKept: tf.tensor3d(kept, [b, t, k], 'int32'),
        auxLosses: {} as Record<string, Scalar>,
        metrics: {
          load: expertCounts,
          droppedFraction: realChoices > 0 ? 1 - n / realChoices : 0,
          entropy: real > 0 ? entropy / real : 0,
        },
      };
      return plan as never;
    }) as TokenChoicePlan;
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
