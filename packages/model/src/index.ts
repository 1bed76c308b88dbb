/**
 * The decoder-only language model over a layer schedule of dense and routed blocks: FLOP
 * accounting, decoding with a KV cache, sampling.
 *
 * @module @moderoute/model
 */
// Public API of @moderoute/model.
export * from './config.js';
export * from './resolvedConfig.js';
export * from './crossEntropy.js';
export * from './LanguageModel.js';
export { ModelFactory } from './ModelFactory.js';
export { MODEL_IDS } from './ids.js';
export { modelModule } from './modelModule.js';
export { createContainer } from './container.js';
export * from './causalRules.js';
export * from './Decoder.js';
export * from './sampling.js';
export * from './generate.js';
export * from './causalEvaluation.js';
export * from './causalCalibration.js';
export * from './causalSelection.js';
export * from './routerStatistics.js';
export type { BlockDecodeStats } from '@moderoute/blocks';
