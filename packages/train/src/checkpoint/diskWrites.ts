// Every byte the trainer writes into a run directory (checkpoint files, `latest`, metrics.jsonl)
// goes through writeAllSync, the one place where tests inject faults: a failed write (ENOSPC,
// EACCES) or a slow checkpoint write, to hit "killed inside a checkpoint write" on purpose.
//
// Test-only: faults come from setWriteFaults() or from the MODEROUTE_TEST_FAULTS environment
// variable (JSON WriteFaults), read once at load; see docs/cli.md, "Fault injection".
import { writeSync } from 'node:fs';

/** Faults to inject into writes. Test-only. */
export interface WriteFaults {
  /** Sleep this long before each write whose path contains `delayMatch` (default ".tmp-"). */
  readonly delayMs?: number;
  readonly delayMatch?: string;
  /**
   * Fail writes whose path contains `match` with this error code (e.g. "ENOSPC"), once
   * `afterWrites` such writes (default 0) have succeeded.
   */
  readonly fail?: { readonly match: string; readonly code: string; readonly afterWrites?: number };
}

function fromEnvironment(): WriteFaults | undefined {
  const text = process.env['MODEROUTE_TEST_FAULTS'];
  if (text === undefined || text === '') return undefined;
  return JSON.parse(text) as WriteFaults;
}

let faults: WriteFaults | undefined = fromEnvironment();
let matched = 0;

/** Sets (or with no argument clears) the injected faults. Test-only. */
export function setWriteFaults(next?: WriteFaults): void {
  faults = next;
  matched = 0;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `bytes` to `fd` (the file `path`), applying the injected faults. */
export function writeAllSync(fd: number, bytes: Uint8Array, path: string): void {
  if (faults !== undefined) {
    if (faults.delayMs !== undefined && path.includes(faults.delayMatch ?? '.tmp-'))
      Atomics.wait(sleeper, 0, 0, faults.delayMs);
    const fail = faults.fail;
    if (fail !== undefined && path.includes(fail.match) && matched++ >= (fail.afterWrites ?? 0)) {
      throw Object.assign(new Error(`${fail.code}: injected write failure, write '${path}'`), {
        code: fail.code,
        syscall: 'write',
        path,
      });
    }
  }
  let at = 0;
  while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
}
