// Merging a sweep's shards into one report: every directory must hold a finished shard
// (shard.json complete, every run's run.json complete, no process holding its lock) of the same
// sweep (same fingerprint and shard count), each shard exactly once. The report goes to its own
// directory, never into a shard's. Each problem is a SweepMergeError naming the directory.
import { existsSync, realpathSync } from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { ModerouteError } from '@moderoute/core';
import { LOCK_FILE, LockError, RunLock } from '@moderoute/train';
import { RUN_FILE, readRecord } from './runRecord.js';
import { describeShard, readManifest, type ShardManifest, type SweepRow } from './sweepManifest.js';
import { writeSweepReport, type SweepReportPaths } from './sweepReport.js';

/** What is wrong with a directory given to a merge. */
export type MergeProblem =
  | 'not-a-shard'
  | 'different-sweep'
  | 'duplicate-shard'
  | 'missing-shard'
  | 'unfinished'
  | 'running'
  | 'output-is-shard';

/** A merge cannot use a directory: `sweep shard /x/shard-1: still running: ...`. */
export class SweepMergeError extends ModerouteError {
  override readonly name = 'SweepMergeError';
  constructor(
    /** The directory at fault. */
    readonly dir: string,
    readonly problem: MergeProblem,
    detail: string,
  ) {
    super(`sweep shard ${dir}: ${detail}`);
  }
}

/** What a merge produced: the report's paths and the runs merged. */
export interface MergeResult {
  readonly paths: SweepReportPaths;
  readonly rows: readonly SweepRow[];
  readonly shards: readonly ShardManifest[];
}

const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
const inside = (dir: string, parent: string) => {
  const r = relative(parent, dir);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** Refuses a running shard: its lock is held by a live process (a stale one is taken over). */
function checkNotRunning(dir: string): void {
  if (!existsSync(join(dir, LOCK_FILE))) return;
  try {
    RunLock.acquire(dir).release();
  } catch (error) {
    if (error instanceof LockError)
      throw new SweepMergeError(dir, 'running', `still running (${error.message})`);
    throw error;
  }
}

/** Merges finished shards `dirs` into a report in `outDir` (see the file header). */
export async function mergeSweep(dirs: readonly string[], outDir: string): Promise<MergeResult> {
  const out = real(outDir);
  const shards: { dir: string; manifest: ShardManifest }[] = [];
  for (const given of dirs) {
    const dir = resolve(given);
    if (inside(out, real(dir)) || inside(real(dir), out))
      throw new SweepMergeError(
        dir,
        'output-is-shard',
        `the merge output ${out} overlaps it; write the report to a directory of its own`,
      );
    const manifest = existsSync(dir) ? readManifest(dir) : undefined;
    if (manifest === undefined)
      throw new SweepMergeError(
        dir,
        'not-a-shard',
        `has no shard.json: not a sweep shard directory, or its shard never started`,
      );
    checkNotRunning(dir);
    shards.push({ dir, manifest });
  }
  const first = shards[0]!;
  for (const s of shards.slice(1)) {
    if (
      s.manifest.fingerprint !== first.manifest.fingerprint ||
      s.manifest.shard.count !== first.manifest.shard.count
    )
      throw new SweepMergeError(
        s.dir,
        'different-sweep',
        `holds ${describeShard(s.manifest)}, but ${first.dir} holds ` +
          `${describeShard(first.manifest)}: shards of different sweeps, configs or shard ` +
          `counts cannot be merged`,
      );
  }
  const count = first.manifest.shard.count;
  const byIndex = new Map<number, string>();
  for (const s of shards) {
    const other = byIndex.get(s.manifest.shard.index);
    if (other !== undefined)
      throw new SweepMergeError(
        s.dir,
        'duplicate-shard',
        `holds shard ${s.manifest.shard.index}/${count}, as ${other} does`,
      );
    byIndex.set(s.manifest.shard.index, s.dir);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0)
    throw new SweepMergeError(
      first.dir,
      'missing-shard',
      `its sweep has ${count} shards, but shard${missing.length > 1 ? 's' : ''} ` +
        `${missing.map((i) => `${i}/${count}`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} ` +
        `in none of the directories given`,
    );
  const rows: SweepRow[] = [];
  for (const { dir, manifest } of shards) {
    const unfinished = manifest.runs.filter((r) => {
      const record = readRecord(join(dir, 'runs', r.name, RUN_FILE));
      if (record?.status !== 'complete' || record.row === undefined) return true;
      rows.push(record.row as SweepRow);
      return false;
    });
    if (unfinished.length > 0 || manifest.status !== 'complete')
      throw new SweepMergeError(
        dir,
        'unfinished',
        `${describeShard(manifest)} has ${unfinished.length} of its ${manifest.runs.length} ` +
          `runs unfinished${unfinished.length ? ` (first: ${unfinished[0]!.name})` : ''}; run ` +
          `the same shard command again to resume it`,
      );
  }
  if (rows.length !== first.manifest.totalRuns)
    throw new SweepMergeError(
      first.dir,
      'different-sweep',
      `the shards hold ${rows.length} runs, but the sweep has ${first.manifest.totalRuns}`,
    );
  const paths = await writeSweepReport(out, {
    spec: first.manifest.spec,
    rows,
    shards: shards
      .sort((a, b) => a.manifest.shard.index - b.manifest.shard.index)
      .map((s) => ({ dir: s.dir, shard: s.manifest.shard, backends: s.manifest.backends })),
  });
  return { paths, rows, shards: shards.map((s) => s.manifest) };
}
