// A checkpoint as bytes, with no file system: the files of a checkpoint directory (the layout in
// CheckpointStore.ts) encoded in memory, MANIFEST.json last, and a checkpoint decoded from such
// files with every check loadCheckpoint makes. CheckpointStore writes and loadCheckpoint reads
// these bytes under Node; a browser page downloads and reads them (examples/06-playground).
import { CheckpointError } from '../errors.js';
import { compareShapes } from '../optim/compareShapes.js';
import {
  CHECKPOINT_FILES,
  FORMAT,
  FORMAT_VERSION,
  type CheckpointContents,
  type CheckpointState,
  type JsonValue,
  type LoadOptions,
  type LoadedCheckpoint,
  type Manifest,
} from './checkpointFormat.js';
import { toHostTensors } from './hostTensors.js';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from './safetensors.js';

/**
 * The lowercase hex SHA-256 of bytes: Node's crypto, or digests a page computed ahead with Web
 * Crypto (asynchronous; encodeCheckpointFiles also takes an asynchronous one).
 */
export type Sha256 = (bytes: Uint8Array) => string;

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/**
 * The files of a checkpoint directory as bytes, in writing order: the two safetensors files, the
 * config and state JSON, and MANIFEST.json last (format, version, step, each file's size and
 * SHA-256). Reads the tensors (async) before anything else.
 */
export async function encodeCheckpointFiles(
  contents: CheckpointContents,
  sha256: (bytes: Uint8Array) => string | Promise<string>,
): Promise<[string, Uint8Array][]> {
  const metadata = { format: 'pt', producer: 'moderoute' };
  const { model, optimizer, config, state, manifest } = CHECKPOINT_FILES;
  const files: [string, Uint8Array][] = [
    [model, encodeSafetensors(await toHostTensors(contents.weights, model), metadata, model)],
    [
      optimizer,
      encodeSafetensors(await toHostTensors(contents.optimizer, optimizer), metadata, optimizer),
    ],
    [config, json(contents.config)],
    [state, json(contents.state)],
  ];
  const entry: Manifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    step: contents.state.step,
    files: {},
  };
  for (const [file, bytes] of files)
    entry.files[file] = { bytes: bytes.length, sha256: await sha256(bytes) };
  files.push([manifest, json(entry)]);
  return files;
}

/** Where decodeCheckpoint reads a checkpoint's files from. */
export interface CheckpointSource {
  /** The checkpoint's name in errors (a directory path, or what the user picked). */
  readonly dir: string;
  /** A file's bytes by name (CHECKPOINT_FILES), undefined when it is missing. */
  read(file: string): Uint8Array | undefined;
  readonly sha256: Sha256;
}

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

/** Checks and decodes a checkpoint's files (the checks of loadCheckpoint, on bytes). */
export function decodeCheckpoint(
  source: CheckpointSource,
  options: LoadOptions = {},
): LoadedCheckpoint {
  const root = source.dir;
  const path = (file: string) => `${root}/${file}`;
  const manifestPath = path(CHECKPOINT_FILES.manifest);
  const manifestBytes = source.read(CHECKPOINT_FILES.manifest);
  if (manifestBytes === undefined)
    throw new CheckpointError(
      manifestPath,
      'truncated',
      'is missing: the checkpoint is incomplete (a save was interrupted)',
    );
  const manifest = readJson(manifestPath, manifestBytes) as Partial<Manifest>;
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
    const entry = manifest.files?.[file];
    if (entry === undefined)
      throw new CheckpointError(manifestPath, 'corrupt', `does not list ${file}`);
    const bytes = source.read(file);
    if (bytes === undefined) throw new CheckpointError(path(file), 'missing', 'is missing');
    if (bytes.length !== entry.bytes) {
      // A complete file of another size was put there (another checkpoint's, an edit); only a
      // file that is shorter and does not hold together is a cut-off write.
      if (isComplete(file, bytes)) {
        throw new CheckpointError(
          path(file),
          'corrupt',
          `is not the file this checkpoint wrote: ${bytes.length} bytes, the manifest says ` +
            `${entry.bytes} (it was replaced or changed after the checkpoint was written)`,
        );
      }
      if (bytes.length < entry.bytes)
        throw new CheckpointError(
          path(file),
          'truncated',
          `is truncated: ${bytes.length} bytes, the manifest says ${entry.bytes}`,
        );
      throw new CheckpointError(
        path(file),
        'corrupt',
        `has ${bytes.length} bytes, the manifest says ${entry.bytes}`,
      );
    }
    return bytes;
  };
  const verify = (file: string, bytes: Uint8Array): void => {
    if (source.sha256(bytes) !== manifest.files?.[file]?.sha256) {
      throw new CheckpointError(
        path(file),
        'corrupt',
        'is corrupt: its SHA-256 differs from the one in MANIFEST.json (the file changed after ' +
          'it was written)',
      );
    }
  };
  const tensors = (file: string): Map<string, HostTensor> => {
    const bytes = read(file);
    // Structural errors first (they say what is wrong), then the hash (it catches the rest).
    const decoded = decodeSafetensors(bytes, path(file));
    verify(file, bytes);
    requireFinite(decoded.tensors, path(file));
    return decoded.tensors;
  };
  const jsonFile = (file: string): unknown => {
    const bytes = read(file);
    const value = readJson(path(file), bytes);
    verify(file, bytes);
    return value;
  };

  const weights = tensors(CHECKPOINT_FILES.model);
  const optimizer = tensors(CHECKPOINT_FILES.optimizer);
  const config = jsonFile(CHECKPOINT_FILES.config) as JsonValue;
  const state = jsonFile(CHECKPOINT_FILES.state) as CheckpointState;
  if (
    state === null ||
    typeof state !== 'object' ||
    !Number.isInteger(state.step) ||
    state.step < 0
  ) {
    throw new CheckpointError(
      path(CHECKPOINT_FILES.state),
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
        path(CHECKPOINT_FILES.model),
        'mismatch',
        `does not match the model: ${problems.join('; ')}`,
      );
  }
  return { dir: root, step: state.step, weights, optimizer, config, state };
}
