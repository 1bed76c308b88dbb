// The options and figures of the training-step benchmark (training.ts): what the command passes
// in (factories, the backend's start, the flags) and what each variant's figures are.
import type { BackendInfo } from '@moderoute/core';
import type { BlockFactory } from '@moderoute/blocks';
import type { ModelFactory } from '@moderoute/model';
import type { ReplicaPool } from '@moderoute/train';
import type { OptimizerName, OwnKernelsMode } from './config.js';
import type { VariantMemory } from './memory.js';

/** What the bench builds its models and blocks with (from the command's containers). */
export interface BenchFactories {
  /** Builds the variants' models. */
  readonly models: ModelFactory;
  /** Builds the dense model of `--baseline`, its attention rebound to the baseline one. */
  readonly baselineModels: ModelFactory;
  /** Builds the blocks of the routing-overhead table. */
  readonly blocks: BlockFactory;
}

/** Data-parallel replicas as the `--replicas` flag gives them: a count, or every core. */
export type ReplicasFlag = number | 'auto';

/** The backend and replicas a bench runs on, as the caller's `start` set them up. */
export interface BenchSetup {
  /** The backend initBackend chose. */
  readonly info: BackendInfo;
  /** Data-parallel replicas, the training thread included (1: no pool). */
  readonly replicas: number;
  /** The worker replicas when `replicas` > 1; the bench closes it when done. */
  readonly pool?: ReplicaPool;
  /** One line saying what runs (the backend, the replicas, any note), for the log and report. */
  readonly description: string;
}

/** How a training benchmark runs: what to time, how often, and against what. */
export interface TrainingBenchOptions {
  /**
   * Starts the backend and the replica pool for `replicas` replicas at the bench's batch size
   * (`BATCH`), as the training commands do; called once, after the options are checked.
   */
  readonly start: (replicas: ReplicasFlag) => Promise<BenchSetup>;
  /**
   * Data-parallel replicas of each variant's steps, as `--replicas` (1: one thread of control on
   * the backend's own kernel threads).
   */
  readonly replicas: ReplicasFlag;
  /** Timed training steps per variant and pass after 2 warm-up steps (the median is the pass's). */
  readonly steps: number;
  /** Interleaved passes over all variants, each on fresh models (figures: median over passes). */
  readonly passes: number;
  /** Variants to run (default all); skips the routing table. */
  readonly only?: readonly string[];
  /** Also train dense with the baseline attention (baselineAttention.ts), right after dense. */
  readonly baseline: boolean;
  /** The optimizer of every variant's steps: the trainer's AdamW or tf.train.adam. */
  readonly optimizer: OptimizerName;
  /** Also train dense and MoD with tf.train.adam, each right after its AdamW run. */
  readonly compareAdam: boolean;
  /**
   * Core's own wasm kernels (default 'on'): 'off' runs everything without them; 'both' also runs
   * each selected variant with them off, as the runner `tfjsKernelsTwin(name)` right after it,
   * and reports each variant's own/tfjs step-time ratio pass by pass. The peers are not affected.
   */
  readonly ownKernels?: OwnKernelsMode;
  /** The PyTorch peer script, or undefined to skip it. */
  readonly peer: string | undefined;
  /** The TF.js peer script, or undefined to skip it. */
  readonly tfjsPeer: string | undefined;
  /**
   * Measures a variant's memory in a process of its own (`moderoute bench --memory-of`), or
   * undefined to skip the memory column.
   */
  readonly memoryOf?: (variant: string) => Promise<VariantMemory>;
  /** Progress notes (stderr). */
  readonly log: (line: string) => void;
}

/** A variant's figures: medians over the passes. */
export interface VariantFigures {
  /** Median over the passes of each pass's median step. */
  msPerStep: number;
  /** Each pass's median step. */
  msPerStepPasses: number[];
  tokensPerSec: number;
  flopsPerStep: number;
  gflops: number;
  /** Median over the passes of gflops over the pass's matmul peak. */
  fractionOfPeak: number;
  /** Whether core's own kernels ran this variant's steps. */
  ownKernels: boolean;
  parameters: number;
  memory?: VariantMemory | { error: string };
}
