// One training run in a locked run directory, as named steps: `open` (clear leftovers, resume
// or start over, open the metrics log, start the replicas), then per step `trainStep` (loss and
// gradients on one thread or many, the optimizer update, the routers' statistics folded),
// `record`, `evaluate` and `save` when due; `result` and `close` at the end. Trainer.run drives
// it (Trainer.ts).
// Axis legend: B batch, T tokens per sequence.
import { join } from 'node:path';
import { tf, type Tensor, type Tensor2D } from '@moderoute/core';
import { calibrateCausalRouting, foldRouterStatistics, type LanguageModel } from '@moderoute/model';
import { CheckpointStore } from './checkpoint/CheckpointStore.js';
import { checkpointConfig } from './checkpoint/checkpointConfig.js';
import { toJsonValue } from './checkpoint/checkpointFormat.js';
import type { Corpus } from './data/corpus.js';
import { TrainWindows, type validationWindows } from './data/batches.js';
import { storageError } from './errors.js';
import { JsonlWriter, filterJsonl } from './metrics/jsonl.js';
import { calibrationWindows, evaluateDuringTraining } from './evaluateBitsPerByte.js';
import { AdamW } from './optim/AdamW.js';
import { cosineLearningRate } from './optim/schedule.js';
import { startReplicas, type DataParallel } from './parallel/DataParallel.js';
import { shardGradients, type ShardGradients } from './parallel/shardStep.js';
import { loadResumePoint, removeDeadTemporaries, startOver } from './resumeRules.js';
import type { ResolvedTrainConfig, TrainConfig } from './TrainConfig.js';
import type { EvalEvent, StepEvent, StopReason, TrainOptions, TrainResult } from './trainTypes.js';

/** The key of CheckpointState.rng under which the run seed of the routing randomness is saved. */
export const ROUTING_SEED_KEY = 'routingSeed';

/** How a step ended: applied, or stopped on a non-finite loss or gradient. */
type StepOutcome = { readonly event: StepEvent } | { readonly stop: string };

export class TrainingRun {
  step = 0;
  private resumedFrom: number | undefined;
  private lastCheckpoint: string | undefined;
  private readonly evals: EvalEvent[] = [];
  private readonly routedSums: number[];
  private routedSteps = 0;
  private savedAt = performance.now();
  private windows: TrainWindows;
  /** The run seed of the routing randomness (the train seed; a checkpoint's when resumed). */
  private routingSeed: number;
  private log: JsonlWriter | undefined;
  private pool: DataParallel | undefined;
  private calibrationWindows: ReturnType<typeof validationWindows> = [];
  private readonly optimizer: AdamW;
  private readonly store: CheckpointStore;
  private readonly metricsPath: string;
  private readonly flopsPerSequence: ReturnType<LanguageModel['flops']>;

  constructor(
    private c: ResolvedTrainConfig,
    private readonly given: TrainConfig,
    private readonly options: TrainOptions,
    readonly model: LanguageModel,
    private readonly corpus: Corpus,
    readonly replicas: number,
  ) {
    this.optimizer = new AdamW(model.trainableParameters(), {
      beta1: c.beta1,
      beta2: c.beta2,
      weightDecay: c.weightDecay,
      clipNorm: c.clipNorm,
    });
    this.store = new CheckpointStore(join(options.outDir, 'checkpoints'), {
      keep: c.keepCheckpoints,
    });
    this.metricsPath = join(options.outDir, 'metrics.jsonl');
    this.routedSums = new Array<number>(model.config.blocks.length).fill(0);
    this.flopsPerSequence = model.flops(c.seqLen);
    this.routingSeed = c.seed;
    this.windows = this.freshWindows();
  }

  private get flopsPerStep(): number {
    return this.flopsPerSequence.training * this.c.batchSize;
  }

  private get tokensPerStep(): number {
    return this.c.batchSize * this.c.seqLen;
  }

  private freshWindows(): TrainWindows {
    const { batchSize, seqLen, seed } = this.c;
    const fingerprint = this.corpus.fingerprint;
    return new TrainWindows(this.corpus.train, { batchSize, seqLen, seed, fingerprint });
  }

