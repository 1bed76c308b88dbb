// Checkpoint directories, written atomically and read with every check before anything is used.
//
// Layout under a run's checkpoint root:
//
//   ckpt-00000100/            one complete checkpoint (step 100)
//     model.safetensors       weights by stable parameter name
//     optimizer.safetensors   AdamW state: `step`, `m.<name>`, `v.<name>`
//     config.json             model and training config (JSON)
//     state.json              step, data position, RNG state, metrics so far (JSON)
//     MANIFEST.json           written last: byte size and SHA-256 of each file above
//   latest                    text: the name of the newest complete checkpoint
//
// Save: every file is written into `ckpt-<step>.tmp-<pid>-<random>/` and fsynced, MANIFEST.json
// last; the directory is fsynced and renamed to `ckpt-<step>/` (one atomic rename); then
// `latest` is replaced atomically (temp file, fsync, rename) and checkpoints beyond the newest
// `keep` are removed. A crash at any point leaves the previous checkpoint and `latest` intact; a
// leftover `.tmp-` directory is ignored, and removeLeftovers() (called by the trainer once it
// holds the run directory's lock) deletes those of dead writers. A write that fails for a full
// disk or missing permission is a CheckpointError ('unwritable') saying how many bytes the
// checkpoint needs; the previous checkpoint stays. Load checks the manifest, each file's size,
// structure and hash, that every floating-point value is finite, and (optionally) the parameter
// names and shapes, and writes nothing.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  statfsSync,
} from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { requireInt, tf, type Tensor, type Variable } from '@moderoute/core';
import type { DataPosition } from '../data/batches.js';
import { CheckpointError, describeOsError, osErrorCode } from '../errors.js';
import { writeAllSync } from './diskWrites.js';
import { compareShapes } from '../optim/AdamW.js';
import { fromHostTensor, toHostTensors } from './hostTensors.js';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from './safetensors.js';

/** Any JSON value. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What state.json holds; the trainer may add fields of its own. */
export interface CheckpointState {
  /** Updates applied so far (the next step to run). */
  readonly step: number;
  /** Where the training data stream continues. */
  readonly dataPosition?: DataPosition;
  /** Saved RNG states (e.g. `{ jitter: 123456 }`), as Rng.state numbers. */
  readonly rng?: Readonly<Record<string, number>>;
  /** Metrics so far (e.g. the last validation bits per byte, tokens seen, wall time). */
  readonly metrics?: JsonValue;
  readonly [key: string]: unknown;
}

/** What a checkpoint is made from. */
export interface CheckpointContents {
  /** Model weights by stable parameter name. */
  readonly weights: ReadonlyMap<string, Tensor>;
  /** Optimizer state (AdamW.getState()). */
  readonly optimizer: ReadonlyMap<string, Tensor>;
  /** Model and training config. */
  readonly config: JsonValue;
  readonly state: CheckpointState;
}

/** A checkpoint read back, in host memory. */
export interface LoadedCheckpoint {
  /** Absolute path of the checkpoint directory. */
  readonly dir: string;
  readonly step: number;
  readonly weights: Map<string, HostTensor>;
  readonly optimizer: Map<string, HostTensor>;
  readonly config: JsonValue;
  readonly state: CheckpointState;
}

export const CHECKPOINT_FILES = {
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  config: 'config.json',
  state: 'state.json',
  manifest: 'MANIFEST.json',
} as const;

/** Name of the pointer file to the newest checkpoint. */
export const LATEST_FILE = 'latest';

const FORMAT = 'moderoute-checkpoint';
const FORMAT_VERSION = 1;
const DIR_PATTERN = /^ckpt-(\d+)$/;

interface Manifest {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly step: number;
  readonly files: Record<string, { readonly bytes: number; readonly sha256: string }>;
}

