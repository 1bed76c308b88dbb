// The training loop: AdamW with warm-up and cosine decay on next-token loss plus the routers'
// auxiliary losses, evaluation in bits per byte, a JSONL metrics log, atomic checkpoints (every
// N steps and every few minutes), exact resume under the resume rules below, an AbortSignal
// (Ctrl-C, SIGTERM, SIGHUP in the CLI) saving and stopping cleanly, and a stop on a non-finite
// loss that keeps the last good checkpoint. The run directory is held with a RunLock for the
// whole run. Before writing a checkpoint it calibrates the MoD routers' causal cuts with the
// weights being saved (calibrateCausalRouting, on training windows).
//
// Resume rules (one rule for every setting): a run continues only with what it was trained
// with. The model config, the data (by fingerprint) and every setting of RESUME_FIXED must equal
// the checkpoint's, else a ResumeError names the setting and both values; the settings of
// RESUME_FREE (steps, evaluation and checkpoint cadence) may change and are honoured. `steps`
// may not be below the checkpoint's step. warmupSteps left at its default (derived from steps)
// keeps the checkpoint's value.
// Axis legend: B batch, T tokens per sequence.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, ModerouteError, tf, type Tensor, type Tensor2D } from '@moderoute/core';
import {
  bitsPerByte as windowBitsPerByte,
  calibrateCausalRouting,
  createContainer,
  hasCalibratableRouting,
  MODEL_IDS,
  type LanguageModel,
  type ModelFactory,
} from '@moderoute/model';
import {
  CHECKPOINT_FILES,
  CheckpointStore,
  assignWeights,
  type JsonValue,
} from './checkpoint/CheckpointStore.js';
import { RunLock } from './checkpoint/RunLock.js';
import { CheckpointError, storageError } from './errors.js';
import { CorpusCache, type Corpus } from './data/corpus.js';
import { TrainWindows, validationWindows } from './data/batches.js';
import { JsonlWriter, filterJsonl } from './metrics/jsonl.js';
import { AdamW } from './optim/AdamW.js';
import { cosineLearningRate } from './optim/schedule.js';
import { DataParallel, ReplicaPool } from './parallel/DataParallel.js';
import { loadPluginModules } from './plugins.js';
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

/**
 * Thrown when a checkpoint cannot continue this run (another model, other data, a setting that
 * differs), or when --no-resume would overwrite another model's run. Nothing is overwritten.
 */
export class ResumeError extends ModerouteError {
  override readonly name = 'ResumeError';
}

/** Settings that shape the model's training (data stream, optimizer, schedule): fixed for a run's life. */
export const RESUME_FIXED = [
  'batchSize',
  'seqLen',
  'seed',
  'learningRate',
  'warmupSteps',
  'minLrRatio',
  'beta1',
  'beta2',
  'weightDecay',
  'clipNorm',
] as const;

/** Settings a resumed run may change: more (or fewer, not below the checkpoint) steps, evaluation and checkpoint cadence. */
export const RESUME_FREE = [
  'steps',
  'evalEvery',
  'evalWindows',
  'checkpointEvery',
  'checkpointMinutes',
  'keepCheckpoints',
] as const;

/** The `moderoute train` flag of each fixed setting, for messages. */
const FLAG_OF: Readonly<Record<string, string>> = {
  batchSize: '--batch-size',
  seqLen: '--seq-len',
  seed: '--seed',
  learningRate: '--lr',
  warmupSteps: '--warmup',
};

/** Where two JSON values first differ: `blocks[1].kind: "mod" in the checkpoint, "dense" now`, or undefined when equal. */
export function firstDifference(saved: unknown, now: unknown, path = ''): string | undefined {
  if (JSON.stringify(saved) === JSON.stringify(now)) return undefined;
  if (
    saved !== null &&
    now !== null &&
    typeof saved === 'object' &&
    typeof now === 'object' &&
    Array.isArray(saved) === Array.isArray(now)
  ) {
    const a = saved as Record<string, unknown>;
    const b = now as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const at = Array.isArray(saved) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      const d = firstDifference(a[key], b[key], at);
      if (d !== undefined) return d;
    }
  }
  const show = (v: unknown) => (v === undefined ? 'absent' : JSON.stringify(v));
  return `${path || 'the value'}: ${show(saved)} in the checkpoint, ${show(now)} now`;
}

/**
 * Validation bits per byte of `model` over evenly spaced windows of `tokens` (the model's
 * window evaluator, on the split's validation windows).
 */
