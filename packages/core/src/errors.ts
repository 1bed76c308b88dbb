// Typed errors of moderoute. Every message names the parameter, the value it got and what was
// expected, so a user can fix a config or a call without reading the source.

/** Base class of every error moderoute throws on purpose. */
export class ModerouteError extends Error {
  override readonly name: string = 'ModerouteError';
}

/** Formats a value for an error message: short, unambiguous, never throws. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null)
    return String(value);
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`;
  try {
    const json = JSON.stringify(value);
    return json.length > 120 ? `${json.slice(0, 117)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A configuration value is invalid: `numExperts (0) must be an integer >= 1`. */
export class ConfigError extends ModerouteError {
  override readonly name = 'ConfigError';
  constructor(
    readonly parameter: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${parameter} (${describeValue(value)}) must be ${expected}`);
  }
}

/** A tensor has the wrong rank, shape or dtype: `x.shape ([2, 3]) must be [N, 4]`. */
export class ShapeError extends ModerouteError {
  override readonly name = 'ShapeError';
  constructor(
    readonly parameter: string,
    readonly actual: readonly number[] | string,
    readonly expected: string,
  ) {
    super(
      `${parameter} (${typeof actual === 'string' ? actual : describeValue(actual)}) must be ${expected}`,
    );
  }
}

/** A backend cannot be used: unknown name, missing package, or failed initialisation. */
export class BackendError extends ModerouteError {
  override readonly name = 'BackendError';
  constructor(
    readonly backend: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A name was registered twice, or looked up and not found, in a registry. */
export class RegistryError extends ModerouteError {
  override readonly name = 'RegistryError';
}

/** What an operating-system error on a file means, and what to do about it. */
const FS_REASONS: Readonly<Record<string, readonly [reason: string, advice: string]>> = {
  ENOENT: [
    'it (or a folder on its way) does not exist',
    'check the path, or create the folder first',
  ],
  ENOTDIR: ['it (or a part of the path) is a file, not a folder', 'check the path'],
  EISDIR: ['it is a folder, not a file', 'name a file'],
  EEXIST: ['something already exists there', 'remove it or choose another path'],
  EACCES: [
    'permission denied',
    'check its permissions and those of its folder, or choose another path',
  ],
  EPERM: [
    'operation not permitted',
    'check its permissions and those of its folder, or choose another path',
  ],
  EROFS: ['the file system is read-only', 'choose a path on a writable file system'],
  ENOSPC: ['no space left on the device', 'free some space or choose another device'],
  EDQUOT: ['the disk quota is exhausted', 'free some space or choose another device'],
  ENAMETOOLONG: ['the name is too long', 'choose a shorter path'],
  ELOOP: ['too many symbolic links on the way', 'check the links on the path'],
  EMFILE: ['too many open files', 'close other programs or raise the open-file limit'],
  EBUSY: ['the file is busy', 'try again once whatever holds it is done'],
  EIO: ['an input/output error of the device', 'check the disk'],
};

/** What a failed system call was doing, in words: "scandir" -> "list". */
const FS_OPERATIONS: Readonly<Record<string, string>> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create the folder',
  rmdir: 'remove the folder',
  scandir: 'list the folder',
  opendir: 'list the folder',
  stat: 'look at',
  lstat: 'look at',
  rename: 'rename',
  unlink: 'remove',
  rm: 'remove',
  copyfile: 'copy',
  access: 'access',
  fsync: 'sync',
  close: 'close',
};

/** A Node.js system error on a file: `code` (ENOENT...), `syscall`, and usually `path`. */
export interface FileSystemFailure extends Error {
  readonly code: string;
  readonly syscall?: string;
  readonly path?: string;
  readonly dest?: string;
}

/** Whether `error` is an operating-system error about a file (it names a path). */
export function isFileSystemError(
  error: unknown,
): error is FileSystemFailure & { readonly path: string } {
  if (!(error instanceof Error)) return false;
  const e = error as Partial<FileSystemFailure>;
  return typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code) && typeof e.path === 'string';
}

/**
 * A file or folder the user named cannot be used: the path, what was being done, why, and what
 * to do. `--out ("runs/a") cannot create the folder: something already exists there (EEXIST);
 * remove it or choose another path`.
 */
export class PathError extends ModerouteError {
  override readonly name = 'PathError';
  constructor(
    /** The option or parameter that named the path (`--out`), or "path" when unknown. */
    readonly parameter: string,
    readonly path: string,
    /** What went wrong and what to do, after the path. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${parameter} (${describeValue(path)}) ${detail}`, options);
  }

  /** A PathError for an operating-system error (`error.code`, `error.syscall`) on `path`. */
  static fromSystemError(
    parameter: string,
    path: string,
    error: FileSystemFailure,
    operation?: string,
  ): PathError {
    const [reason, advice] = FS_REASONS[error.code] ?? [error.message, 'check the path'];
    const verb = operation ?? FS_OPERATIONS[error.syscall ?? ''] ?? error.syscall ?? 'use';
    const where =
      error.path !== undefined && error.path !== path ? ` (at ${describeValue(error.path)})` : '';
    return new PathError(
      parameter,
      path,
      `cannot ${verb}${where}: ${reason} (${error.code}); ${advice}`,
      { cause: error },
    );
  }
}
