// The training loop: AdamW with warm-up and cosine decay on next-token loss plus the routers'
// auxiliary losses, evaluation in bits per byte, a JSONL metrics log, atomic checkpoints, exact
// resume, Ctrl-C (an AbortSignal) saving and stopping cleanly, and a stop on a non-finite loss
// that keeps the last good checkpoint. Before writing a checkpoint it calibrates the MoD routers'
// causal cuts with the weights being saved (calibrateCausalRouting, on training windows).
// Axis legend: B batch, T tokens per sequence.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, ModerouteError, tf, type Tensor, type Tensor2D } from '@moderoute/core';
import { bitsPerByte as windowBitsPerByte, calibrateCausalRouting, createContainer, hasCalibratableRouting, MODEL_IDS, type LanguageModel, type ModelFactory } from '@moderoute/model';
import { CHECKPOINT_FILES, CheckpointStore, assignWeights, type JsonValue } from './checkpoint/CheckpointStore.js';
import { CorpusCache, type Corpus } from './data/corpus.js';
import { TrainWindows, validationWindows } from './data/batches.js';
import { JsonlWriter, filterJsonl } from './metrics/jsonl.js';
import { AdamW } from './optim/AdamW.js';
import { cosineLearningRate } from './optim/schedule.js';
import { DataParallel, ReplicaPool } from './parallel/DataParallel.js';
import { shardGradients, type BlockRoutingSummary } from './parallel/shardStep.js';
import { resolveTrainConfig, type ResolvedTrainConfig, type TrainConfig } from './TrainConfig.js';

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

export interface EvalEvent {
  readonly step: number;
  readonly validationBitsPerByte: number;
  readonly trainingFlops: number;
  readonly tokensSeen: number;
}

export type StopReason = 'completed' | 'interrupted' | 'non-finite';

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
  readonly onStep?: (event: StepEvent) => void;
  readonly onEval?: (event: EvalEvent) => void;
  /** Called once the model exists (e.g. to start a progress bar at the resumed step). */
  readonly onStart?: (info: { step: number; totalSteps: number; model: LanguageModel; replicas: number }) => void;
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
   * For `replicas` as a number: the URL or absolute path of an ES module whose `containerModules`
   * export lists the ContainerModules the model needs beyond moderoute's own (ReplicaPoolOptions.modules).
   */
  readonly replicaModules?: string | URL;
}

/** Thrown when a checkpoint cannot continue this run (different model). Nothing is overwritten. */
export class ResumeError extends ModerouteError {
  override readonly name = 'ResumeError';
}

/**
 * Validation bits per byte of `model` over evenly spaced windows of `tokens` (the model's
 * window evaluator, on the split's validation windows).
 */
export function evaluateBitsPerByte(model: LanguageModel, tokens: Uint8Array, options: { batchSize: number; seqLen: number; maxWindows: number; mode?: 'top-k' | 'threshold' | 'predictor' }): number {
  const windows = validationWindows(tokens, { batchSize: options.batchSize, seqLen: options.seqLen, maxWindows: options.maxWindows });
  return windowBitsPerByte(model, windows, { batchSize: options.batchSize, ...(options.mode ? { mode: options.mode } : {}) });
}

/**
 * Training windows (evenly spaced over the training split) over which the Mixture-of-Depths
 * routers' causal cuts are calibrated before each checkpoint: 32 windows of T tokens, whose
 * pooled router logits give the exact top-k quantile (k / T of 32 T tokens).
 */
export const CALIBRATION_WINDOWS = 32;

export class Trainer {
  readonly config: ResolvedTrainConfig;

  constructor(config: TrainConfig) {
    this.config = resolveTrainConfig(config);
  }

