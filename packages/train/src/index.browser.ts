// Public API of @moderoute/train for bundlers and browsers: the parts of training that need no
// file system or threads (byte tokens, batching, AdamW and the learning-rate schedule, the
// training step's gradients, safetensors encoding, checkpoints as bytes (encoded, decoded, a
// model rebuilt from one), which tokens routed blocks processed, validation bits per byte, the
// train config), and, under the names the Node entry exports, stand-ins for its Node-only parts
// that throw a ConfigError saying so. Node resolves the package to index.ts (the "node" export
// condition), which has everything.
export * from './errors.js';
export * from './data/bytes.js';
export * from './data/rng.js';
export * from './data/batches.js';
export * from './optim/schedule.js';
export * from './optim/AdamW.js';
export * from './checkpoint/safetensors.js';
export * from './checkpoint/hostTensors.js';
export * from './checkpoint/checkpointFormat.js';
export * from './checkpoint/checkpointFiles.js';
export * from './checkpoint/checkpointConfig.js';
export { assignWeights, shapesOf } from './checkpoint/assignWeights.js';
export * from './checkpoint/modelFromCheckpoint.js';
export * from './routingPattern.js';
export * from './evaluateBitsPerByte.js';
export * from './TrainConfig.js';
export * from './parallel/shardStep.js';
export * from './browser/nodeOnly.js';
