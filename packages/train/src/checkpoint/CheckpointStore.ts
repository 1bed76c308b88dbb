// Checkpoint directories, written atomically and read with every check before anything is used
// (the format: checkpointFormat.ts; reading: loadCheckpoint.ts; durable writes: atomicFiles.ts).
//
// Layout under a run's checkpoint root:
//
//   ckpt-00000100/            one complete checkpoint (step 100)
//     model.safetensors       weights by stable parameter name
//     optimizer.safetensors   AdamW state: `step`, `m.<name>`, `v.<name>`
//     config.json             model and training config (JSON)
//     state.json              step, data position, RNG state, metrics so far (JSON)
//     MANIFEST.json           written last: byte size and SHA-256 of each file above
//   latest                    text: the name of the newest complete checkpoint
//
// Save: every file is written into `ckpt-<step>.tmp-<pid>-<random>/` and fsynced, MANIFEST.json
// last; the directory is fsynced and renamed to `ckpt-<step>/` (one atomic rename); then
// `latest` is replaced atomically (temp file, fsync, rename) and checkpoints beyond the newest
// `keep` are removed. A crash at any point leaves the previous checkpoint and `latest` intact; a
// leftover `.tmp-` directory is ignored, and removeLeftovers() (called by the trainer once it
// holds the run directory's lock) deletes those of dead writers. A write that fails for a full
// disk or missing permission is a CheckpointError ('unwritable') saying how many bytes the
// checkpoint needs; the previous checkpoint stays. Load checks the manifest, each file's size,
// structure and hash, that every floating-point value is finite, and (optionally) the parameter
// names and shapes, and writes nothing.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statfsSync,
} from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { requireInt } from '@moderoute/core';
import { CheckpointError, describeOsError, osErrorCode } from '../errors.js';
import {
  formatBytes,
  fsyncDir,
  processRuns,
  sha256,
  writeFileAtomic,
  writeSynced,
} from './atomicFiles.js';
import {
  CHECKPOINT_FILES,
  DIR_PATTERN,
  LATEST_FILE,
  checkpointName,
  type CheckpointContents,
  type LoadOptions,
  type LoadedCheckpoint,
} from './checkpointFormat.js';
import { encodeCheckpointFiles } from './checkpointFiles.js';
import { loadCheckpoint } from './loadCheckpoint.js';

export * from './checkpointFormat.js';
export * from './checkpointFiles.js';
export { assignWeights, loadCheckpoint, shapesOf } from './loadCheckpoint.js';
export { formatBytes, writeFileAtomic } from './atomicFiles.js';

/** Options of one save. */
export interface SaveOptions {
  /**
   * Rewrite the existing checkpoint of this step in place (the same atomic write), leaving
   * `latest` and the other checkpoints as they are (`moderoute calibrate`). Default false: the
   * new checkpoint becomes the latest and checkpoints beyond `keep` are removed.
   */
  readonly rewrite?: boolean;
}

/** Options of a checkpoint store. */
export interface CheckpointStoreOptions {
  /** Complete checkpoints to keep (newest by step); default 3. */
  readonly keep?: number;
}

/** The checkpoints of one run, under one root directory. */
export class CheckpointStore {
  readonly root: string;
  readonly keep: number;

  constructor(root: string, options: CheckpointStoreOptions = {}) {
    this.root = resolve(root);
    this.keep = requireInt('keep', options.keep ?? 3, { min: 1 });
  }