export function evaluateBitsPerByte(
  model: LanguageModel,
  tokens: Uint8Array,
  options: {
    batchSize: number;
    seqLen: number;
    maxWindows: number;
    mode?: 'top-k' | 'threshold' | 'predictor';
  },
): number {
  const windows = validationWindows(tokens, {
    batchSize: options.batchSize,
    seqLen: options.seqLen,
    maxWindows: options.maxWindows,
  });
  return windowBitsPerByte(model, windows, {
    batchSize: options.batchSize,
    ...(options.mode ? { mode: options.mode } : {}),
  });
}

/**
 * Training windows (evenly spaced over the training split) over which the Mixture-of-Depths
 * routers' causal cuts are calibrated before each checkpoint: 32 windows of T tokens, whose
 * pooled router logits give the exact top-k quantile (k / T of 32 T tokens).
 */
export const CALIBRATION_WINDOWS = 32;

export class Trainer {
  readonly config: ResolvedTrainConfig;
  /** The config as given (to tell settings left at their default). */
  private readonly given: TrainConfig;

  constructor(config: TrainConfig) {
    this.config = resolveTrainConfig(config);
    this.given = config;
  }

  /**
   * Trains in `options.outDir`, holding its lock (RunLock) throughout: a second run on the same
   * directory fails with a LockError naming this process.
   */
  async run(options: TrainOptions): Promise<TrainResult> {
    mkdirSync(options.outDir, { recursive: true });
    const lock = RunLock.acquire(options.outDir);
    try {
      return await this.runLocked(options);
    } finally {
      lock.release();
    }
  }

  /** The config to resume with: this run's, checked against the checkpoint's by the resume rules. */
  private resumeConfig(
    savedTrain: unknown,
    checkpoint: string,
    savedStep: number,
    outDir: string,
  ): ResolvedTrainConfig {
    const saved = (
      savedTrain !== null && typeof savedTrain === 'object' ? savedTrain : {}
    ) as Record<string, unknown>;
    let c = this.config;
    // A warm-up left at its default follows `steps`; the run's warm-up is the one it had.
    if (this.given.warmupSteps === undefined && typeof saved['warmupSteps'] === 'number')
      c = { ...c, warmupSteps: saved['warmupSteps'] };
    for (const key of RESUME_FIXED) {
      if (!(key in saved)) continue; // written before the setting existed
      if (JSON.stringify(saved[key]) !== JSON.stringify(c[key])) {
        const flag = FLAG_OF[key] ? ` (${FLAG_OF[key]})` : '';
        throw new ResumeError(
          `cannot resume ${outDir} from ${checkpoint}: ${key}${flag} is ${JSON.stringify(c[key])} now but the run was trained with ${JSON.stringify(saved[key])}; ` +
            `a run keeps its ${RESUME_FIXED.join(', ')} (only ${RESUME_FREE.join(', ')} may change). Run again with ${FLAG_OF[key] ?? key} ${JSON.stringify(saved[key])}, start over with --no-resume, or use another --out directory`,
        );
      }
    }
    if (c.steps < savedStep) {
      throw new ResumeError(
        `${outDir} already holds ${savedStep} steps (${checkpoint}), more than steps ${c.steps}: pass --steps ${savedStep} or more to continue that run, --no-resume to start over, or another --out directory`,
      );
    }
    return c;
  }