  /** Prepares the directory, resumes (or starts over), opens the log, starts the replicas. */
  async open(): Promise<void> {
    const { outDir } = this.options;
    // This process holds the lock: what interrupted writers left behind is dead.
    this.store.removeLeftovers();
    removeDeadTemporaries(outDir);
    if (this.options.resume === false) startOver(this.store, this.model.getConfig(), outDir);
    else this.resume();
    this.openLog();
    this.pool = await startReplicas(this.model, this.options, this.replicas);
    this.calibrationWindows = calibrationWindows(this.model, this.corpus.train, this.c);
    this.savedAt = performance.now();
  }

  /** Continues from the latest checkpoint, under the resume rules (resumeRules.ts). */
  private resume(): void {
    const found = loadResumePoint(this.store, this.model, this.c, this.given, this.corpus, {
      outDir: this.options.outDir,
      optimizer: this.optimizer,
    });
    if (found === undefined) return;
    this.c = found.config;
    if (found.windows !== undefined) this.windows = found.windows;
    this.routingSeed = found.rng[ROUTING_SEED_KEY] ?? this.c.seed;
    this.step = this.resumedFrom = found.step;
    this.evals.push(...found.evals);
    this.lastCheckpoint = found.checkpoint;
  }

  /** A resumed run's log is the uninterrupted run's: what came after the checkpoint goes. */
  private openLog(): void {
    const path = this.metricsPath;
    const step = this.step;
    try {
      if (this.resumedFrom !== undefined)
        filterJsonl(path, (row) => typeof row['step'] === 'number' && row['step'] <= step);
      else filterJsonl(path, () => false);
    } catch (error) {
      throw storageError(error, path, `metrics log ${path}`);
    }
    this.log = new JsonlWriter(path);
  }

  /** The steps up to `steps`, evaluating and saving when due; why they stopped. */
  async loop(): Promise<{ stopReason: StopReason; message?: string }> {
    const { c, options } = this;
    while (this.step < c.steps) {
      // Let the event loop run between steps: a step on the training thread alone never
      // awaits, and signal handlers (which abort the signal) only run from the event loop.
      if (options.signal !== undefined) await new Promise<void>((r) => setImmediate(r));
      if (options.signal?.aborted) {
        await this.save();
        const message = `interrupted at step ${this.step}; the run continues from ${options.outDir} when started again`;
        return { stopReason: 'interrupted', message };
      }
      const outcome = await this.trainStep();
      if ('stop' in outcome) return { stopReason: 'non-finite', message: outcome.stop };
      this.record(outcome.event);
      const last = this.step === c.steps;
      if ((c.evalEvery > 0 && this.step % c.evalEvery === 0) || last) this.evaluate();
      const minutes = (performance.now() - this.savedAt) / 60_000;
      const due = c.checkpointMinutes > 0 && minutes >= c.checkpointMinutes;
      if ((c.checkpointEvery > 0 && this.step % c.checkpointEvery === 0) || last || due)
        await this.save();
    }
    return { stopReason: 'completed' };
  }

  /**
   * One optimizer step: the loss and gradients of the step's batch (on the replicas, or on this
   * thread), keyed by (routing seed, step, replica) for the routing randomness; the update; then
   * the routers' statistics of every replica folded into the routers, in replica order.
   */
  private async trainStep(): Promise<StepOutcome> {
    const { c, step } = this;
    const t0 = performance.now();
    const { learningRate: peak, warmupSteps, steps: totalSteps, minLrRatio: minRatio } = c;
    const lr = cosineLearningRate({ peak, warmupSteps, totalSteps, minRatio }, step);
    const { inputs, targets } = this.windows.tensors(step);
    const key = { step, seed: this.routingSeed };
    let shard: ShardGradients;
    try {
      shard = this.pool
        ? await this.pool.step(inputs as Tensor2D, targets as Tensor2D, key)
        : shardGradients(this.model, inputs as Tensor2D, targets as Tensor2D, {
            ...key,
            replica: 0,
          });
    } finally {
      tf.dispose([inputs, targets]);
    }
    const { loss, lmLoss, auxLosses, routing } = shard;
    const applied = Number.isFinite(loss)
      ? this.optimizer.apply(shard.grads, lr)
      : { applied: false, gradNorm: Number.NaN, step };
    tf.dispose([...shard.grads.values()]);
    if (!Number.isFinite(loss) || !applied.applied) {
      return {
        stop:
          `the loss or its gradient became non-finite at step ${step} (loss ${loss}, gradient ` +
          `norm ${applied.gradNorm}); training stopped, and the last good checkpoint ` +
          `(${this.lastCheckpoint ?? 'none yet'}) is kept`,
      };
    }
    foldRouterStatistics(this.model, shard.statistics);
    this.step += 1;
    const tokensPerSecond = this.tokensPerStep / ((performance.now() - t0) / 1000);
    const gradNorm = applied.gradNorm;
    const trainingFlops = this.step * this.flopsPerStep;
    return {
      event: {
        ...{ step: this.step, totalSteps, loss, lmLoss, auxLosses, gradNorm, learningRate: lr },
        ...{ tokensPerSecond, trainingFlops, routing },
      },
    };
  }

