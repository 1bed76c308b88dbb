// The checkpoint directory format (see CheckpointStore.ts for the layout and the save and load
// rules): what a checkpoint holds, its file names and its manifest.
import type { Tensor } from '@moderoute/core';
import type { DataPosition } from '../data/batches.js';
import type { HostTensor } from './safetensors.js';

/** Any JSON value. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * `value` as the JSON the checkpoint files hold (JSON.stringify's rules: undefined fields and
 * functions dropped, non-finite numbers null), for configs and metrics typed as interfaces.
 */
export function toJsonValue(value: unknown): JsonValue {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as JsonValue);
}

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

/** The files of a checkpoint directory, by role. */
export const CHECKPOINT_FILES = {
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  config: 'config.json',
  state: 'state.json',
  manifest: 'MANIFEST.json',
} as const;

/** Name of the pointer file to the newest checkpoint. */
export const LATEST_FILE = 'latest';

/** The format name a checkpoint's manifest carries. */
export const FORMAT = 'moderoute-checkpoint';
/** The checkpoint format version this code writes. */
export const FORMAT_VERSION = 1;
/** The name of a checkpoint directory: `ckpt-<step>`. */
export const DIR_PATTERN = /^ckpt-(\d+)$/;

/** A checkpoint's MANIFEST.json: format, version, step and each file's size and SHA-256. */
export interface Manifest {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly step: number;
  readonly files: Record<string, { readonly bytes: number; readonly sha256: string }>;
}

/** `ckpt-00000100` for step 100. */
export function checkpointName(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}`;
}

/** Options of loading a checkpoint. */
export interface LoadOptions {
  /** The model's parameter names and shapes: a checkpoint that differs is refused. */
  readonly expectWeights?: ReadonlyMap<string, readonly number[]>;
}
