// Metrics logs as JSON Lines: one JSON object per line, appended and handed to the OS on every
// write (no buffering in the process), so a crash loses at most the line being written.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ModerouteError } from '@moderoute/core';
import { writeFileAtomic } from '../checkpoint/CheckpointStore.js';
import { writeAllSync } from '../checkpoint/diskWrites.js';
import { storageError } from '../errors.js';

/** A JSONL file cannot be parsed: names the file and the line. */
export class JsonlError extends ModerouteError {
  override readonly name = 'JsonlError';
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`metrics log ${file} line ${line} ${detail}`);
  }
}

/** Appends one JSON object per line to a file (created with its folder when missing). */
export class JsonlWriter<T extends object = Record<string, unknown>> {
  readonly path: string;
  private fd: number | undefined;

  constructor(path: string) {
    this.path = resolve(path);
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a');
    } catch (error) {
      throw storageError(error, this.path, `metrics log ${this.path}`);
    }
  }

  /** Writes `record` as one line; it is in the file when this returns. */
  append(record: T): void {
    if (this.fd === undefined) throw new ModerouteError(`metrics log ${this.path} is closed`);
    const line = JSON.stringify(record);
    if (line === undefined || !line.startsWith('{'))
      throw new JsonlError(this.path, 0, `record must be a JSON object, got ${line}`);
    try {
      writeAllSync(this.fd, new TextEncoder().encode(`${line}\n`), this.path);
    } catch (error) {
      throw storageError(
        error,
        this.path,
        `metrics log ${this.path}`,
        'the last checkpoint is kept: free some space (or fix the permissions) and run ' +
          'the same command again to continue from it',
      );
    }
  }

  /** Closes the file; a later `append` throws. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Reads every record of a JSONL file (an empty list when it does not exist). Blank lines are
 * skipped; an unterminated last line that does not parse (a crash mid-write) is dropped; any
 * other line that is not a JSON object throws JsonlError naming it.
 */
export function readJsonl<T = Record<string, unknown>>(path: string): T[] {
  const file = resolve(path);
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const last = i === lines.length - 1; // no newline after it
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      if (last) return;
      throw new JsonlError(
        file,
        i + 1,
        `is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new JsonlError(file, i + 1, 'is not a JSON object');
    out.push(value as T);
  });
  return out;
}

/**
 * Keeps only the records that pass `keep`, replacing the file atomically. A resumed run calls it
 * to drop records written after its checkpoint (e.g. `r => r.step < resumedStep`), so that the
 * log of a resumed run equals an uninterrupted one.
 */
export function filterJsonl<T = Record<string, unknown>>(
  path: string,
  keep: (record: T) => boolean,
): number {
  const records = readJsonl<T>(path).filter(keep);
  writeFileAtomic(resolve(path), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return records.length;
}
