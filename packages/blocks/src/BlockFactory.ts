// Builds blocks from resolved specs: each block gets its own router instances (from the router
// registry, by name) and its experts (from the expert factory), by injection.
import { inject, injectable } from 'inversify';
import { CORE_IDS, ConfigError, type Primitives } from '@moderoute/core';
import {
  CapacityPolicy,
  ROUTING_IDS,
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

/** The capacity policy a built-in router exposes (plugins may have none). */
function policyOf(router: Router): CapacityPolicy | undefined {
  const r = router as unknown as { capacity?: unknown; capacityPolicy?: unknown };
  if (r.capacityPolicy instanceof CapacityPolicy) return r.capacityPolicy;
  if (r.capacity instanceof CapacityPolicy) return r.capacity;
  return undefined;
}

function numberField(router: Router, name: string, fallback: number): number {
  const v = router.getConfig()[name];
  return typeof v === 'number' ? v : fallback;
}

/** Tokens a MoD router selects from a sequence of length T, at the training capacity. */
export function depthCapacityOf(router: Router): (seqLen: number) => number {
  const policy = policyOf(router);
  return (t) =>
    policy === undefined
      ? t
      : Math.min(t, policy.capacity({ groupSize: t, numExperts: 1, training: true }));
}

/** Expert assignments (to the first `realExperts`) an expert router processes per sequence. */
export function expertAssignmentsOf(
  router: Router,
  realExperts: number,
): (seqLen: number) => number {
  const policy = policyOf(router);
  const experts = numberField(router, 'numExperts', realExperts);
  const topK = numberField(router, 'topK', 1);
  return (t) => {
    if (policy === undefined || policy.getConfig().dropless)
      return Math.min(t * topK, t * realExperts);
    const c = policy.capacity({ groupSize: t, numExperts: experts, topK, training: true });
    // Expert-choice: each expert takes min(C, T) tokens. Token-choice: at most K per token.
    const perExpert = Math.min(c, t);
    return router.kind === 'expert-choice'
      ? realExperts * perExpert
      : Math.min(realExperts * perExpert, t * topK);
  };
}

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
          depthCapacityOf(router),
          this.depthRouterFlops(router, dims.width),
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
          expertAssignmentsOf(router, spec.numExperts),
          2 * dims.width * spec.numExperts,
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
        const expertRouter = this.router(store, made, spec.expertRouter, dims, site.seed + 7919, {
          numExperts: spec.numExperts,
        }) as Router<ExpertRoutingPlan>;
        return new StagedModeBlock(
          new BlockParts(store, dims, this.ops, false),
          depth,
          expertRouter,
          this.experts(store, spec, dims),
          { ...dims, expertHidden: spec.expertHidden },
          depthCapacityOf(depth),
          expertAssignmentsOf(expertRouter, spec.numExperts),
          {
            depth: this.depthRouterFlops(depth, dims.width),
            experts: 2 * dims.width * spec.numExperts,
          },
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
          expertAssignmentsOf(router, spec.numExperts),
          2 * dims.width * total,
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

  private depthRouterFlops(router: Router, width: number): number {
    const config = router.getConfig();
    const hidden =
      config['causalMode'] === 'predictor' && typeof config['predictorHidden'] === 'number'
        ? config['predictorHidden']
        : 0;
    return 2 * width + (hidden > 0 ? 2 * width * hidden + 2 * hidden : 0);
  }
}

/** The default expert factory provider: GELU MLP experts. */
export const defaultExpertFactoryProvider: ExpertFactoryProvider = ({
  width,
  hidden,
  residualStd,
  ops,
}) => mlpExperts(width, hidden, residualStd, ops);
