/**
 * The experiments behind the `moderoute` command: the Mixture-of-Depths paper's isoFLOP
 * comparison at small scale (presets, resumable runs, a report with vega-lite plots) and the
 * training-step benchmark. Node only; vega and vega-lite load on the first plot.
 *
 * @module @moderoute/experiments
 */
// Public API of @moderoute/experiments: reproduction, report plots, and the training-step bench.
export * from './report/plots.js';
export * from './reproduce/spec.js';
export * from './reproduce/presets.js';
export * from './reproduce/inspectRun.js';
export * from './reproduce/report.js';
export * from './reproduce/runReproduction.js';
export * from './reproduce/families.js';
export * from './reproduce/shard.js';
export * from './reproduce/sweepSpec.js';
export * from './reproduce/sweepPresets.js';
export * from './reproduce/sweepStats.js';
export * from './reproduce/sweepAnalysis.js';
export * from './reproduce/sweepManifest.js';
export * from './reproduce/sweepReport.js';
export * from './reproduce/finalValidation.js';
export * from './reproduce/runSweep.js';
export * from './reproduce/mergeSweep.js';
export * from './report/sweepPlots.js';
export {
  BATCH,
  BENCH,
  OPTIMIZERS,
  OWN_KERNELS_MODES,
  SEQ,
  VARIANTS,
  createBenchOptimizer,
  tfjsKernelsTwin,
  type OptimizerName,
  type OwnKernelsMode,
} from './bench/config.js';
export { baselineModule } from './bench/baselineAttention.js';
export { DEFAULT_PEER_SCRIPT, startTorchPeer, type TorchPeer } from './bench/peers/torch.js';
export { DEFAULT_TFJS_PEER_SCRIPT, startTfjsPeer, type TfjsPeer } from './bench/peers/tfjs.js';
export { StepServer, type PeerMemory } from './bench/peers/stepServer.js';
export {
  probeVariantMemory,
  processMemory,
  wasmHeapMb,
  type VariantMemory,
} from './bench/memory.js';
export { formatTrainingReport } from './bench/report.js';
export {
  benchmarkTraining,
  type BenchFactories,
  type BenchSetup,
  type ReplicasFlag,
  type TrainingBenchOptions,
  type TrainingBenchReport,
  type VariantFigures,
} from './bench/training.js';
export type { Spread } from './bench/passes.js';
