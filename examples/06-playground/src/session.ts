// One model in the worker: built from the form's settings (or from a checkpoint), trained step by
// step with the library's training step (shardGradients, AdamW, the cosine schedule and the
// routers' statistics folded, as @moderoute/train's TrainingRun does), evaluated, sampled from
// and written as a checkpoint. Axis legend: B batch, T tokens per window.
import { tf, type Tensor2D } from '@moderoute/core';
import { foldRouterStatistics, type LanguageModel, type ModelFactory } from '@moderoute/model';
import {
  AdamW,
  TrainWindows,
  checkpointConfig,
  checkpointName,
  cosineLearningRate,
  encodeBytes,
  encodeCheckpointFiles,
  shardGradients,
} from '@moderoute/train';
import type { BlockInfo, RunSettings } from './protocol.js';
import { splitText } from './text.js';
import { blockRouterNames } from './routers.js';

/** The training state of one model. */
export class Session {
  step = 0;
  readonly optimizer: AdamW;
  readonly windows: TrainWindows | undefined;
  readonly train: Uint8Array;
  readonly validation: string;
  /** Milliseconds spent in training steps since the last `stepsPerSecond` reading. */
  private busyMs = 0;
  private busySteps = 0;

  constructor(
    readonly model: LanguageModel,
    readonly settings: RunSettings,
    /** Where the model came from ("new model", or the checkpoint's name). */
    readonly source: string,
  ) {
    this.optimizer = new AdamW(model.trainableParameters());
    const { train, validation } = splitText(settings.text);
    this.train = encodeBytes(train);
    this.validation = validation;
    const seqLen = model.config.contextLength;
    this.windows =
      this.train.length > seqLen
        ? new TrainWindows(this.train, {
            batchSize: settings.batchSize,
            seqLen,
            seed: settings.seed,
          })
        : undefined;
  }

  static create(factory: ModelFactory, settings: RunSettings): Session {
    return new Session(factory.create(settings.model), settings, 'new model');
  }

  get done(): boolean {
    return this.step >= this.settings.steps || this.windows === undefined;
  }

  blocks(): BlockInfo[] {
    return this.model.config.blocks.map((b, index) => ({
      index,
      kind: b.kind,
      routed: b.depthRouter !== null || b.expertRouter !== null,
      depth: b.depthRouter !== null,
      routers: blockRouterNames(b),
    }));
  }

  /** One optimizer step; its loss in bits per byte and each routed block's load. */
  trainStep(): { trainBits: number; loads: { block: number; load: readonly number[] }[] } {
    const { settings } = this;
    const t0 = performance.now();
    const lr = cosineLearningRate(
      {
        peak: settings.learningRate,
        warmupSteps: Math.min(10, settings.steps),
        totalSteps: settings.steps,
        minRatio: 0.1,
      },
      this.step,
    );
    const { inputs, targets } = this.windows!.tensors(this.step);
    const key = { step: this.step, seed: settings.seed, replica: 0 };
    let shard;
    try {
      shard = shardGradients(this.model, inputs as Tensor2D, targets as Tensor2D, key);
    } finally {
      tf.dispose([inputs, targets]);
    }
    const applied = Number.isFinite(shard.loss)
      ? this.optimizer.apply(shard.grads, lr)
      : { applied: false, gradNorm: Number.NaN };
    tf.dispose([...shard.grads.values()]);
    if (!applied.applied)
      throw new Error(
        `the loss or its gradient became non-finite at step ${this.step} (loss ${shard.loss}); ` +
          'lower the learning rate and reset',
      );
    foldRouterStatistics(this.model, shard.statistics);
    this.step += 1;
    this.busyMs += performance.now() - t0;
    this.busySteps += 1;
    const loads = shard.routing
      .filter((r) => r.load.length > 0)
      .map((r) => ({ block: r.block, load: r.load }));
    return { trainBits: shard.lmLoss / Math.LN2, loads };
  }

  /** Training steps per second since the last reading (time in steps only). */
  stepsPerSecond(): number {
    const rate = this.busyMs > 0 ? (1000 * this.busySteps) / this.busyMs : 0;
    this.busyMs = 0;
    this.busySteps = 0;
    return rate;
  }

  /** Next-token logits float32[V] at the last position of `ids` (top-k routing, inference). */
  logits(ids: readonly number[]): number[] {
    return tf.tidy(() => {
      const input = tf.tensor2d(Int32Array.from(ids), [1, ids.length], 'int32') as Tensor2D;
      const { logits } = this.model.forward(input);
      const v = this.model.config.vocabSize;
      return Array.from(tf.slice(logits, [0, ids.length - 1, 0], [1, 1, v]).dataSync());
    });
  }

  /** The probe a checkpoint's logits are reported for: the validation text's first 8 bytes. */
  probe(): number[] {
    return Array.from(encodeBytes(this.validation).slice(0, 8));
  }

  /** The model as the files of a checkpoint directory (the CLI's format), and its name. */
  async checkpoint(sha256: (bytes: Uint8Array) => Promise<string>): Promise<{
    name: string;
    files: [string, Uint8Array][];
  }> {
    const optimizer = this.optimizer.getState();
    try {
      const { settings } = this;
      const train = {
        source: 'playground',
        seqLen: this.model.config.contextLength,
        batchSize: settings.batchSize,
        learningRate: settings.learningRate,
        steps: settings.steps,
        seed: settings.seed,
      };
      const files = await encodeCheckpointFiles(
        {
          weights: this.model.namedParameters(),
          optimizer,
          config: checkpointConfig(this.model, train),
          state: { step: this.step },
        },
        sha256,
      );
      return { name: checkpointName(this.step), files };
    } finally {
      tf.dispose([...optimizer.values()]);
    }
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