  async run(options: TrainOptions): Promise<TrainResult> {
    const c = this.config;
    const started = performance.now();
    mkdirSync(options.outDir, { recursive: true });
    const corpus: Corpus = (options.corpusCache ?? new CorpusCache()).load(c.data, { seqLen: c.seqLen });
    const sharedPool = options.replicas instanceof ReplicaPool ? options.replicas : undefined;
    const replicas = sharedPool ? sharedPool.replicas : (options.replicas as number | undefined) ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1) throw new ConfigError('replicas', replicas, 'a positive integer, or a ReplicaPool');
    if (replicas > 1 && options.modelFactory !== undefined && sharedPool === undefined && options.replicaModules === undefined) {
      throw new ConfigError(
        'replicas',
        replicas,
        '1 with a custom modelFactory unless replicaModules names the module of its ContainerModules (worker replicas cannot receive a container), or a ReplicaPool started with them',
      );
    }
    const factory = options.modelFactory ?? createContainer().get(MODEL_IDS.ModelFactory);
    const model = factory.create(c.model);
    const params = model.namedParameters();
    const optimizer = new AdamW(model.trainableParameters(), { beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay, clipNorm: c.clipNorm });
    const store = new CheckpointStore(join(options.outDir, 'checkpoints'), { keep: c.keepCheckpoints });
    const metricsPath = join(options.outDir, 'metrics.jsonl');
    const kinds = model.config.blocks.map((b) => b.kind);
    const flopsPerSequence = model.flops(c.seqLen);
    const flopsPerStep = flopsPerSequence.training * c.batchSize;
    const tokensPerStep = c.batchSize * c.seqLen;
    const evals: EvalEvent[] = [];
    const routedSums = new Array<number>(kinds.length).fill(0);
    let routedSteps = 0;
    let step = 0;
    let resumedFrom: number | undefined;
    let lastCheckpoint: string | undefined;
    let pool: DataParallel | undefined;
    const configJson = { model: model.getConfig(), train: { ...c, model: undefined } } as unknown as JsonValue;

