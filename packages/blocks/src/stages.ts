// One routing stage of a block: its router and the capacity the block gives it, routed either
// non-causally (top-k) or, under a causal rule, through one causal session per sequence
// (routeCausally), so that the forward pass decides as decoding does.
// Axis legend: B batch, T tokens, D width.
import { ConfigError, deriveSeed, type Tensor, type Tensor3D } from '@moderoute/core';
import {
  CapacityPolicy,
  hasCausalForm,
  routeCausally,
  type CausalMode,
  type DecisionMode,
  type Router,
  type RoutingPlan,
} from '@moderoute/routing';
import type { BlockForwardOptions } from './Block.js';

/** A router and the capacity its block gives it. */
export interface Stage<P extends RoutingPlan> {
  /** The key of this stage's plan in BlockOutput.routing ('mod', 'experts'). */
  readonly key: string;
  readonly router: Router<P>;
  readonly capacity: CapacityPolicy;
}

/** Which router of a block: 'depthRouter' or 'expertRouter' (for error messages). */
export type StageName = 'depthRouter' | 'expertRouter';

/** The stage part of a routing call's seed: deriveSeed(block's rngSeed, STAGE_STREAMS[stage]). */
export const STAGE_STREAMS: Readonly<Record<StageName, number>> = {
  depthRouter: 0,
  expertRouter: 1,
};

/**
 * The causal rule a stage's sessions use under the block-level rule `requested`: a
 * Mixture-of-Depths stage takes 'threshold' or 'predictor' as given (its router's causal() refuses
 * a rule it does not support, with a ConfigError naming `mode`); otherwise, and for 'causal' or no
 * rule, the router's defaultCausalMode. A router without a causal form gets a ConfigError naming
 * the stage.
 */
export function stageCausalMode(
  router: Router,
  requested: DecisionMode | CausalMode | undefined,
  where: string,
  stage: StageName,
): CausalMode {
  const description = router.describe();
  const mode = description.defaultCausalMode ?? description.causalModes[0];
  if (router.causal === undefined || mode === undefined) {
    throw new ConfigError(
      `${where}.${stage}`,
      router.className,
      `a router with a causal form for causal decisions: the ${router.className} router declares no causal rule` +
        (router.kind === 'expert-choice'
          ? ' (expert-choice routing lets each expert pick its top-C tokens of the whole sequence, ' +
            "so a token's experts depend on later tokens, Zhou et al. 2022); train with token-choice " +
            'routing (top-1 with position priority, or dropless) to sample'
          : ''),
    );
  }
  if (router.kind !== 'mixture-of-depths' || requested === undefined) return mode;
  if (requested === 'causal' || requested === 'top-k') return mode;
  return requested;
}

/**
 * Runs `open` (which asks a router for causal sessions); a ConfigError naming one of the router's
 * options gets the stage's place as prefix ("blocks[3].expertRouter.placement").
 */
export function naming<R>(where: string, stage: StageName, open: () => R): R {
  try {
    return open();
  } catch (error) {
    if (error instanceof ConfigError && error.parameter !== 'mode')
      throw new ConfigError(`${where}.${stage}.${error.parameter}`, error.value, error.expected);
    throw error;
  }
}

/**
 * Routes x float32[B, T, D] for one stage: non-causally under 'top-k', else through causal
 * sessions when the router has a causal form (a router without one routes with the mode).
 * Training takes 'top-k' only: a ConfigError naming `mode` otherwise.
 */
export function routeStage<P extends RoutingPlan>(
  stage: Stage<P>,
  x: Tensor3D,
  options: BlockForwardOptions,
  where: { readonly block: string; readonly stage: StageName },
  mask: Tensor | undefined = options.mask,
): P {
  const mode = options.mode ?? 'top-k';
  // Causal sessions return plans without auxiliary losses, and token-choice sessions decide on the
  // host (no gradient to the router): a training forward under a causal rule would silently lose
  // both, so it is refused.
  if (options.training && mode !== 'top-k')
    throw new ConfigError(
      'mode',
      mode,
      "'top-k' when training (causal rules are for evaluation and decoding)",
    );
  if (mode !== 'top-k' && hasCausalForm(stage.router)) {
    const context = {
      mode: stageCausalMode(stage.router, mode, where.block, where.stage),
      capacity: stage.capacity,
      capacityLength: options.capacityLength ?? x.shape[1],
    };
    return naming(where.block, where.stage, () => routeCausally(stage.router, x, mask, context));
  }
  return stage.router.route(x, {
    training: options.training,
    capacity: stage.capacity,
    ...(mask === undefined ? {} : { mask }),
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(options.rngSeed === undefined
      ? {}
      : { rngSeed: deriveSeed(options.rngSeed, STAGE_STREAMS[where.stage]) }),
  });
}

/** A capacity that never drops a token (decoding with expertCapacity 'dropless'). */
export const DROPLESS = new CapacityPolicy({ dropless: true });
