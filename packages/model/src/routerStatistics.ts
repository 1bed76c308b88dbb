// The routers' statistics of one training forward pass, collected by router, and their fold
// into the routers once per step (Router.foldStatistics). Keys name a router as checkpoints do,
// `blocks.<i>.routers.<r>`: block i's r-th router in `routers()`. A plan is matched to its
// router through the block's stages (`Block.stages()`: each stage's plan key in
// BlockOutput.routing and its router), not by position; a stage that did not run (staged MoDE's
// experts when no token was selected) has no plan and contributes nothing.
import { ConfigError } from '@moderoute/core';
import type { RouterStatistics } from '@moderoute/routing';
import type { ForwardResult, LanguageModel } from './LanguageModel.js';

/** The statistics of one forward pass (one replica's rows), by router key. */
export type ModelStatistics = Readonly<Record<string, RouterStatistics>>;

/** The statistics the plans of a training forward pass of `model` carry, by router key. */
export function routerStatisticsOf(
  model: Pick<LanguageModel, 'blocks'>,
  routing: ForwardResult['routing'],
): ModelStatistics {
  const out: Record<string, RouterStatistics> = {};
  routing.forEach((plans, i) => {
    const block = model.blocks[i];
    if (block === undefined) return;
    const routers = block.routers();
    block.stages().forEach((stage, s) => {
      const statistics = plans[stage.key]?.statistics;
      if (statistics === undefined) return;
      const r = routers.indexOf(stage.router);
      if (r < 0)
        throw new ConfigError(
          `blocks[${i}].stages()[${s}].router`,
          stage.router.className,
          "one of the block's routers()",
        );
      out[`blocks.${i}.routers.${r}`] = statistics;
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
