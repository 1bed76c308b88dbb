// Reading a checkpoint directory back: every check of decodeCheckpoint (checkpointFiles.ts:
// manifest, sizes, structure, hashes, finite values, optionally the parameter names and shapes)
// on the directory's files before anything is used. Writes nothing.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CheckpointError } from '../errors.js';
import { sha256 } from './atomicFiles.js';
import type { LoadOptions, LoadedCheckpoint } from './checkpointFormat.js';
import { decodeCheckpoint } from './checkpointFiles.js';

export { assignWeights, shapesOf } from './assignWeights.js';

/** Reads and checks one checkpoint directory. Writes nothing. */
export function loadCheckpoint(dir: string, options: LoadOptions = {}): LoadedCheckpoint {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new CheckpointError(root, 'missing', 'does not exist (expected a checkpoint directory)');
  const read = (file: string): Uint8Array | undefined => {
    const path = join(root, file);
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
  };
  return decodeCheckpoint({ dir: root, read, sha256 }, options);
}
