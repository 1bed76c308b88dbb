// The routers' statistics of one training forward pass, collected by router, and their fold
// into the routers once per step (Router.foldStatistics). Keys name a router as checkpoints do,
// `blocks.<i>.routers.<r>`: block i's r-th router, the one that routed the r-th stage of
// BlockOutput.routing (blocks list their routers in stage order; a stage that did not run, such
// as staged MoDE's experts when no token was selected, is absent and comes last).
import type { RouterStatistics } from '@moderoute/routing';
import type { ForwardResult, LanguageModel } from './LanguageModel.js';

/** The statistics of one forward pass (one replica's rows), by router key. */
export type ModelStatistics = Readonly<Record<string, RouterStatistics>>;

/** The statistics the plans of a training forward pass carry, by router key. */
export function routerStatisticsOf(routing: ForwardResult['routing']): ModelStatistics {
  const out: Record<string, RouterStatistics> = {};
  routing.forEach((plans, i) => {
    Object.values(plans).forEach((plan, r) => {
      if (plan.statistics !== undefined) out[`blocks.${i}.routers.${r}`] = plan.statistics;
    });
  });
  return out;
}

/**
 * Folds one training step's statistics into the model's routers: `perReplica` holds each
 * replica's (in replica order; one entry for a step on one thread). Every router with a
 * foldStatistics gets the list of its statistics, possibly empty, exactly once.
 */
export function foldRouterStatistics(
  model: LanguageModel,
  perReplica: readonly ModelStatistics[],
): void {
  model.blocks.forEach((block, i) => {
    block.routers().forEach((router, r) => {
      if (router.foldStatistics === undefined) return;
      const key = `blocks.${i}.routers.${r}`;
      router.foldStatistics(perReplica.flatMap((s) => (s[key] ? [s[key]] : [])));
    });
  });
}
