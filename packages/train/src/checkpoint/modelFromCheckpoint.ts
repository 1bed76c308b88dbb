// A model rebuilt from a checkpoint in host memory (loadCheckpoint's or decodeCheckpoint's):
// browser-safe, so a page can load the files `moderoute train` writes (restore.ts does it from a
// directory under Node).
import type { LanguageModel, LanguageModelConfig, ModelFactory } from '@moderoute/model';
import { CheckpointError } from '../errors.js';
import { assignWeights } from './assignWeights.js';
import { CHECKPOINT_FILES, type LoadedCheckpoint } from './checkpointFormat.js';

/** A model rebuilt from a checkpoint, with the checkpoint it came from. */
export interface RestoredModel {
  readonly model: LanguageModel;
  readonly checkpoint: LoadedCheckpoint;
}

/**
 * Builds the checkpoint's model with `factory` (from the caller's container: the built-in modules
 * and any plugin the model's routers need) and loads its weights. The caller disposes the model.
 */
export function modelFromCheckpoint(
  checkpoint: LoadedCheckpoint,
  factory: ModelFactory,
): RestoredModel {
  const config = (checkpoint.config as { model?: LanguageModelConfig } | null)?.model;
  if (config === undefined || config === null || typeof config !== 'object') {
    throw new CheckpointError(
      `${checkpoint.dir}/${CHECKPOINT_FILES.config}`,
      'corrupt',
      'it holds no "model" config',
    );
  }
  const model = factory.create(config);
  try {
    assignWeights(model.namedParameters(), checkpoint.weights);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, checkpoint };
}
