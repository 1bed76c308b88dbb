/**
 * Training: batches, AdamW and schedules, the training step, safetensors checkpoints, and under
 * Node the corpus, the Trainer, replicas, metrics and progress.
 *
 * @module @moderoute/train
 */
// Public API of @moderoute/train under Node (the "node" export condition; index.browser.ts is the
// browser-safe entry): corpus and batching, AdamW and schedules, safetensors checkpoints, metrics,
// progress. Reproduction, plots and benchmarks are in @moderoute/experiments.
export * from './errors.js';
export * from './data/bytes.js';
export * from './data/rng.js';
export * from './data/corpus.js';
export * from './data/batches.js';
export * from './optim/schedule.js';
export * from './optim/AdamW.js';
export * from './checkpoint/safetensors.js';
export * from './checkpoint/hostTensors.js';
export * from './checkpoint/CheckpointStore.js';
export * from './checkpoint/checkpointConfig.js';
export * from './checkpoint/RunLock.js';
export * from './checkpoint/diskWrites.js';
export * from './metrics/jsonl.js';
export * from './report/ProgressReporter.js';
export * from './TrainConfig.js';
export * from './Trainer.js';
export * from './parallel/shardStep.js';
export * from './parallel/DataParallel.js';
export * from './restore.js';
export * from './evaluateBitsPerByte.js';
export * from './recalibrate.js';
export { loadPluginModules, pluginModuleUrl } from './plugins.js';