/** `ckpt-00000100` for step 100. */
export function checkpointName(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}`;
}

/** Whether a process with this pid runs on this host. */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'ESRCH';
  }
}

/** 1258291 -> "1.2 MiB". */
export function formatBytes(bytes: number): string {
  const units: [number, string][] = [
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  for (const [scale, unit] of units)
    if (bytes >= scale) return `${(bytes / scale).toFixed(1)} ${unit}`;
  return `${bytes} bytes`;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Writes a file and fsyncs it before returning. */
function writeSynced(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    writeAllSync(fd, bytes, path);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Fsyncs a directory so that renames inside it are durable (a no-op where unsupported). */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync directories; renames are still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Replaces `path` atomically: temp file in the same directory, fsync, rename, fsync the dir. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeSynced(tmp, bytes);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  fsyncDir(resolve(path, '..'));
}

export interface CheckpointStoreOptions {
  /** Complete checkpoints to keep (newest by step); default 3. */
  readonly keep?: number;
}

export interface LoadOptions {
  /** The model's parameter names and shapes: a checkpoint that differs is refused. */
  readonly expectWeights?: ReadonlyMap<string, readonly number[]>;
}

/** The checkpoints of one run, under one root directory. */
export class CheckpointStore {
  readonly root: string;
  readonly keep: number;

  constructor(root: string, options: CheckpointStoreOptions = {}) {
    this.root = resolve(root);
    this.keep = requireInt('keep', options.keep ?? 3, { min: 1 });
  }

  /** Writes a checkpoint atomically (see the file header); returns its directory. */
  async save(contents: CheckpointContents): Promise<string> {
    const step = requireInt('state.step', contents.state.step, { min: 0 });
    const name = checkpointName(step);
    const final = join(this.root, name);
    const tmp = join(this.root, `${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    // Read tensors before touching the disk: a failure here leaves nothing behind.
    const weights = encodeSafetensors(
      await toHostTensors(contents.weights, CHECKPOINT_FILES.model),
      { format: 'pt', producer: 'moderoute' },
      CHECKPOINT_FILES.model,
    );
    const optimizer = encodeSafetensors(
      await toHostTensors(contents.optimizer, CHECKPOINT_FILES.optimizer),
      { format: 'pt', producer: 'moderoute' },
      CHECKPOINT_FILES.optimizer,
    );
    const files: [string, Uint8Array][] = [
      [CHECKPOINT_FILES.model, weights],
      [CHECKPOINT_FILES.optimizer, optimizer],
      [
        CHECKPOINT_FILES.config,
        new TextEncoder().encode(`${JSON.stringify(contents.config, null, 2)}\n`),
      ],
      [
        CHECKPOINT_FILES.state,
        new TextEncoder().encode(`${JSON.stringify(contents.state, null, 2)}\n`),
      ],
    ];
    const needed = files.reduce((sum, [, bytes]) => sum + bytes.length, 0);
    const previous = this.latest();
    let writing = tmp;
    try {
      mkdirSync(this.root, { recursive: true });
      mkdirSync(tmp);
    } catch (error) {
      throw this.unwritable(error, this.root, needed, previous);
    }
    try {
      const manifest: Manifest = { format: FORMAT, version: FORMAT_VERSION, step, files: {} };
      for (const [file, bytes] of files) {
        writing = join(tmp, file);
        writeSynced(writing, bytes);
        manifest.files[file] = { bytes: bytes.length, sha256: sha256(bytes) };
      }
      writing = join(tmp, CHECKPOINT_FILES.manifest);
      writeSynced(writing, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
      fsyncDir(tmp);
      writing = final;
      if (existsSync(final)) {
        // Saving a step twice (e.g. interrupted right after a resume): move the old one aside
        // first; loaders fall back to scanning if `latest` dangles for that instant.
        const aside = `${final}.replaced-${randomBytes(4).toString('hex')}`;
        renameSync(final, aside);
        renameSync(tmp, final);
        rmSync(aside, { recursive: true, force: true });
      } else {
        renameSync(tmp, final);
      }
    } catch (error) {
      rmSync(tmp, { recursive: true, force: true });
      throw this.unwritable(error, writing, needed, previous);
    }
    fsyncDir(this.root);
    try {
      writeFileAtomic(join(this.root, LATEST_FILE), `${name}\n`);
    } catch (error) {
      // The checkpoint is complete; loaders find it by scanning when `latest` is stale.
      throw this.unwritable(error, join(this.root, LATEST_FILE), needed, previous);
    }
    this.prune(name);
    return final;
  }

  /** A CheckpointError for a write that failed for a reason the user can fix; others unchanged. */
  private unwritable(
    error: unknown,
    path: string,
    needed: number,
    previous: string | undefined,
  ): unknown {
    const code = osErrorCode(error);
    const cause = describeOsError(code);
    if (cause === undefined) return error;
    let free = '';
    try {
      const fs = statfsSync(existsSync(this.root) ? this.root : resolve(this.root, '..'));
      free = `, ${formatBytes(fs.bavail * fs.bsize)} free`;
    } catch {
      // statfs is not available everywhere; the size needed is still said.
    }
    const kept =
      previous !== undefined
        ? `the last good checkpoint ${previous} is kept`
        : 'no earlier checkpoint exists';
    const fix =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? 'free some space and run the same command again to continue'
        : `make ${this.root} writable, or use another run directory`;
    return new CheckpointError(
      path,
      'unwritable',
      `cannot be written: ${cause} (${code}); the checkpoint needs ${formatBytes(needed)}${free}; ${kept}; ${fix}`,
      { cause: error },
    );
  }

  /**
   * Removes what interrupted saves left behind: `ckpt-*.tmp-<pid>-*` directories and `latest`
   * temp files of writers that are no longer running (or of this process, which is not writing
   * now), and restores a checkpoint left moved aside (`.replaced-`) by a save that was killed
   * between its two renames. Call it only while holding the run directory's lock (RunLock), so
   * that no live writer's temporaries are touched. Returns the entries removed.
   */
  removeLeftovers(): string[] {
    if (!existsSync(this.root)) return [];
    const removed: string[] = [];
    for (const entry of readdirSync(this.root)) {
      const aside = /^(ckpt-\d+)\.replaced-[0-9a-f]+$/.exec(entry);
      if (aside !== null) {
        const final = join(this.root, aside[1]!);
        if (!existsSync(final)) renameSync(join(this.root, entry), final);
        else rmSync(join(this.root, entry), { recursive: true, force: true });
        removed.push(entry);
        continue;
      }
      const tmp = /\.tmp-(\d+)-[0-9a-f]+$/.exec(entry);
      if (tmp === null || !(entry.startsWith('ckpt-') || entry.startsWith(`${LATEST_FILE}.`)))
        continue;
      const pid = Number(tmp[1]);
      if (pid !== process.pid && processRuns(pid)) continue;
      rmSync(join(this.root, entry), { recursive: true, force: true });
      removed.push(entry);
    }
    return removed;
  }

  /** Removes every checkpoint (complete or not) and `latest`: a run starting over. */
  clear(): void {
    if (!existsSync(this.root)) return;
    for (const entry of readdirSync(this.root)) {
      if (entry.startsWith('ckpt-') || entry === LATEST_FILE)
        rmSync(join(this.root, entry), { recursive: true, force: true });
    }
  }

  /** Complete checkpoints (with a manifest), oldest first. */
  list(): { step: number; dir: string }[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .map((entry) => ({ entry, m: DIR_PATTERN.exec(entry) }))
      .filter(
        ({ entry, m }) =>
          m !== null && existsSync(join(this.root, entry, CHECKPOINT_FILES.manifest)),
      )
      .map(({ entry, m }) => ({
        step: Number((m as RegExpExecArray)[1]),
        dir: join(this.root, entry),
      }))
      .sort((a, b) => a.step - b.step);
  }

  /**
   * The newest checkpoint: the one `latest` names, or (when `latest` is missing or names a
   * directory that is gone) the complete one with the highest step; undefined when none.
   */
  latest(): string | undefined {
    const pointer = join(this.root, LATEST_FILE);
    if (existsSync(pointer)) {
      const name = readFileSync(pointer, 'utf8').trim();
      if (DIR_PATTERN.test(name) && existsSync(join(this.root, name))) return join(this.root, name);
    }
    return this.list().at(-1)?.dir;
  }

  /** Loads `dir` (default: the latest); throws CheckpointError when there is none. */
  load(dir?: string, options: LoadOptions = {}): LoadedCheckpoint {
    const target = dir ?? this.latest();
    if (target === undefined)
      throw new CheckpointError(this.root, 'missing', 'holds no complete checkpoint');
    return loadCheckpoint(target, options);
  }

  private prune(justWritten: string): void {
    const all = this.list();
    for (const { dir } of all.slice(0, Math.max(0, all.length - this.keep))) {
      if (basename(dir) !== justWritten) rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Whether `bytes` is a whole file of its kind (a safetensors file that decodes, or JSON that parses). */
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
        'is corrupt: its SHA-256 differs from the one in MANIFEST.json (the file changed after it was written)',
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
  // after the first checkpoints were written) keeps its initial value, so those still load.
  const expected = new Map([...variables].filter(([name, v]) => v.trainable || weights.has(name)));
  const problems = compareShapes(
    shapesOf(expected),
    new Map([...weights].map(([k, t]) => [k, t.shape])),
  );
  if (problems.length > 0)
    throw new CheckpointError(file, 'mismatch', `does not match the model: ${problems.join('; ')}`);
  for (const [name, v] of expected) {
    tf.tidy(() => {
      const t = fromHostTensor(weights.get(name) as HostTensor);
      v.assign(t.dtype === v.dtype ? t : tf.cast(t, v.dtype));
    });
  }
}
