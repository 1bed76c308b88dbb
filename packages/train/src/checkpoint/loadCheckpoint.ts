// Reading a checkpoint back: every check (manifest, sizes, structure, hashes, finite values,
// optionally the parameter names and shapes) before anything is used. Writes nothing.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tf, type Tensor, type Variable } from '@moderoute/core';
import { CheckpointError } from '../errors.js';
import { compareShapes } from '../optim/compareShapes.js';
import { sha256 } from './atomicFiles.js';
import {
  CHECKPOINT_FILES,
  FORMAT,
  FORMAT_VERSION,
  type CheckpointState,
  type JsonValue,
  type LoadOptions,
  type LoadedCheckpoint,
  type Manifest,
} from './checkpointFormat.js';
import { fromHostTensor } from './hostTensors.js';
import { isLaterParameter } from './laterParameters.js';
import { decodeSafetensors, type HostTensor } from './safetensors.js';

/**
 * Whether `bytes` is a whole file of its kind (a safetensors file that decodes, or JSON that
 * parses).
 */
function isComplete(file: string, bytes: Uint8Array): boolean {
  try {
    if (file.endsWith('.safetensors')) decodeSafetensors(bytes, file);
    else JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses NaN and infinite values: training stops before saving non-finite weights, so such a
 * checkpoint was damaged or written by something else, and would evaluate to NaN and sample NUL
 * bytes. Names the first tensor and element at fault.
 */
function requireFinite(tensors: ReadonlyMap<string, HostTensor>, file: string): void {
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32' && t.dtype !== 'F64') continue;
    const data = t.data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) {
        let bad = 0;
        for (let j = i; j < data.length; j++) if (!Number.isFinite(data[j]!)) bad++;
        throw new CheckpointError(
          file,
          'corrupt',
          `has non-finite values in tensor "${name}": ${bad} of ${data.length} values are ` +
            `NaN or infinite (the first, ${data[i]}, at index ${i}); the checkpoint cannot ` +
            `be used`,
        );
      }
    }
  }
}

