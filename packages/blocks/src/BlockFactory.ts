// Builds blocks from resolved specs: each block gets its own router instances (from the router
// registry, by name) and its experts (from the expert factory), by injection.
import { inject, injectable } from 'inversify';
import {
  CORE_IDS,
  ConfigError,
  STAGED_EXPERT_ROUTER_SEED_OFFSET,
  type Primitives,
} from '@moderoute/core';
import {
  ROUTING_IDS,
  resolveCapacity,
  type CapacityPolicy,
  type ExpertRoutingPlan,
  type MixtureOfDepthsPlan,
  type Router,
  type RouterRegistry,
} from '@moderoute/routing';
import type { Block } from './Block.js';
import type { ResolvedBlockSpec, RouterSpec } from './BlockSpec.js';
import { BlockParts, DenseBlock, type BlockDims } from './DenseBlock.js';
import { ExpertBank, mlpExperts, type ExpertFactory } from './ExpertBank.js';
import { BLOCKS_IDS, type ExpertFactoryProvider } from './ids.js';
import { ModBlock } from './ModBlock.js';
import { MoeBlock } from './MoeBlock.js';
import { IntegratedModeBlock, StagedModeBlock } from './ModeBlocks.js';
import type { ScopedStore } from './ParameterStore.js';

/** Where a block is built: its parameter scope and a seed for its routers. */
export interface BlockSite {
  readonly store: ScopedStore;
  /** Seed of the block's routers (the factory derives one per stage). */
  readonly seed: number;
}

/** The block's capacity for a router's stage: the spec's, or the router's defaultCapacity. */
function capacityOf(spec: RouterSpec | null, router: Router): CapacityPolicy {
  return resolveCapacity(
    spec?.capacity,
    router.defaultCapacity,
    `${spec?.name ?? 'router'} capacity`,
  );
}

/**
 * Builds blocks from a `BlockSpec` with the injected primitives, router registry and expert
 * factory.
 */
@injectable()
export class BlockFactory {
  constructor(
    @inject(CORE_IDS.Primitives) private readonly ops: Primitives,
    @inject(ROUTING_IDS.RouterRegistry) private readonly registry: RouterRegistry,
    @inject(BLOCKS_IDS.ExpertFactoryProvider) private readonly expertFactory: ExpertFactoryProvider,
  ) {}

  /**
   * A new block of the spec's kind, with new routers and parameters created under `site.store`.
   * If it cannot be built (a parameter over the model size limit), the routers made for it are
   * disposed; its parameters are the store's, which its owner disposes.
   */
  create(spec: ResolvedBlockSpec, dims: BlockDims, site: BlockSite): Block {
    const made: Router[] = [];
    try {
      return this.build(spec, dims, site, made);
    } catch (error) {
      for (const router of made) router.dispose();
      throw error;
    }
  }

  private build(spec: ResolvedBlockSpec, dims: BlockDims, site: BlockSite, made: Router[]): Block {
    const { store } = site;
    switch (spec.kind) {
      case 'dense':
        return new DenseBlock(store, dims, this.ops);
      case 'mod': {
        const router = this.router(
          store,
          made,
          spec.depthRouter,
          dims,
          site.seed,
          {},
        ) as Router<MixtureOfDepthsPlan>;
        return new ModBlock(
          new BlockParts(store, dims, this.ops),
          router,
          dims,
          capacityOf(spec.depthRouter, router),
        );
      }
      case 'moe': {
        const router = this.router(store, made, spec.expertRouter, dims, site.seed, {
          numExperts: spec.numExperts,
        }) as Router<ExpertRoutingPlan>;
        const experts = this.experts(store, spec, dims);
        const shared =
          spec.numSharedExperts > 0
            ? this.experts(store, spec, dims, 'shared', spec.numSharedExperts)
            : undefined;
        return new MoeBlock(
          new BlockParts(store, dims, this.ops, false),
          router,
          experts,
          { ...dims, expertHidden: spec.expertHidden },
          capacityOf(spec.expertRouter, router),
          shared,
        );
      }
      case 'mode-staged': {
        const depth = this.router(
          store,
          made,
          spec.depthRouter,
          dims,
          site.seed,
          {},
        ) as Router<MixtureOfDepthsPlan>;
        const expertRouter = this.router(
          store,
          made,
          spec.expertRouter,
          dims,
          site.seed + STAGED_EXPERT_ROUTER_SEED_OFFSET,
          {
            numExperts: spec.numExperts,
          },
        ) as Router<ExpertRoutingPlan>;
        return new StagedModeBlock(
          new BlockParts(store, dims, this.ops, false),
          depth,
          expertRouter,
          this.experts(store, spec, dims),
          { ...dims, expertHidden: spec.expertHidden },
          capacityOf(spec.depthRouter, depth),
          capacityOf(spec.expertRouter, expertRouter),
        );
      }
      case 'mode-integrated': {
        const total = spec.numExperts + spec.numNoopExperts;
        const router = this.router(store, made, spec.expertRouter, dims, site.seed, {
          numExperts: total,
        }) as Router<ExpertRoutingPlan>;
        return new IntegratedModeBlock(
          new BlockParts(store, dims, this.ops, false),
          router,
          this.experts(store, spec, dims),
          spec.numNoopExperts,
          { ...dims, expertHidden: spec.expertHidden },
          capacityOf(spec.expertRouter, router),
        );
      }
    }
  }

  private experts(
    store: ScopedStore,
    spec: ResolvedBlockSpec,
    dims: BlockDims,
    scope = 'experts',
    count = spec.numExperts,
  ): ExpertBank {
    const factory: ExpertFactory = this.expertFactory({
      width: dims.width,
      hidden: spec.expertHidden,
      residualStd: dims.residualStd,
      ops: this.ops,
    });
    return new ExpertBank(store.scope(scope), count, factory);
  }

  private router(
    store: ScopedStore,
    made: Router[],
    spec: RouterSpec | null,
    dims: BlockDims,
    seed: number,
    fixed: Record<string, number>,
  ): Router {
    if (spec === null) throw new ConfigError('router', spec, 'set for a routed block');
    const given = spec.config ?? {};
    for (const [key, value] of Object.entries(fixed)) {
      if (given[key] !== undefined && given[key] !== value) {
        throw new ConfigError(
          `${spec.name} router config.${key}`,
          given[key],
          `${value}, as the block defines it (or left out)`,
        );
      }
    }
    // The block's r-th router keeps its variables in the block's store as `routers.<r>.<name>`.
    const scope = store.scope(`routers.${made.length}`);
    const router = this.registry.create(
      spec.name,
      {
        ...given,
        ...fixed,
        dModel: dims.width,
        seed: (given['seed'] as number | undefined) ?? seed,
      },
      scope,
    );
    made.push(router);
    return router;
  }
}

/** The default expert factory provider: GELU MLP experts. */
export const defaultExpertFactoryProvider: ExpertFactoryProvider = ({
  width,
  hidden,
  residualStd,
  ops,
}) => mlpExperts(width, hidden, residualStd, ops);
