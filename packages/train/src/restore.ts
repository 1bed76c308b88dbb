// Rebuilding a trained model from a checkpoint directory (modelFromCheckpoint.ts does it from a
// checkpoint in memory), and reading which tokens its routed blocks processed (routingPattern.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelFactory } from '@moderoute/model';
import { CHECKPOINT_FILES, CheckpointStore, loadCheckpoint } from './checkpoint/CheckpointStore.js';
import { modelFromCheckpoint, type RestoredModel } from './checkpoint/modelFromCheckpoint.js';
import { CheckpointError } from './errors.js';

export * from './checkpoint/modelFromCheckpoint.js';
export * from './routingPattern.js';
/** The checkpoint directory for a path: a checkpoint itself, or a run directory (its latest). */
export function resolveCheckpointDir(path: string): string {
  if (existsSync(join(path, CHECKPOINT_FILES.config))) return path;
  const latest =
    new CheckpointStore(join(path, 'checkpoints')).latest() ?? new CheckpointStore(path).latest();
  if (latest === undefined)
    throw new CheckpointError(
      path,
      'missing',
      'no checkpoint here: pass a run directory (with checkpoints/) or a checkpoint directory',
    );
  return latest;
}

/**
 * Builds the checkpoint's model with `factory` (from the caller's container: the built-in modules
 * and any plugin the model's routers need) and loads its weights. The caller disposes the model.
 */
export function restoreModel(path: string, factory: ModelFactory): RestoredModel {
  return modelFromCheckpoint(loadCheckpoint(resolveCheckpointDir(path)), factory);
}
