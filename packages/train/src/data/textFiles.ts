// A user's text as documents, read safely.
//
// Reading (textDocuments): regular files only. Every path is looked at with stat before it is
// opened, and again with fstat once open (opened non-blocking, so a named pipe with no writer
// cannot hang the open), and a device, pipe or socket is refused by name. The files' sizes are
// summed before anything is read, and data over the limit (maxBytes, default 1 GiB) is refused;
// each file is read in chunks into one buffer of its size, so no file is read whole into a string
// and files over Node's 2 GiB readFileSync limit read as any other.
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  readdirSync,
  statSync,
  type Stats,
} from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { ConfigError } from '@moderoute/core';
import { DataError } from '../errors.js';
import type { TextDocument } from './corpus.js';

/** Default limit on the bytes of a user's text (every file of a folder together): 1 GiB. */
export const DEFAULT_MAX_DATA_BYTES = 2 ** 30;

/** The largest limit a user may set: 4 GiB - 1, the most one byte buffer holds. */
export const MAX_DATA_BYTES_LIMIT = 2 ** 32 - 1;

/** How a user's text is read. */
export interface ReadOptions {
  /**
   * The most bytes of text to read, every file of a folder together (default
   * DEFAULT_MAX_DATA_BYTES, at most MAX_DATA_BYTES_LIMIT). Larger data is refused before a byte
   * is read; the corpus holds it in memory about twice while splitting.
   */
  readonly maxBytes?: number;
}

/** File extensions read from a folder. */
export const TEXT_EXTENSIONS = ['.txt', '.md'] as const;

/** Share of invalid UTF-8 bytes above which a file is taken for binary. */
export const MAX_INVALID_UTF8 = 0.01;

/**
 * Reads a user's text: one regular file (any extension), or every .txt/.md file under a folder
 * (recursively, skipping names that start with "."), sorted by relative path, each a document
 * whose id is that path. Throws DataError when the path is missing or unreadable, is (or holds)
 * a device, pipe or socket, holds more than `maxBytes` bytes in all, holds no text, or a file is
 * binary (a NUL byte, or more than 1% of its bytes not valid UTF-8).
 */
export function textDocuments(path: string, options: ReadOptions = {}): TextDocument[] {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DATA_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_DATA_BYTES_LIMIT) {
    throw new ConfigError(
      'maxBytes',
      maxBytes,
      `an integer from 1 to ${MAX_DATA_BYTES_LIMIT} (4 GiB - 1)`,
    );
  }
  const root = resolve(path);
  const stats = statData(root);
  let files: { readonly file: string; readonly size: number }[];
  if (stats.isDirectory()) {
    files = listTextFiles(root).map((file) => ({
      file,
      size: requireRegular(file, statData(file)).size,
    }));
    if (files.length === 0)
      throw new DataError(root, 'empty', `holds no ${TEXT_EXTENSIONS.join(' or ')} files`);
  } else {
    files = [{ file: root, size: requireRegular(root, stats).size }];
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > maxBytes) {
    throw new DataError(
      root,
      'too-large',
      `holds ${formatBytes(total)} of ` +
        `text${files.length > 1 ? ` in ${files.length} files` : ''}, over the limit of ` +
        `${formatBytes(maxBytes)}: ` +
        `raise it (--max-data-bytes, or the corpus option maxBytes; at most ` +
        `${formatBytes(MAX_DATA_BYTES_LIMIT)}) or use less text`,
    );
  }
  const documents = files.map(({ file, size }) => {
    const bytes = readRegularFile(file, size);
    checkText(file, bytes);
    const id = stats.isDirectory() ? relative(root, file).split(sep).join('/') : basename(file);
    return { id, bytes };
  });
  // Whitespace-only documents carry nothing to learn; drop them before deciding "empty".
  const nonBlank = documents.filter((d) =>
    d.bytes.some((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d),
  );
  if (nonBlank.length === 0)
    throw new DataError(
      root,
      'empty',
      stats.isDirectory() ? 'holds only empty text files' : 'is empty',
    );
  return nonBlank;
}

/** "1.50 GiB (1610612736 bytes)". */
function formatBytes(n: number): string {
  const units: [number, string][] = [
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  for (const [scale, unit] of units)
    if (n >= scale) return `${(n / scale).toFixed(2)} ${unit} (${n} bytes)`;
  return `${n} bytes`;
}

/** stat of a data path, with a DataError naming it when that fails. */
function statData(path: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    throw dataFailure(path, error);
  }
}