    try {
      // Resume: same model config, same shapes, else a clear error and nothing overwritten.
      const latest = options.resume === false ? undefined : store.latest();
      let windows = new TrainWindows(corpus.train, { batchSize: c.batchSize, seqLen: c.seqLen, seed: c.seed, fingerprint: corpus.fingerprint });
      if (latest !== undefined) {
        // Names and shapes are checked by assignWeights, before anything is assigned, with the
        // rule restore uses (untrained state a checkpoint lacks keeps its initial value).
        const saved = store.load(latest);
        const savedModel = (saved.config as { model?: unknown } | null)?.model;
        if (JSON.stringify(savedModel) !== JSON.stringify(model.getConfig())) {
          throw new ResumeError(`The checkpoint ${latest} was trained with another model config; choose another --out directory, or start afresh with --no-resume`);
        }
        assignWeights(params, saved.weights, join(latest, CHECKPOINT_FILES.model));
        optimizer.setState(saved.optimizer);
        step = saved.step;
        resumedFrom = step;
        if (saved.state.dataPosition) windows = TrainWindows.resume(corpus.train, saved.state.dataPosition, corpus.fingerprint);
        const previous = (saved.state.metrics as { evals?: EvalEvent[] } | undefined)?.evals;
        if (Array.isArray(previous)) evals.push(...previous);
        lastCheckpoint = latest;
      }
      // A resumed run's log is the uninterrupted run's: drop what came after the checkpoint.
      if (resumedFrom !== undefined) filterJsonl(metricsPath, (row) => typeof row['step'] === 'number' && (row['step'] as number) <= step);
      else filterJsonl(metricsPath, () => false);
      const log = new JsonlWriter(metricsPath);
      if (sharedPool) pool = await sharedPool.attach(model);
      else if (replicas > 1) pool = await DataParallel.start(model, { replicas, ...(options.replicaModules !== undefined ? { modules: options.replicaModules } : {}) });
      options.onStart?.({ step, totalSteps: c.steps, model, replicas });

      const calibrationWindows = hasCalibratableRouting(model) ? validationWindows(corpus.train, { batchSize: c.batchSize, seqLen: c.seqLen, maxWindows: CALIBRATION_WINDOWS }) : [];
      const save = async (): Promise<string> => {
        // The causal rules decide against cuts the routers estimate from past training batches,
        // which lag r as it drifts (docs/sampling.md): set them from the weights being saved.
        // No loss depends on the cuts, so training continues exactly as without this.
        if (calibrationWindows.length > 0) calibrateCausalRouting(model, calibrationWindows, { batchSize: c.batchSize });
        const weights = new Map<string, Tensor>([...params]);
        const optState = optimizer.getState();
        try {
          lastCheckpoint = await store.save({
            weights,
            optimizer: optState,
            config: configJson,
            state: { step, dataPosition: windows.position(step), metrics: { evals: evals as unknown as JsonValue } },
          });
        } finally {
          tf.dispose([...optState.values()]);
        }
        return lastCheckpoint;
      };
      const evaluate = (): void => {
        const bpb = evaluateBitsPerByte(model, corpus.validation, { batchSize: c.batchSize, seqLen: c.seqLen, maxWindows: c.evalWindows });
        const event: EvalEvent = { step, validationBitsPerByte: bpb, trainingFlops: step * flopsPerStep, tokensSeen: step * tokensPerStep };
        evals.push(event);
        log.append({ kind: 'eval', ...event });
        options.onEval?.(event);
      };

      let stopReason: StopReason = 'completed';
      let message: string | undefined;
      while (step < c.steps) {
        if (options.signal?.aborted) {
          stopReason = 'interrupted';
          message = `interrupted at step ${step}; the run continues from ${options.outDir} when started again`;
          break;
        }
        const t0 = performance.now();
        const lr = cosineLearningRate({ peak: c.learningRate, warmupSteps: c.warmupSteps, totalSteps: c.steps, minRatio: c.minLrRatio }, step);
        const { inputs, targets } = windows.tensors(step);
        let shard;
        try {
          shard = pool ? await pool.step(inputs as Tensor2D, targets as Tensor2D) : shardGradients(model, inputs as Tensor2D, targets as Tensor2D);
        } finally {
          tf.dispose([inputs, targets]);
        }
        const { loss, lmLoss, auxLosses, routing } = shard;
        const applied = Number.isFinite(loss) ? optimizer.apply(shard.grads, lr) : { applied: false, gradNorm: Number.NaN, step };
        tf.dispose([...shard.grads.values()]);
        if (!Number.isFinite(loss) || !applied.applied) {
          stopReason = 'non-finite';
          message = `the loss or its gradient became non-finite at step ${step} (loss ${loss}, gradient norm ${applied.gradNorm}); training stopped, and the last good checkpoint (${lastCheckpoint ?? 'none yet'}) is kept`;
          break;
        }
        step += 1;
        routing.forEach((r, i) => (routedSums[i]! += r.routedFraction));
        routedSteps += 1;
        const event: StepEvent = {
          step,
          totalSteps: c.steps,
          loss,
          lmLoss,
          auxLosses,
          gradNorm: applied.gradNorm,
          learningRate: lr,
          tokensPerSecond: tokensPerStep / ((performance.now() - t0) / 1000),
          trainingFlops: step * flopsPerStep,
          routing,
        };
        log.append({ kind: 'step', ...event, routing: routing.map((r) => r.routedFraction) });
        options.onStep?.(event);
        const last = step === c.steps;
        if ((c.evalEvery > 0 && step % c.evalEvery === 0) || last) evaluate();
        if ((c.checkpointEvery > 0 && step % c.checkpointEvery === 0) || last) await save();
      }
      if (stopReason === 'interrupted') await save();
      log.close();
      return {
        outDir: options.outDir,
        stopReason,
        ...(message ? { message } : {}),
        step,
        ...(resumedFrom !== undefined ? { resumedFrom } : {}),
        evals,
        ...(evals.length ? { finalValidationBitsPerByte: evals[evals.length - 1]!.validationBitsPerByte } : {}),
        parameters: model.parameterCount(),
        forwardFlopsPerSequence: flopsPerSequence.forward,
        trainingFlops: step * flopsPerStep,
        tokensSeen: step * tokensPerStep,
        wallSeconds: (performance.now() - started) / 1000,
        replicas,
        routedFractionPerBlock: routedSums.map((s) => (routedSteps ? s / routedSteps : 1)),
        ...(lastCheckpoint ? { lastCheckpoint } : {}),
      };
    } finally {
      await pool?.close();
      optimizer.dispose();
      model.dispose();
    }
  }
}
