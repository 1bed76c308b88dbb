// Recalibrating the causal cuts of a saved checkpoint (`moderoute calibrate`). The Trainer sets
// the Mixture-of-Depths routers' cuts from the weights it saves (calibrateCausalRouting, Raposo
// et al. 2024 section 3.5, docs/sampling.md); a checkpoint written before it did, or by another
// training loop, keeps whatever cut it was saved with, which may select far from top-k's
// fraction, or nothing at all. This rewrites such a checkpoint in place with calibrated cuts,
// through the checkpoint store's atomic write, holding the run directory's lock.
import { basename, dirname } from 'node:path';
import { ConfigError, requireInt, tf, type Tensor } from '@moderoute/core';
import {
  calibrateCausalRouting,
  causalAgreement,
  hasCalibratableRouting,
  type BlockAgreement,
  type CutCalibration,
  type ModelFactory,
} from '@moderoute/model';
import { CheckpointStore } from './checkpoint/CheckpointStore.js';
import { fromHostTensors } from './checkpoint/hostTensors.js';
import { RunLock } from './checkpoint/RunLock.js';
import { CorpusCache, type CorpusSource } from './data/corpus.js';
import { validationWindows } from './data/batches.js';
import { calibrationWindows } from './evaluateBitsPerByte.js';
import { resolveCheckpointDir, restoreModel } from './restore.js';
import type { TrainConfig } from './TrainConfig.js';

/** Options of recalibrateCheckpoint: which checkpoint, and the windows it calibrates on. */
export interface RecalibrateOptions {
  /** Builds the checkpoint's model (the caller's container: built-ins and plugins). */
  readonly factory: ModelFactory;
  /** Text to calibrate on instead of the checkpoint run's data. */
  readonly data?: CorpusSource;
  readonly corpusCache?: CorpusCache;
  /** Validation windows the selected fractions are measured on, before and after (default 16). */
  readonly windows?: number;
  /** Windows per forward pass (default the run's batch size, else 8). */
  readonly batchSize?: number;
}

/** What recalibrateCheckpoint did: the checkpoint rewritten and each cut before and after. */
export interface Recalibration {
  /** The checkpoint directory rewritten. */
  readonly checkpoint: string;
  readonly step: number;
  /** Window length T (the run's seqLen: top-k's k / T depends on it). */
  readonly seqLen: number;
  /** Training windows the cuts were calibrated on. */
  readonly calibrationWindows: number;
  /** Validation windows of `before` and `after`. */
  readonly validationWindows: number;
  /** Each routed block's cuts before and after. */
  readonly cuts: readonly CutCalibration[];
  /** The causal rules against top-k on the validation windows with the saved cuts. */
  readonly before: readonly BlockAgreement[];
  /** The same with the calibrated cuts (what the rewritten checkpoint decides). */
  readonly after: readonly BlockAgreement[];
}

/** The run directory a checkpoint directory belongs to (`<run>/checkpoints/ckpt-N`), or its store root. */
function runDirOf(checkpointDir: string): string {
  const root = dirname(checkpointDir);
  return basename(root) === 'checkpoints' ? dirname(root) : root;
}

/**
 * Calibrates the causal cuts of the checkpoint at `path` (a run directory: its latest; or a
 * checkpoint directory) on the run's training windows (the Trainer's 32, or `data`'s), and
 * rewrites that checkpoint (same step, same optimizer state, config and training state; `latest`
 * unchanged). A ConfigError when the model has no router whose cuts can be calibrated.
 */
export async function recalibrateCheckpoint(
  path: string,
  options: RecalibrateOptions,
): Promise<Recalibration> {
  const dir = resolveCheckpointDir(path);
  const lock = RunLock.acquire(runDirOf(dir));
  try {
    const { model, checkpoint } = restoreModel(dir, options.factory);
    try {
      if (!hasCalibratableRouting(model))
        throw new ConfigError(
          'checkpoint',
          dir,
          'a model with Mixture-of-Depths routers that have causal cuts (threshold or predictor ' +
            'rule); this one has none to calibrate',
        );
      const train = (checkpoint.config as { train?: TrainConfig } | null)?.train;
      const seqLen = train?.seqLen ?? model.config.contextLength;
      const batchSize = requireInt('batchSize', options.batchSize ?? train?.batchSize ?? 8, {
        min: 1,
      });
      const maxWindows = requireInt('windows', options.windows ?? 16, { min: 1 });
      const source = options.data ?? train?.data ?? { kind: 'sotu' as const };
      const corpus = (options.corpusCache ?? new CorpusCache()).load(source, { seqLen });
      const fitOn = calibrationWindows(model, corpus.train, { batchSize, seqLen });
      const measureOn = validationWindows(corpus.validation, { batchSize, seqLen, maxWindows });
      const before = causalAgreement(model, measureOn, { batchSize });
      const cuts = calibrateCausalRouting(model, fitOn, { batchSize });
      const after = causalAgreement(model, measureOn, { batchSize });
      const optimizer = fromHostTensors(checkpoint.optimizer);
      try {
        const store = new CheckpointStore(dirname(dir));
        const weights = new Map<string, Tensor>([...model.namedParameters()]);
        await store.save(
          { weights, optimizer, config: checkpoint.config, state: checkpoint.state },
          { rewrite: true },
        );
      } finally {
        tf.dispose([...optimizer.values()]);
      }
      return {
        checkpoint: dir,
        step: checkpoint.step,
        seqLen,
        calibrationWindows: fitOn.length,
        validationWindows: measureOn.length,
        cuts,
        before,
        after,
      };
    } finally {
      model.dispose();
    }
  } finally {
    lock.release();
  }
}
