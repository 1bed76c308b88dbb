// How commands talk to the user: results on stdout (a table or one JSON object with --json),
// progress and notes on stderr, errors as one clear line and a non-zero exit code.
import { ModerouteError, PathError, isFileSystemError } from '@moderoute/core';

/** Where a command writes: results to one stream, progress and notes to another. */
export interface Io {
  /** A line of results (stdout). */
  readonly out: (text: string) => void;
  /** A line of progress or notes (stderr). */
  readonly err: (text: string) => void;
  /** Streamed result text without a line break (stdout). */
  readonly write: (text: string) => void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  write: (text) => process.stdout.write(text),
};

/**
 * Exit codes (docs/cli.md, "Exit codes"): 0 success; 1 an unexpected failure (a bug: the message
 * carries a stack); 2 bad input or state (a typed moderoute error, a refused option, or an
 * operating-system error on a file); 3 training stopped on a non-finite loss; 130 interrupted.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, diverged: 3, interrupted: 130 } as const;

/**
 * Prints an error for a user: typed errors as their message; an operating-system error on a file
 * (ENOSPC, EACCES...) as the path, the operation and what to do; anything else, a bug, with its
 * stack.
 */
export function reportError(io: Io, error: unknown): number {
  if (isFileSystemError(error)) error = PathError.fromSystemError('path', error.path, error);
  if (error instanceof ModerouteError) {
    io.err(`moderoute: ${error.name}: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof Error && (error as { code?: string }).code?.startsWith('commander.'))
    return EXIT.usage;
  io.err(
    `moderoute: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  return EXIT.failure;
}

/** Formats a number of FLOPs: 3.2e9 -> "3.20 GFLOP". */
export function formatFlops(flops: number): string {
  const units: [number, string][] = [
    [1e15, 'PFLOP'],
    [1e12, 'TFLOP'],
    [1e9, 'GFLOP'],
    [1e6, 'MFLOP'],
    [1e3, 'kFLOP'],
  ];
  for (const [scale, unit] of units)
    if (Math.abs(flops) >= scale) return `${(flops / scale).toFixed(2)} ${unit}`;
  return `${flops.toFixed(0)} FLOP`;
}
