// What a training run reports (per step, per evaluation, at the end) and the options it takes
// (Trainer.run).
import type { BlockAgreement, LanguageModel, ModelFactory } from '@moderoute/model';
import type { CorpusCache } from './data/corpus.js';
import type { ReplicaPool } from './parallel/DataParallel.js';
import type { BlockRoutingSummary } from './parallel/shardStep.js';

/**
 * One training step of a run: its losses, gradient norm, learning rate, throughput, FLOPs so far
 * and routing.
 */
export interface StepEvent {
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly lmLoss: number;
  readonly auxLosses: Readonly<Record<string, number>>;
  readonly gradNorm: number;
  readonly learningRate: number;
  readonly tokensPerSecond: number;
  /** Training FLOPs so far (analytic: 3 x forward per sequence x sequences). */
  readonly trainingFlops: number;
  readonly routing: readonly BlockRoutingSummary[];
}

/** One evaluation of a run: the step, validation bits per byte, training FLOPs so far. */
export interface EvalEvent {
  readonly step: number;
  readonly validationBitsPerByte: number;
  readonly trainingFlops: number;
  readonly tokensSeen: number;
  /**
   * Models with MoD routers: each routed block's causal rules against top-k on the validation
   * windows, with cuts calibrated on training windows first (evaluateDuringTraining).
   */
  readonly causal?: readonly BlockAgreement[];
}

/** Why a run stopped: all steps done, interrupted (saved), or a non-finite loss. */
export type StopReason = 'completed' | 'interrupted' | 'non-finite';

/**
 * How a run ended: why it stopped, the step reached, the validation curve, FLOPs, wall time and the
 * last checkpoint.
 */
export interface TrainResult {
  readonly outDir: string;
  readonly stopReason: StopReason;
  /** Human-readable reason when not completed. */
  readonly message?: string;
  readonly step: number;
  readonly resumedFrom?: number;
  readonly evals: readonly EvalEvent[];
  readonly finalValidationBitsPerByte?: number;
  readonly parameters: number;
  readonly forwardFlopsPerSequence: number;
  readonly trainingFlops: number;
  readonly tokensSeen: number;
  readonly wallSeconds: number;
  /** Data-parallel replicas the run trained on (1: the training thread alone). */
  readonly replicas: number;
  /** Mean routed fraction per block over the run's steps (1 for dense blocks). */
  readonly routedFractionPerBlock: readonly number[];
  readonly lastCheckpoint?: string;
}

/**
 * Where and how a `Trainer` runs: the run directory, resumption, model factory, shared corpus,
 * replicas, cancellation, callbacks.
 */
export interface TrainOptions {
  /** Run directory: checkpoints/, metrics.jsonl. */
  readonly outDir: string;
  /** Continue from the directory's latest checkpoint when there is one (default true). */
  readonly resume?: boolean;
  /** Builds the model (default: a container with the built-in modules). */
  readonly modelFactory?: ModelFactory;
  /** Shares loaded corpora between runs. */
  readonly corpusCache?: CorpusCache;
  /** Stops after the current step, saving a checkpoint (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Called after each training step. */
  readonly onStep?: (event: StepEvent) => void;
  /** Called after each evaluation. */
  readonly onEval?: (event: EvalEvent) => void;
  /** Called once the model exists (e.g. to start a progress bar at the resumed step). */
  readonly onStart?: (info: {
    step: number;
    totalSteps: number;
    model: LanguageModel;
    replicas: number;
  }) => void;
  /**
   * Data-parallel replicas (default 1): each step's rows are split among the training thread and
   * worker threads, each on its own backend instance (parallel/DataParallel.ts). A number starts
   * `replicas - 1` workers for this run; a ReplicaPool is used as is and left running (runs in
   * turn can share one). Run the training thread's backend on one thread with more than one
   * replica (the CLI does). Same loss and gradients as one replica for dense and MoD models;
   * routing decided across the batch (MoE capacity, load balancing) is decided per replica's
   * rows. Workers build their models from the model's config with moderoute's modules plus
   * `replicaModules`; with a custom `modelFactory`, give the modules it was built with there (a
   * pool gets them at its start instead).
   */
  readonly replicas?: number | ReplicaPool;
  /**
   * The plugin module (plugins.ts): the URL or absolute path of an ES module whose
   * `containerModules` export lists the ContainerModules the model needs beyond moderoute's own.
   * Without a `modelFactory` the run builds its model from a container with them; with `replicas`
   * as a number the workers load the same module (ReplicaPoolOptions.modules).
   */
  readonly replicaModules?: string | URL;
}