  /** Writes a checkpoint atomically (see the file header); returns its directory. */
  async save(contents: CheckpointContents, options: SaveOptions = {}): Promise<string> {
    const step = requireInt('state.step', contents.state.step, { min: 0 });
    const name = checkpointName(step);
    const final = join(this.root, name);
    if (options.rewrite === true && !existsSync(join(final, CHECKPOINT_FILES.manifest)))
      throw new CheckpointError(final, 'missing', 'is not a complete checkpoint to rewrite');
    const tmp = join(this.root, `${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    // Read tensors before touching the disk: a failure here leaves nothing behind.
    const files = await encodeCheckpointFiles(contents, sha256);
    const needed = files.reduce((sum, [, bytes]) => sum + bytes.length, 0);
    const previous = this.latest();
    let writing = tmp;
    try {
      mkdirSync(this.root, { recursive: true });
      mkdirSync(tmp);
    } catch (error) {
      throw this.unwritable(error, this.root, needed, previous);
    }
    try {
      for (const [file, bytes] of files) {
        writing = join(tmp, file);
        writeSynced(writing, bytes);
      }
      fsyncDir(tmp);
      writing = final;
      if (existsSync(final)) {
        // Saving a step twice (e.g. interrupted right after a resume): move the old one aside
        // first; loaders fall back to scanning if `latest` dangles for that instant.
        const aside = `${final}.replaced-${randomBytes(4).toString('hex')}`;
        renameSync(final, aside);
        renameSync(tmp, final);
        rmSync(aside, { recursive: true, force: true });
      } else {
        renameSync(tmp, final);
      }
    } catch (error) {
      rmSync(tmp, { recursive: true, force: true });
      throw this.unwritable(error, writing, needed, previous);
    }
    fsyncDir(this.root);
    if (options.rewrite === true) return final;
    try {
      writeFileAtomic(join(this.root, LATEST_FILE), `${name}\n`);
    } catch (error) {
      // The checkpoint is complete; loaders find it by scanning when `latest` is stale.
      throw this.unwritable(error, join(this.root, LATEST_FILE), needed, previous);
    }
    this.prune(name);
    return final;
  }

  /** A CheckpointError for a write that failed for a reason the user can fix; others unchanged. */
  private unwritable(
    error: unknown,
    path: string,
    needed: number,
    previous: string | undefined,
  ): unknown {
    const code = osErrorCode(error);
    const cause = describeOsError(code);
    if (cause === undefined) return error;
    let free = '';
    try {
      const fs = statfsSync(existsSync(this.root) ? this.root : resolve(this.root, '..'));
      free = `, ${formatBytes(fs.bavail * fs.bsize)} free`;
    } catch {
      // statfs is not available everywhere; the size needed is still said.
    }
    const kept =
      previous !== undefined
        ? `the last good checkpoint ${previous} is kept`
        : 'no earlier checkpoint exists';
    const fix =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? 'free some space and run the same command again to continue'
        : `make ${this.root} writable, or use another run directory`;
    return new CheckpointError(
      path,
      'unwritable',
      `cannot be written: ${cause} (${code}); the checkpoint needs ${formatBytes(needed)}${free}; ${kept}; ${fix}`,
      { cause: error },
    );
  }

  /**
   * Removes what interrupted saves left behind: `ckpt-*.tmp-<pid>-*` directories and `latest`
   * temp files of writers that are no longer running (or of this process, which is not writing
   * now), and restores a checkpoint left moved aside (`.replaced-`) by a save that was killed
   * between its two renames. Call it only while holding the run directory's lock (RunLock), so
   * that no live writer's temporaries are touched. Returns the entries removed.
   */
  removeLeftovers(): string[] {
    if (!existsSync(this.root)) return [];
    const removed: string[] = [];
    for (const entry of readdirSync(this.root)) {
      const aside = /^(ckpt-\d+)\.replaced-[0-9a-f]+$/.exec(entry);
      if (aside !== null) {
        const final = join(this.root, aside[1]!);
        if (!existsSync(final)) renameSync(join(this.root, entry), final);
        else rmSync(join(this.root, entry), { recursive: true, force: true });
        removed.push(entry);
        continue;
      }
      const tmp = /\.tmp-(\d+)-[0-9a-f]+$/.exec(entry);
      if (tmp === null || !(entry.startsWith('ckpt-') || entry.startsWith(`${LATEST_FILE}.`)))
        continue;
      const pid = Number(tmp[1]);
      if (pid !== process.pid && processRuns(pid)) continue;
      rmSync(join(this.root, entry), { recursive: true, force: true });
      removed.push(entry);
    }
    return removed;
  }

  /** Removes every checkpoint (complete or not) and `latest`: a run starting over. */
  clear(): void {
    if (!existsSync(this.root)) return;
    for (const entry of readdirSync(this.root)) {
      if (entry.startsWith('ckpt-') || entry === LATEST_FILE)
        rmSync(join(this.root, entry), { recursive: true, force: true });
    }
  }

  /** Complete checkpoints (with a manifest), oldest first. */
  list(): { step: number; dir: string }[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .map((entry) => ({ entry, m: DIR_PATTERN.exec(entry) }))
      .filter(
        ({ entry, m }) =>
          m !== null && existsSync(join(this.root, entry, CHECKPOINT_FILES.manifest)),
      )
      .map(({ entry, m }) => ({
        step: Number((m as RegExpExecArray)[1]),
        dir: join(this.root, entry),
      }))
      .sort((a, b) => a.step - b.step);
  }

  /**
   * The newest checkpoint: the one `latest` names, or (when `latest` is missing or names a
   * directory that is gone) the complete one with the highest step; undefined when none.
   */
  latest(): string | undefined {
    const pointer = join(this.root, LATEST_FILE);
    if (existsSync(pointer)) {
      const name = readFileSync(pointer, 'utf8').trim();
      if (DIR_PATTERN.test(name) && existsSync(join(this.root, name))) return join(this.root, name);
    }
    return this.list().at(-1)?.dir;
  }

  /** Loads `dir` (default: the latest); throws CheckpointError when there is none. */
  load(dir?: string, options: LoadOptions = {}): LoadedCheckpoint {
    const target = dir ?? this.latest();
    if (target === undefined)
      throw new CheckpointError(this.root, 'missing', 'holds no complete checkpoint');
    return loadCheckpoint(target, options);
  }

  private prune(justWritten: string): void {
    const all = this.list();
    for (const { dir } of all.slice(0, Math.max(0, all.length - this.keep))) {
      if (basename(dir) !== justWritten) rmSync(dir, { recursive: true, force: true });
    }
  }
}
