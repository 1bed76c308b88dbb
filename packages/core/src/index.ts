// Public API of @moderoute/core.
export { tf } from './tf.js';
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Scalar, Variable, Rank, NamedTensorMap } from './tf.js';
export * from './errors.js';
export * from './validate.js';
export * from './backend.js';
export { MAX_WASM_THREADS } from './wasmThreads.js';
export * from './primitives/index.js';
export { CORE_IDS } from './ids.js';
export { coreModule } from './coreModule.js';
export * from './bench.js';