  /** Logs a step and reports it. */
  private record(event: StepEvent): void {
    event.routing.forEach((r, i) => (this.routedSums[i]! += r.routedFraction));
    this.routedSteps += 1;
    const routing = event.routing.map((r) => r.routedFraction);
    this.log!.append({ kind: 'step', ...event, routing });
    this.options.onStep?.(event);
  }

  /** Validation bits per byte at this step (and the causal rules' agreement), logged and reported. */
  evaluate(): void {
    const { batchSize, seqLen, evalWindows: maxWindows } = this.c;
    const { bitsPerByte: bpb, causal } = evaluateDuringTraining(
      this.model,
      this.corpus.validation,
      this.calibrationWindows,
      { batchSize, seqLen, maxWindows },
    );
    const event: EvalEvent = {
      step: this.step,
      validationBitsPerByte: bpb,
      trainingFlops: this.step * this.flopsPerStep,
      tokensSeen: this.step * this.tokensPerStep,
      ...(causal !== undefined ? { causal } : {}),
    };
    this.evals.push(event);
    this.log!.append({ kind: 'eval', ...event });
    this.options.onEval?.(event);
  }

  /**
   * Writes a checkpoint of this step. The causal rules decide against cuts the routers estimate
   * from past training steps, which lag r as it drifts (docs/sampling.md): they are set from
   * the weights being saved first. No loss depends on the cuts, so training continues as it
   * would without this.
   */
  private async save(): Promise<void> {
    if (this.calibrationWindows.length > 0)
      calibrateCausalRouting(this.model, this.calibrationWindows, { batchSize: this.c.batchSize });
    const weights = new Map<string, Tensor>([...this.model.namedParameters()]);
    const optimizer = this.optimizer.getState();
    const config = checkpointConfig(this.model, { ...this.c, model: undefined });
    try {
      this.lastCheckpoint = await this.store.save({
        weights,
        optimizer,
        config,
        state: {
          step: this.step,
          dataPosition: this.windows.position(this.step),
          // With the step, what keys the routing randomness of the steps to come.
          rng: { [ROUTING_SEED_KEY]: this.routingSeed },
          metrics: { evals: toJsonValue(this.evals) },
        },
      });
    } finally {
      tf.dispose([...optimizer.values()]);
    }
    this.savedAt = performance.now();
  }

  /** The run's result, after `loop`. */
  result(stop: { stopReason: StopReason; message?: string }, started: number): TrainResult {
    const { evals, step, resumedFrom, lastCheckpoint, routedSteps } = this;
    const final = evals[evals.length - 1];
    return {
      outDir: this.options.outDir,
      ...stop,
      step,
      ...(resumedFrom !== undefined ? { resumedFrom } : {}),
      evals,
      ...(final ? { finalValidationBitsPerByte: final.validationBitsPerByte } : {}),
      parameters: this.model.parameterCount(),
      forwardFlopsPerSequence: this.flopsPerSequence.forward,
      trainingFlops: step * this.flopsPerStep,
      tokensSeen: step * this.tokensPerStep,
      wallSeconds: (performance.now() - started) / 1000,
      replicas: this.replicas,
      routedFractionPerBlock: this.routedSums.map((s) => (routedSteps ? s / routedSteps : 1)),
      ...(lastCheckpoint ? { lastCheckpoint } : {}),
    };
  }

  /** Closes the log and the replicas, frees the optimizer and the model. */
  async close(): Promise<void> {
    this.log?.close();
    await this.pool?.close();
    this.optimizer.dispose();
    this.model.dispose();
  }
}
