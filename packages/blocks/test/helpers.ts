// Builds blocks for tests through the real container (core + routing + blocks modules).
import 'reflect-metadata';
import { Container } from 'inversify';
import { coreModule } from '@moderoute/core';
import { routingModule } from '@moderoute/routing';
import {
  BLOCKS_IDS,
  ParameterStore,
  blocksModule,
  resolveBlockSpec,
  type Block,
  type BlockDims,
  type BlockSpec,
} from '../src/index.js';

export const WIDTH = 8;
export const DIMS: BlockDims = { width: WIDTH, numHeads: 2, mlpHidden: 16, residualStd: 0.2 };

export function testContainer(): Container {
  const container = new Container();
  container.load(coreModule, routingModule, blocksModule);
  return container;
}

/** A block of the spec with its own store; parameters depend on `seed`, routers on `routerSeed`. */
export function makeBlock(
  spec: BlockSpec,
  seed = 1,
  routerSeed = seed,
  container = testContainer(),
): { block: Block; store: ParameterStore; dispose(): void } {
  const store = new ParameterStore(seed);
  const block = container
    .get(BLOCKS_IDS.BlockFactory)
    .create(resolveBlockSpec(spec, DIMS.mlpHidden), DIMS, {
      store: store.scope('b'),
      seed: routerSeed,
    });
  return {
    block,
    store,
    dispose: () => {
      store.dispose();
      for (const r of block.routers()) r.dispose();
    },
  };
}
