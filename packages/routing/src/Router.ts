// The Router contract every routing scheme implements, built-in or plugin.
import type { Tensor3D } from '@moderoute/core';
import type { CausalCutSamples, RouteOptions, RoutingKind, RoutingPlan } from './plan.js';
import type { RouterStatistics } from './statistics.js';

export interface Router<P extends RoutingPlan = RoutingPlan> {
  /** The registry name of the scheme (stable, used in configs). */
  readonly className: string;
  /** The kind of plan `route` returns. */
  readonly kind: RoutingKind;
  /** Documented closed range of the combine weights (may be infinite). */
  readonly combineWeightRange: readonly [number, number];
  /**
   * Routes float32[B, T, D]. Deterministic given inputs, config (seed included) and the
   * options (options.rngSeed keys the jitter); ties go to the lower position. Never changes the
   * router's state: what it learns from a training batch returns in `plan.statistics`. The
   * caller owns the plan's tensors (dispose with disposePlan, or call inside tf.tidy).
   */
  route(x: Tensor3D, options?: RouteOptions): P;
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
