// The Router contract every routing scheme implements, built-in or plugin: what a block gives
// each routing call (RouteContext), what FLOP counting, decoding and the CLI need to know about a
// router (RouterDescription, declared, never probed), and causal decisions token block by token
// block (CausalSession), which decoding and the forward pass under a causal rule both use.
// Axis legend: B batch, T tokens, D width, n new tokens of one sequence.
import type { Tensor, Tensor3D } from '@moderoute/core';
import type { CapacityPolicy, CapacitySpec } from './CapacityPolicy.js';
import type { CausalCutSamples, DecisionMode, RoutingKind, RoutingPlan } from './plan.js';
import type { RouterStatistics } from './statistics.js';

/** What the caller (a block) gives each routing call. */
export interface RouteContext {
  /** Training mode: the train capacity factor, jitter. */
  readonly training: boolean;
  /** float32, int32 or bool [B, T]: non-zero for a real token, zero for padding (never routed). */
  readonly mask?: Tensor;
  /** Mixture-of-Depths decision rule (default 'top-k'); expert routers ignore it. */
  readonly mode?: DecisionMode;
  /** The block's capacity for this stage; the router evaluates it for its own groups. */
  readonly capacity: CapacityPolicy;
  /**
   * Seed of this call's randomness (jitter, noisy gating), derived by the caller with core's
   * deriveSeed(runSeed, step, replica, blockIndex, stage); absent: the router's own seed
   * (deterministic, the same noise every call). Routers keep no call counters.
   */
  readonly rngSeed?: number;
}

/**
 * The causal decision rules: Mixture-of-Depths' 'threshold' (r > tau) and 'predictor' (an MLP's
 * logit > its cut), Raposo et al. 2024 section 3.5; 'causal' for an expert router that decides
 * token by token with running per-expert loads (token-choice).
 */
export type CausalMode = 'threshold' | 'predictor' | 'causal';
/** Every causal rule. */
export const CAUSAL_RULES: readonly CausalMode[] = ['threshold', 'predictor', 'causal'];

/** What FLOP counting, decoding and the CLI need to know about a router, declared (never probed). */
export interface RouterDescription {
  /** Experts the router chooses among (1 for Mixture-of-Depths). */
  readonly numExperts: number;
  /** Experts per token K (1 for Mixture-of-Depths and expert-choice). */
  readonly topK: number;
  /** Forward FLOPs of routing one token (2 D E for a linear router; more with a predictor MLP). */
  readonly flopsPerToken: number;
  /** The causal decision rules `causal()` accepts (empty: the router cannot decide causally). */
  readonly causalModes: readonly CausalMode[];
  /** The rule used when the caller names none (undefined: the router cannot decide causally). */
  readonly defaultCausalMode?: CausalMode;
}

/** What a causal session needs from its caller. */
export interface CausalContext {
  /** The decision rule, one of describe().causalModes. */
  readonly mode: CausalMode;
  /** The block's capacity for this stage. */
  readonly capacity: CapacityPolicy;
  /**
   * The sequence length at which a causal expert router evaluates its capacity, in both decoding
   * and the forward pass: the model's contextLength (a token is dropped when its expert has
   * already taken capacity(capacityLength) earlier tokens of the sequence).
   */
  readonly capacityLength: number;
}

/**
 * The causal decisions of one sequence: `step` routes its next n tokens float32[1, n, D], given
 * every token before them (the session's state: running expert loads, ...), and returns a plan
 * over [1, n] (evaluation mode, every token real). The caller owns the plan's tensors.
 */
export interface CausalSession<P extends RoutingPlan = RoutingPlan> {
  /** Routes the sequence's next tokens float32[1, n, D], given the earlier ones. */
  step(x: Tensor3D): P;
}

/**
 * The router contract: a plan from activations and the caller's context, a default capacity, a
 * description, and optionally causal sessions.
 */
export interface Router<P extends RoutingPlan = RoutingPlan> {
  /** The registry name of the scheme (stable, used in configs). */
  readonly className: string;
  /** The kind of plan `route` returns. */
  readonly kind: RoutingKind;
  /** Documented closed range of the combine weights (may be infinite). */
  readonly combineWeightRange: readonly [number, number];
  /**
   * The capacity a block gives this router when its spec names none (token-choice: the 'switch'
   * preset; Mixture-of-Depths: 12.5% of each sequence).
   */
  readonly defaultCapacity: CapacitySpec;
  /** Sizes, FLOPs and causal rules of the router. */
  describe(): RouterDescription;
  /**
   * Routes float32[B, T, D] with the caller's capacity. Deterministic given inputs, config and
   * context (the seed of its randomness included); ties go to the lower position. Never changes
   * the router's state: what it learns from a training batch returns in `plan.statistics`. The
   * caller owns the plan's tensors (dispose with disposePlan, or call inside tf.tidy).
   */
  route(x: Tensor3D, context: RouteContext): P;
  /**
   * Causal decisions for one sequence, token block by token block (Raposo et al. 2024,
   * section 3.5). Absent, or throwing a ConfigError that names the option, when the router cannot
   * decide causally under the context (describe().causalModes empty, an unsupported mode, a
   * capacity rule that ranks a token against later ones). Decoding and the forward pass under a
   * causal rule both use it (a fresh session per sequence), so that they agree and a sequence's
   * outputs do not depend on the other sequences of its batch.
   */
  causal?(context: CausalContext): CausalSession<P>;
  /**
   * Folds the statistics the plans of one training step returned (`plan.statistics`, from one
   * or many replicas, in replica order) into the router's state (the MoD cuts). Called by the
   * training step once per step, on the thread that owns the parameters; `route` itself never
   * changes the router's state. Routers without learned state omit it.
   */
  foldStatistics?(statistics: readonly RouterStatistics[]): void;
  /**
   * Optional, for Mixture-of-Depths routers with causal rules (Raposo et al. 2024, section 3.5):
   * sets each rule's cut to the exact top-k quantile of the samples' decision values, so that
   * the rule selects top-k's fraction of them (see MixtureOfDepthsRouter.calibrateCausalCuts).
   */
  calibrateCausalCuts?(samples: CausalCutSamples): void;
  /** The resolved config, as JSON: `new Router(getConfig())` rebuilds an equal router. */
  getConfig(): Record<string, unknown>;
  /**
   * Routing afterwards throws. The router's variables belong to the ParameterScope it was built
   * with (RouterFactory): a block's store frees them; a router built without a scope frees its own.
   */
  dispose(): void;
}
