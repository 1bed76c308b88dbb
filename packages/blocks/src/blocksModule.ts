// The ContainerModule of @moderoute/blocks. Load after coreModule and routingModule.
import { ContainerModule } from 'inversify';
import { BlockFactory, defaultExpertFactoryProvider } from './BlockFactory.js';
import { BLOCKS_IDS } from './ids.js';

/** The ContainerModule of @moderoute/blocks: the block factory and the default expert factory. */
export const blocksModule = new ContainerModule(({ bind }) => {
  bind(BLOCKS_IDS.ExpertFactoryProvider).toConstantValue(defaultExpertFactoryProvider);
  bind(BLOCKS_IDS.BlockFactory).to(BlockFactory).inSingletonScope();
});
