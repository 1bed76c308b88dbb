// The training loop: AdamW with warm-up and cosine decay on next-token loss plus the routers'
// auxiliary losses, evaluation in bits per byte, a JSONL metrics log, atomic checkpoints (every
// N steps and every few minutes), exact resume under the resume rules (resumeRules.ts), an
// AbortSignal (Ctrl-C, SIGTERM, SIGHUP in the CLI) saving and stopping cleanly, and a stop on a
// non-finite loss that keeps the last good checkpoint. The run directory is held with a RunLock
// for the whole run. Before writing a checkpoint it calibrates the MoD routers' causal cuts with
// the weights being saved (calibrateCausalRouting, on training windows). The steps of a run are
// TrainingRun's (trainingRun.ts).
import { mkdirSync } from 'node:fs';
import { ConfigError } from '@moderoute/core';
import { createContainer, MODEL_IDS } from '@moderoute/model';
import { RunLock } from './checkpoint/RunLock.js';
import { CorpusCache } from './data/corpus.js';
import { ReplicaPool } from './parallel/DataParallel.js';
import { loadPluginModules } from './plugins.js';
import { resolveTrainConfig, type ResolvedTrainConfig, type TrainConfig } from './TrainConfig.js';
import { TrainingRun } from './trainingRun.js';
import type { TrainOptions, TrainResult } from './trainTypes.js';

export * from './trainTypes.js';
export { RESUME_FIXED, RESUME_FREE, ResumeError, firstDifference } from './resumeRules.js';
export { CALIBRATION_WINDOWS, evaluateBitsPerByte } from './evaluateBitsPerByte.js';
export { ROUTING_SEED_KEY } from './trainingRun.js';

/**
 * Trains a model in a run directory: batches, AdamW, evaluation, metrics, atomic checkpoints,
 * resumption, replicas.
 */
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

  /** The replicas a run asks for: a pool's, or a number (default 1), checked. */
  private replicasOf(options: TrainOptions): number {
    const pool = options.replicas instanceof ReplicaPool ? options.replicas : undefined;
    const replicas = pool ? pool.replicas : ((options.replicas as number | undefined) ?? 1);
    if (!Number.isInteger(replicas) || replicas < 1)
      throw new ConfigError('replicas', replicas, 'a positive integer, or a ReplicaPool');
    if (
      replicas > 1 &&
      options.modelFactory !== undefined &&
      pool === undefined &&
      options.replicaModules === undefined
    ) {
      throw new ConfigError(
        'replicas',
        replicas,
        '1 with a custom modelFactory unless replicaModules names the module of its ' +
          'ContainerModules (worker replicas cannot receive a container), or a ReplicaPool started ' +
          'with them',
      );
    }
    return replicas;
  }

  /** Named steps: load the data, build the model, open the run, loop, report, close. */
  private async runLocked(options: TrainOptions): Promise<TrainResult> {
    const c = this.config;
    const started = performance.now();
    const corpus = (options.corpusCache ?? new CorpusCache()).load(c.data, { seqLen: c.seqLen });
    const replicas = this.replicasOf(options);
    const factory =
      options.modelFactory ??
      createContainer(...(await loadPluginModules(options.replicaModules, 'replicaModules'))).get(
        MODEL_IDS.ModelFactory,
      );
    const model = factory.create(c.model);
    const run = new TrainingRun(c, this.given, options, model, corpus, replicas);
    try {
      await run.open();
      options.onStart?.({ step: run.step, totalSteps: c.steps, model, replicas });
      const stop = await run.loop();
      return run.result(stop, started);
    } finally {
      await run.close();
    }
  }
}
