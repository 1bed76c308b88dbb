// Checks of the paths a user gives, made when the options are parsed: each refuses a path that
// cannot serve (a file where a folder belongs, a folder that does not exist, a device where a
// regular file belongs) with a message naming the option, the path and what to do, before any
// work starts. What can still fail later (a full disk) is reported by reportError in output.ts.
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { describeValue, isFileSystemError } from '@moderoute/core';

function refuse(option: string, path: string, detail: string): never {
  throw new InvalidArgumentError(`${option} (${describeValue(path)}) ${detail}`);
}

/** stat of `path`, undefined when nothing is there; other failures refuse the option. */
function statOrMissing(option: string, path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if (isFileSystemError(error) && error.code === 'ENOENT') return undefined;
    if (isFileSystemError(error) && error.code === 'ENOTDIR')
      refuse(option, path, 'cannot be used: a part of the path is a file, not a folder');
    refuse(
      option,
      path,
      `cannot be looked at: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** What kind of thing a stat describes, for messages. */
export function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function requireNonEmpty(option: string, path: string): void {
  if (path.trim() === '') refuse(option, path, 'must be a path, not an empty string');
}

function requireWritable(option: string, path: string, dir: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    refuse(
      option,
      path,
      `cannot be written: the folder ${describeValue(dir)} is not writable (check its ` +
        `permissions, or choose another path)`,
    );
  }
}

/** The nearest folder at or above `path` that exists; refuses a file on the way. */
function nearestExistingFolder(option: string, path: string): string {
  let dir = resolve(path);
  for (;;) {
    const stats = statOrMissing(option, dir);
    if (stats !== undefined) {
      if (!stats.isDirectory())
        refuse(
          option,
          path,
          `cannot be created: ${describeValue(dir)} is ${kindOf(stats)}, not a folder`,
        );
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) return dir;
    dir = up;
  }
}

/**
 * A folder the command writes into (`--out`): an existing, writable folder, or a path whose
 * nearest existing parent is a writable folder (the command creates the rest).
 */
export function outputFolder(option: string): (path: string) => string {
  return (path) => {
    requireNonEmpty(option, path);
    const stats = statOrMissing(option, path);
    if (stats !== undefined && !stats.isDirectory())
      refuse(option, path, `is ${kindOf(stats)}, not a folder: remove it or choose another path`);
    requireWritable(option, path, nearestExistingFolder(option, path));
    return path;
  };
}

/** A file the command writes (`--svg`): in an existing, writable folder, and not a folder itself. */
export function outputFile(option: string): (path: string) => string {
  return (path) => {
    requireNonEmpty(option, path);
    const stats = statOrMissing(option, path);
    if (stats !== undefined && stats.isDirectory())
      refuse(option, path, 'is a folder: name a file in it');
    if (stats !== undefined && !stats.isFile())
      refuse(option, path, `is ${kindOf(stats)}: name a regular file`);
    const dir = dirname(resolve(path));
    const parent = statOrMissing(option, dir);
    if (parent === undefined)
      refuse(
        option,
        path,
        `cannot be written: its folder ${describeValue(dir)} does not exist (create it first)`,
      );
    if (!parent.isDirectory())
      refuse(
        option,
        path,
        `cannot be written: ${describeValue(dir)} is ${kindOf(parent)}, not a folder`,
      );
    requireWritable(option, path, dir);
    return path;
  };
}

/** A file the command reads whole (`--config`, `--spec`): an existing regular file. */
export function inputFile(option: string): (path: string) => string {
  return (path) => {
    requireNonEmpty(option, path);
    const stats = statOrMissing(option, path);
    if (stats === undefined) refuse(option, path, 'does not exist');
    if (!stats.isFile()) refuse(option, path, `is ${kindOf(stats)}: name a regular file`);
    return path;
  };
}

/**
 * A folder the command reads (`--checkpoint`): not a file. A missing path is left to the
 * command, whose error says what belongs there.
 */
export function inputFolder(option: string, what: string): (path: string) => string {
  return (path) => {
    requireNonEmpty(option, path);
    const stats = statOrMissing(option, path);
    if (stats !== undefined && !stats.isDirectory())
      refuse(option, path, `is ${kindOf(stats)}, not a folder: pass ${what}`);
    return path;
  };
}

/** A path the user names for data (`--data`): non-empty; the corpus loader checks the rest. */
export function dataPath(option: string): (path: string) => string {
  return (path) => {
    requireNonEmpty(option, path);
    return path;
  };
}