  /**
   * --no-resume: start over in a directory that holds checkpoints of the same model (removing
   * them, so it never mixes two runs); refuses when any holds another model.
   */
  private startOver(store: CheckpointStore, modelConfig: unknown, outDir: string): void {
    for (const { dir } of store.list()) {
      const path = join(dir, CHECKPOINT_FILES.config);
      if (!existsSync(path)) throw new CheckpointError(path, 'missing', 'is missing');
      let config: unknown;
      try {
        config = JSON.parse(readFileSync(path, 'utf8'));
      } catch (error) {
        throw new CheckpointError(
          path,
          'corrupt',
          `is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
        );
      }
      const difference = firstDifference(
        (config as { model?: unknown } | null)?.model,
        modelConfig,
        'model',
      );
      if (difference !== undefined) {
        throw new ResumeError(
          `--no-resume will not overwrite ${outDir}: its checkpoint ${dir} holds another model (${difference}); use another --out directory, or remove ${outDir} yourself to discard that run`,
        );
      }
    }
    store.clear();
  }

  private async runLocked(options: TrainOptions): Promise<TrainResult> {
    let c = this.config;
    const started = performance.now();
    const corpus: Corpus = (options.corpusCache ?? new CorpusCache()).load(c.data, {
      seqLen: c.seqLen,
    });
    const sharedPool = options.replicas instanceof ReplicaPool ? options.replicas : undefined;
    const replicas = sharedPool
      ? sharedPool.replicas
      : ((options.replicas as number | undefined) ?? 1);
    if (!Number.isInteger(replicas) || replicas < 1)
      throw new ConfigError('replicas', replicas, 'a positive integer, or a ReplicaPool');
    if (
      replicas > 1 &&
      options.modelFactory !== undefined &&
      sharedPool === undefined &&
      options.replicaModules === undefined
    ) {
      throw new ConfigError(
        'replicas',
        replicas,
        '1 with a custom modelFactory unless replicaModules names the module of its ContainerModules (worker replicas cannot receive a container), or a ReplicaPool started with them',
      );
    }
    const factory =
      options.modelFactory ??
      createContainer(...(await loadPluginModules(options.replicaModules, 'replicaModules'))).get(
        MODEL_IDS.ModelFactory,
      );
    const model = factory.create(c.model);
    const params = model.namedParameters();
    const optimizer = new AdamW(model.trainableParameters(), {
      beta1: c.beta1,
      beta2: c.beta2,
      weightDecay: c.weightDecay,
      clipNorm: c.clipNorm,
    });
    const store = new CheckpointStore(join(options.outDir, 'checkpoints'), {
      keep: c.keepCheckpoints,
    });
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

    let log: JsonlWriter | undefined;
    try {
      // This process holds the lock: what interrupted writers left behind is dead.
      store.removeLeftovers();
      removeDeadTemporaries(options.outDir);
      // Resume by the rules in the file header, else a clear error and nothing overwritten.
      if (options.resume === false) this.startOver(store, model.getConfig(), options.outDir);
      const latest = options.resume === false ? undefined : store.latest();
      let windows = new TrainWindows(corpus.train, {
        batchSize: c.batchSize,
        seqLen: c.seqLen,
        seed: c.seed,
        fingerprint: corpus.fingerprint,
      });
      if (latest !== undefined) {
        // Names and shapes are checked by assignWeights, before anything is assigned, with the
        // rule restore uses (untrained state a checkpoint lacks keeps its initial value).
        const saved = store.load(latest);
        const difference = firstDifference(
          (saved.config as { model?: unknown } | null)?.model,
          model.getConfig(),
          'model',
        );
        if (difference !== undefined) {
          throw new ResumeError(
            `cannot resume ${options.outDir}: its checkpoint ${latest} holds another model (${difference}); use another --out directory for this model`,
          );
        }
        c = this.resumeConfig(
          (saved.config as { train?: unknown } | null)?.train,
          latest,
          saved.step,
          options.outDir,
        );
        if (saved.state.dataPosition) {
          const position = saved.state.dataPosition;
          if (position.fingerprint !== corpus.fingerprint) {
            throw new ResumeError(
              `cannot resume ${options.outDir} from ${latest}: the run was trained on other data (fingerprint ${position.fingerprint}; ${describeData(c.data)} has ${corpus.fingerprint}); use the run's data, --no-resume to start over, or another --out directory`,
            );
          }
          windows = TrainWindows.resume(corpus.train, position, corpus.fingerprint);
        }
        assignWeights(params, saved.weights, join(latest, CHECKPOINT_FILES.model));
        optimizer.setState(saved.optimizer);
        step = saved.step;
        resumedFrom = step;
        const previous = (saved.state.metrics as { evals?: EvalEvent[] } | undefined)?.evals;
        if (Array.isArray(previous)) evals.push(...previous);
        lastCheckpoint = latest;
      }
      const configJson = {
        model: model.getConfig(),
        train: { ...c, model: undefined },
      } as unknown as JsonValue;
      // A resumed run's log is the uninterrupted run's: drop what came after the checkpoint.
      try {
        if (resumedFrom !== undefined)
          filterJsonl(
            metricsPath,
            (row) => typeof row['step'] === 'number' && (row['step'] as number) <= step,
          );
        else filterJsonl(metricsPath, () => false);
      } catch (error) {
        throw storageError(error, metricsPath, `metrics log ${metricsPath}`);
      }
      log = new JsonlWriter(metricsPath);
      const metrics = log;
      if (sharedPool) pool = await sharedPool.attach(model);
      else if (replicas > 1)
        pool = await DataParallel.start(model, {
          replicas,
          ...(options.replicaModules !== undefined ? { modules: options.replicaModules } : {}),
        });
      options.onStart?.({ step, totalSteps: c.steps, model, replicas });

