// The lock that gives a run directory to one process at a time (train, each reproduction run,
// reproduce's report directory).
//
// `<dir>/moderoute.lock` holds the holder's pid, host, start time and command line as JSON. It
// is created atomically with its contents: written to a private temp file, then hard-linked to
// the lock name, which fails with EEXIST when a lock exists (so no process ever sees an empty or
// half-written lock). A lock whose holder is a dead process on this host is stale: a process
// takes it over under a second lock (`moderoute.lock.takeover`, made the same way), re-reading
// the lock there so that only the stale one it saw is removed, never a fresh one another process
// just took. A lock held from another host is never taken over (its pid cannot be checked from
// here). The lock is released by release(), and on process exit (process.exit included; a
// SIGKILL leaves a stale lock, which the next start takes over).
import { hostname } from 'node:os';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LockError, storageError, type LockHolder } from '../errors.js';
import { writeAllSync } from './diskWrites.js';

/** Name of the lock file in a run directory. */
export const LOCK_FILE = 'moderoute.lock';

/** Locks this process holds (lock file path -> its contents), released on exit. */
const held = new Map<string, string>();
let exitHookInstalled = false;
const backoff = new Int32Array(new SharedArrayBuffer(4));

function releaseAllOnExit(): void {
  for (const [path, text] of held) unlinkIfOurs(path, text);
  held.clear();
}

function unlinkIfOurs(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch {
    // Already gone, or the directory went away: nothing to release.
  }
}

/** The holder recorded in a lock file; undefined if it is gone; null if it is not a lock. */
function readHolder(path: string): LockHolder | undefined | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (
      Number.isInteger(value.pid) &&
      typeof value.host === 'string' &&
      typeof value.started === 'string'
    )
      return value as LockHolder;
  } catch {
    // fall through
  }
  return null;
}

/** Whether the holder may still run: alive on this host, or on another host (unknowable). */
function mayBeAlive(holder: LockHolder, path: string): boolean {
  if (holder.host !== hostname()) return true;
  // Our pid but not our lock: a previous life (e.g. a container's pid 1).
  if (holder.pid === process.pid) return held.has(path);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'ESRCH';
  }
}

/** Creates `path` holding `text`, atomically; false when it exists. */
function createExclusive(path: string, text: string): boolean {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx');
  try {
    writeAllSync(fd, new TextEncoder().encode(text), tmp);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(tmp);
  }
}

function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on host ${h.host} (since ${h.started}${h.command ? `: ${h.command}` : ''})`;
}

/** An exclusive lock on a run directory. */
export class RunLock {
  private released = false;

  private constructor(
    /** The lock file. */
    readonly path: string,
    private readonly text: string,
  ) {}

  /**
   * Takes the lock of `dir` (which must exist), taking over a stale one. Throws LockError naming
   * the holder when another live process (or one on another host) holds it, and StorageError when
   * the directory is not writable.
   */
  static acquire(dir: string): RunLock {
    const path = join(resolve(dir), LOCK_FILE);
    const me: LockHolder = {
      pid: process.pid,
      host: hostname(),
      started: new Date().toISOString(),
      command: process.argv.slice(1).join(' '),
    };
    const text = `${JSON.stringify(me)}\n`;
    const guard = `${path}.takeover`;
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        if (createExclusive(path, text)) {
          held.set(path, text);
          if (!exitHookInstalled) {
            process.on('exit', releaseAllOnExit);
            exitHookInstalled = true;
          }
          return new RunLock(path, text);
        }
        const holder = readHolder(path);
        if (holder === undefined) continue; // released meanwhile: try again
        if (holder === null) {
          throw new LockError(
            path,
            undefined,
            `run directory ${resolve(dir)} has a lock file ${path} that is not a moderoute ` +
              `lock; if no moderoute process uses this directory, remove that file`,
          );
        }
        if (mayBeAlive(holder, path)) {
          const remote = holder.host !== hostname();
          throw new LockError(
            path,
            holder,
            `run directory ${resolve(dir)} is in use by ${describeHolder(holder)}; wait for ` +
              `it to finish or stop ` +
              `it${remote ? `, or, if that process is gone, remove ${path}` : ''}, or use ` +
              `another directory`,
          );
        }
        // Stale: take it over under the guard, removing only the lock we found stale.
        if (!createExclusive(guard, text)) {
          const guardHolder = readHolder(guard);
          if (guardHolder !== undefined && guardHolder !== null && !mayBeAlive(guardHolder, guard))
            unlinkIfOurs(guard, `${JSON.stringify(guardHolder)}\n`);
          Atomics.wait(backoff, 0, 0, 10);
          continue; // another process is taking over right now, or its guard was stale
        }
        try {
          const again = readHolder(path);
          if (
            again !== undefined &&
            again !== null &&
            again.pid === holder.pid &&
            again.started === holder.started
          )
            unlinkSync(path);
        } finally {
          unlinkSync(guard);
        }
      }
    } catch (error) {
      throw storageError(
        error,
        path,
        `lock file ${path}`,
        `the run directory ${resolve(dir)} must be writable`,
      );
    }
    throw new LockError(
      path,
      undefined,
      `could not take the lock ${path}: other processes kept taking it`,
    );
  }

  /** Releases the lock (removes the file if it still holds our contents). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    unlinkIfOurs(this.path, this.text);
  }
}
