/**
 * Attention, MLP and expert layers; dense, Mixture-of-Depths, Mixture-of-Experts and MoDE decoder
 * blocks, composed by dependency injection.
 *
 * @module @moderoute/blocks
 */
// Public API of @moderoute/blocks.
export * from './Block.js';
export * from './BlockSpec.js';
export * from './BlockFactory.js';
export * from './DenseBlock.js';
export * from './ExpertBank.js';
export * from './flops.js';
export * from './layers.js';
export * from './ModBlock.js';
export * from './MoeBlock.js';
export * from './ModeBlocks.js';
export * from './ParameterStore.js';
export * from './subsequence.js';
export * from './expertUpdate.js';
export * from './stages.js';
export * from './decoders/kvCache.js';
export { attendCached, type CachedAttentionParams } from './cachedAttention.js';
export { BLOCKS_IDS, type ExpertFactoryProvider } from './ids.js';
export { blocksModule } from './blocksModule.js';
