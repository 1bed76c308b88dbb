// The public API of @moderoute/core shared by its browser entry (index.ts) and its Node entry
// (index.node.ts); each entry registers tfjs's gradients its own way before anything runs.
export { tf } from './tf.js';
export type {
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Scalar,
  Variable,
  Rank,
  NamedTensorMap,
} from './tf.js';
export * from './errors.js';
export * from './validate.js';
export * from './seedOffsets.js';
export * from './backend.js';
export { MAX_WASM_THREADS } from './threads.js';
export { platform, setPlatform, browserPlatform, nodeOnly, type Platform } from './platform.js';
export * from './primitives/index.js';
export { CORE_IDS } from './ids.js';
export { coreModule } from './coreModule.js';
export * from './bench.js';
export { deriveSeed, mix32 } from './seeds.js';
