// routerStatisticsOf matches each plan to its router through the block's stages (plan key and
// router), so a block that lists its routers in another order than its plans still has each
// router's statistics keyed to that router (`blocks.<i>.routers.<r>`, r its place in routers()).
import assert from 'node:assert/strict';
import { ConfigError } from '@moderoute/core';
import type { Block } from '@moderoute/blocks';
import type { Router, RouterStatistics, RoutingPlan } from '@moderoute/routing';
import { routerStatisticsOf } from '../src/index.js';

const router = (className: string) => ({ className }) as Router;
const planWith = (statistics: RouterStatistics) => ({ statistics }) as RoutingPlan;

/** A block with two stages ('mod' then 'experts') whose routers() lists the experts' first. */
function blockWithRoutersReversed(depth: Router, experts: Router): Block {
  return {
    routers: () => [experts, depth],
    stages: () => [
      { key: 'mod', router: depth },
      { key: 'experts', router: experts },
    ],
  } as unknown as Block;
}

describe('routerStatisticsOf', () => {
  const depthStatistics: RouterStatistics = { thresholdCut: { sum: 1.5, count: 3 } };
  const expertStatistics: RouterStatistics = { load: { sum: 7, count: 2 } };

  describe('when a block lists its routers in another order than its plans', () => {
    it("should key each plan's statistics to the router of its stage", () => {
      const depth = router('depth');
      const experts = router('experts');
      const model = { blocks: [blockWithRoutersReversed(depth, experts)] };
      const routing = [{ mod: planWith(depthStatistics), experts: planWith(expertStatistics) }];
      assert.deepEqual(routerStatisticsOf(model, routing), {
        'blocks.0.routers.1': depthStatistics,
        'blocks.0.routers.0': expertStatistics,
      });
    });
  });

  describe('when a stage did not run', () => {
    it('should leave its router out', () => {
      const depth = router('depth');
      const experts = router('experts');
      const model = { blocks: [blockWithRoutersReversed(depth, experts)] };
      assert.deepEqual(routerStatisticsOf(model, [{ mod: planWith(depthStatistics) }]), {
        'blocks.0.routers.1': depthStatistics,
      });
    });
  });

  describe("when a stage's router is not one of the block's routers", () => {
    it('should throw a ConfigError naming the stage', () => {
      const block = {
        routers: () => [],
        stages: () => [{ key: 'mod', router: router('stray') }],
      } as unknown as Block;
      assert.throws(
        () => routerStatisticsOf({ blocks: [block] }, [{ mod: planWith(depthStatistics) }]),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'blocks[0].stages()[0].router',
      );
    });
  });
});