      const calibrationWindows = hasCalibratableRouting(model)
        ? validationWindows(corpus.train, {
            batchSize: c.batchSize,
            seqLen: c.seqLen,
            maxWindows: CALIBRATION_WINDOWS,
          })
        : [];
      const save = async (): Promise<string> => {
        // The causal rules decide against cuts the routers estimate from past training batches,
        // which lag r as it drifts (docs/sampling.md): set them from the weights being saved.
        // No loss depends on the cuts, so training continues exactly as without this.
        if (calibrationWindows.length > 0)
          calibrateCausalRouting(model, calibrationWindows, { batchSize: c.batchSize });
        const weights = new Map<string, Tensor>([...params]);
        const optState = optimizer.getState();
        try {
          lastCheckpoint = await store.save({
            weights,
            optimizer: optState,
            config: configJson,
            state: {
              step,
              dataPosition: windows.position(step),
              metrics: { evals: evals as unknown as JsonValue },
            },
          });
        } finally {
          tf.dispose([...optState.values()]);
        }
        savedAt = performance.now();
        return lastCheckpoint;
      };
      const evaluate = (): void => {
        const bpb = evaluateBitsPerByte(model, corpus.validation, {
          batchSize: c.batchSize,
          seqLen: c.seqLen,
          maxWindows: c.evalWindows,
        });
        const event: EvalEvent = {
          step,
          validationBitsPerByte: bpb,
          trainingFlops: step * flopsPerStep,
          tokensSeen: step * tokensPerStep,
        };
        evals.push(event);
        metrics.append({ kind: 'eval', ...event });
        options.onEval?.(event);
      };

      let savedAt = performance.now();
      let stopReason: StopReason = 'completed';
      let message: string | undefined;
      while (step < c.steps) {
        // Let the event loop run between steps: a step on the training thread alone never
        // awaits, and signal handlers (which abort the signal) only run from the event loop.
        if (options.signal !== undefined) await new Promise<void>((r) => setImmediate(r));
        if (options.signal?.aborted) {
          stopReason = 'interrupted';
          message = `interrupted at step ${step}; the run continues from ${options.outDir} when started again`;
          break;
        }
        const t0 = performance.now();
        const lr = cosineLearningRate(
          {
            peak: c.learningRate,
            warmupSteps: c.warmupSteps,
            totalSteps: c.steps,
            minRatio: c.minLrRatio,
          },
          step,
        );
        const { inputs, targets } = windows.tensors(step);
        let shard;
        try {
          shard = pool
            ? await pool.step(inputs as Tensor2D, targets as Tensor2D)
            : shardGradients(model, inputs as Tensor2D, targets as Tensor2D);
        } finally {
          tf.dispose([inputs, targets]);
        }
        const { loss, lmLoss, auxLosses, routing } = shard;
        const applied = Number.isFinite(loss)
          ? optimizer.apply(shard.grads, lr)
          : { applied: false, gradNorm: Number.NaN, step };
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
        metrics.append({ kind: 'step', ...event, routing: routing.map((r) => r.routedFraction) });
        options.onStep?.(event);
        const last = step === c.steps;
        if ((c.evalEvery > 0 && step % c.evalEvery === 0) || last) evaluate();
        const due =
          c.checkpointMinutes > 0 && performance.now() - savedAt >= c.checkpointMinutes * 60_000;
        if ((c.checkpointEvery > 0 && step % c.checkpointEvery === 0) || last || due) await save();
      }
      if (stopReason === 'interrupted') await save();
      return {
        outDir: options.outDir,
        stopReason,
        ...(message ? { message } : {}),
        step,
        ...(resumedFrom !== undefined ? { resumedFrom } : {}),
        evals,
        ...(evals.length
          ? { finalValidationBitsPerByte: evals[evals.length - 1]!.validationBitsPerByte }
          : {}),
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
      log?.close();
      await pool?.close();
      optimizer.dispose();
      model.dispose();
    }
  }
}

/** The data source, for messages. */
function describeData(data: ResolvedTrainConfig['data']): string {
  return data.kind === 'path' ? `data ${data.path}` : 'the embedded corpus';
}

/**
 * Removes the temp files of atomic writes (`<name>.tmp-<pid>-<hex>`: metrics.jsonl, run.json,
 * the lock) in `dir` whose writer no longer runs (or is this process, which is not writing now).
 */
function removeDeadTemporaries(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const pid = Number(/\.tmp-(\d+)-[0-9a-f]+$/.exec(entry)?.[1]);
    if (!Number.isInteger(pid)) continue;
    let alive = pid !== process.pid;
    if (alive) {
      try {
        process.kill(pid, 0);
      } catch (error) {
        alive = (error as { code?: string }).code !== 'ESRCH';
      }
    }
    if (!alive) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}