/** A DataError for an operating-system error on `path`. */
function dataFailure(path: string, error: unknown): DataError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new DataError(path, 'missing', 'does not exist');
  if (code === 'ENOTDIR')
    return new DataError(
      path,
      'missing',
      'does not exist (a part of the path is a file, not a folder)',
    );
  if (code === 'EACCES' || code === 'EPERM')
    return new DataError(
      path,
      'unreadable',
      `cannot be read: permission denied (${code}); check its permissions`,
    );
  return new DataError(
    path,
    'unreadable',
    `cannot be read (${code ?? (error instanceof Error ? error.message : String(error))})`,
  );
}

/** What a non-regular file is, for messages. */
function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isDirectory()) return 'a folder';
  return 'not a regular file';
}

/** Requires a regular file: a device (/dev/zero), pipe or socket could stream without end or block. */
function requireRegular(path: string, stats: Stats): Stats {
  if (!stats.isFile()) {
    throw new DataError(
      path,
      'not-regular',
      `is ${kindOf(stats)}: data must be a regular text file, or a folder of them (save the stream to a file first)`,
    );
  }
  return stats;
}

/** Bytes read per system call (16 MiB). */
const READ_CHUNK = 2 ** 24;

/**
 * Reads a regular file of `size` bytes (its size when looked at) into one buffer, chunk by chunk.
 * Opened non-blocking and checked again once open, so a file swapped for a pipe meanwhile is
 * refused rather than waited on; a file that shrank meanwhile gives the bytes it still has, one
 * that grew the first `size`.
 */
function readRegularFile(file: string, size: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw dataFailure(file, error);
  }
  try {
    requireRegular(file, fstatSync(fd));
    const bytes = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, bytes, at, Math.min(READ_CHUNK, size - at), at);
      if (n === 0) break;
      at += n;
    }
    return at === size ? bytes : bytes.subarray(0, at);
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw dataFailure(file, error);
  } finally {
    closeSync(fd);
  }
}

function listTextFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (error) {
      throw dataFailure(d, error);
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(d, entry.name);
      const isDir = entry.isDirectory() || (entry.isSymbolicLink() && statData(full).isDirectory());
      if (isDir) walk(full);
      else if (TEXT_EXTENSIONS.some((ext) => entry.name.toLowerCase().endsWith(ext)))
        out.push(full);
    }
  };
  walk(dir);
  // Sort by relative path with plain code-unit order, independent of locale and file system.
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function checkText(file: string, bytes: Uint8Array): void {
  const nul = bytes.indexOf(0);
  if (nul >= 0)
    throw new DataError(file, 'binary', `is binary, not text: a NUL byte at offset ${nul}`);
  // Decoded in chunks (a string holds at most about 512 M characters).
  try {
    const strict = new TextDecoder('utf-8', { fatal: true });
    for (let at = 0; at < bytes.length; at += READ_CHUNK)
      strict.decode(bytes.subarray(at, at + READ_CHUNK), { stream: true });
    strict.decode();
    return;
  } catch {
    // Count the invalid sequences: replacement characters the lenient decoder produced beyond
    // the ones (EF BF BD) already present in the file.
  }
  const lenient = new TextDecoder('utf-8', { fatal: false });
  let replaced = 0;
  const count = (text: string): void => {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0xfffd) replaced++;
  };
  for (let at = 0; at < bytes.length; at += READ_CHUNK)
    count(lenient.decode(bytes.subarray(at, at + READ_CHUNK), { stream: true }));
  count(lenient.decode());
  let genuine = 0;
  for (let i = 0; i + 2 < bytes.length; i++)
    if (bytes[i] === 0xef && bytes[i + 1] === 0xbf && bytes[i + 2] === 0xbd) genuine++;
  const invalid = replaced - genuine;
  if (invalid > MAX_INVALID_UTF8 * bytes.length) {
    throw new DataError(
      file,
      'binary',
      `is binary, not text: ${invalid} invalid UTF-8 sequences in ${bytes.length} ` +
        `bytes (at most ${MAX_INVALID_UTF8 * 100}% allowed)`,
    );
  }
}