function readJson(file: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new CheckpointError(
      file,
      'corrupt',
      `is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** Reads and checks one checkpoint directory. Writes nothing. */
export function loadCheckpoint(dir: string, options: LoadOptions = {}): LoadedCheckpoint {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new CheckpointError(root, 'missing', 'does not exist (expected a checkpoint directory)');
  const manifestPath = join(root, CHECKPOINT_FILES.manifest);
  if (!existsSync(manifestPath))
    throw new CheckpointError(
      manifestPath,
      'truncated',
      'is missing: the checkpoint is incomplete (a save was interrupted)',
    );
  const manifest = readJson(manifestPath, readFileSync(manifestPath)) as Partial<Manifest>;
  if (
    manifest?.format !== FORMAT ||
    typeof manifest.files !== 'object' ||
    manifest.files === null
  ) {
    throw new CheckpointError(manifestPath, 'corrupt', `is not a ${FORMAT} manifest`);
  }
  if (manifest.version !== FORMAT_VERSION)
    throw new CheckpointError(
      manifestPath,
      'unsupported',
      `has format version ${manifest.version}; this moderoute reads version ${FORMAT_VERSION}`,
    );

  const read = (file: string): Uint8Array => {
    const path = join(root, file);
    const entry = manifest.files?.[file];
    if (entry === undefined)
      throw new CheckpointError(manifestPath, 'corrupt', `does not list ${file}`);
    if (!existsSync(path)) throw new CheckpointError(path, 'missing', 'is missing');
    const bytes = new Uint8Array(readFileSync(path));
    if (bytes.length !== entry.bytes) {
      // A complete file of another size was put there (another checkpoint's, an edit); only a
      // file that is shorter and does not hold together is a cut-off write.
      if (isComplete(file, bytes)) {
        throw new CheckpointError(
          path,
          'corrupt',
          `is not the file this checkpoint wrote: ${bytes.length} bytes, the manifest says ` +
            `${entry.bytes} (it was replaced or changed after the checkpoint was written)`,
        );
      }
      if (bytes.length < entry.bytes)
        throw new CheckpointError(
          path,
          'truncated',
          `is truncated: ${bytes.length} bytes, the manifest says ${entry.bytes}`,
        );
      throw new CheckpointError(
        path,
        'corrupt',
        `has ${bytes.length} bytes, the manifest says ${entry.bytes}`,
      );
    }
    return bytes;
  };
  const verify = (file: string, bytes: Uint8Array): void => {
    if (sha256(bytes) !== manifest.files?.[file]?.sha256) {
      throw new CheckpointError(
        join(root, file),
        'corrupt',
        'is corrupt: its SHA-256 differs from the one in MANIFEST.json (the file changed after ' +
          'it was written)',
      );
    }
  };
  const tensors = (file: string): Map<string, HostTensor> => {
    const bytes = read(file);
    // Structural errors first (they say what is wrong), then the hash (it catches the rest).
    const decoded = decodeSafetensors(bytes, join(root, file));
    verify(file, bytes);
    requireFinite(decoded.tensors, join(root, file));
    return decoded.tensors;
  };
  const json = (file: string): unknown => {
    const bytes = read(file);
    const value = readJson(join(root, file), bytes);
    verify(file, bytes);
    return value;
  };

  const weights = tensors(CHECKPOINT_FILES.model);
  const optimizer = tensors(CHECKPOINT_FILES.optimizer);
  const config = json(CHECKPOINT_FILES.config) as JsonValue;
  const state = json(CHECKPOINT_FILES.state) as CheckpointState;
  if (
    state === null ||
    typeof state !== 'object' ||
    !Number.isInteger(state.step) ||
    state.step < 0
  ) {
    throw new CheckpointError(
      join(root, CHECKPOINT_FILES.state),
      'corrupt',
      `has step ${JSON.stringify((state as { step?: unknown } | null)?.step)}, not an integer >= 0`,
    );
  }
  if (options.expectWeights !== undefined) {
    const problems = compareShapes(
      options.expectWeights,
      new Map([...weights].map(([k, t]) => [k, t.shape])),
    );
    if (problems.length > 0)
      throw new CheckpointError(
        join(root, CHECKPOINT_FILES.model),
        'mismatch',
        `does not match the model: ${problems.join('; ')}`,
      );
  }
  return { dir: root, step: state.step, weights, optimizer, config, state };
}

/** Names and shapes of variables, for LoadOptions.expectWeights. */
export function shapesOf(
  variables: ReadonlyMap<string, Variable | Tensor>,
): Map<string, readonly number[]> {
  return new Map([...variables].map(([k, v]) => [k, v.shape]));
}

/**
 * Assigns checkpoint weights to variables by name. Every name and shape is checked first, so a
 * mismatched checkpoint changes no variable. `file` names the source in errors.
 */
export function assignWeights(
  variables: ReadonlyMap<string, Variable>,
  weights: ReadonlyMap<string, HostTensor>,
  file: string = CHECKPOINT_FILES.model,
): void {
  // Untrained state a checkpoint lacks (v.trainable false: the MoD threshold rule's tau, added
  // after the first checkpoints were written) keeps its initial value, and LATER_PARAMETERS it
  // lacks are zeroed, so those still load.
  const later = isLaterParameter;
  const expected = new Map(
    [...variables].filter(([name, v]) => (v.trainable && !later(name)) || weights.has(name)),
  );
  const problems = compareShapes(
    shapesOf(expected),
    new Map([...weights].map(([k, t]) => [k, t.shape])),
  );
  if (problems.length > 0)
    throw new CheckpointError(file, 'mismatch', `does not match the model: ${problems.join('; ')}`);
  for (const [name, v] of variables)
    if (v.trainable && later(name) && !weights.has(name)) tf.tidy(() => v.assign(tf.zerosLike(v)));
  for (const [name, v] of expected) {
    tf.tidy(() => {
      const t = fromHostTensor(weights.get(name) as HostTensor);
      v.assign(t.dtype === v.dtype ? t : tf.cast(t, v.dtype));
    });
  }
}
