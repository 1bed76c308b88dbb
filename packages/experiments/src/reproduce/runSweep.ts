// Runs an isoFLOP sweep, or one shard of it, in <outDir>: each run of the shard in
// runs/<name>/ through trainRun (resume, checkpoints, the same records as runReproduction), then
// its final validation loss with a standard error from its last checkpoint; shard.json records
// the shard and its backends. An unsharded sweep (shard 0/1) also writes the report; shards are
// merged into one report by mergeSweep.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, tf } from '@moderoute/core';
import type { ModelFactory } from '@moderoute/model';
import { CorpusCache, ReplicaPool, ResumeError, RunLock, type StepEvent } from '@moderoute/train';
import { finalValidation } from './finalValidation.js';
import { describeShard, readManifest, writeManifest, type SweepRow } from './sweepManifest.js';
import { SWEEP_PRESETS, type SweepPresetName } from './sweepPresets.js';
import { writeSweepReport, type SweepReportPaths } from './sweepReport.js';
import { shardRuns, WHOLE, type ShardSpec } from './shard.js';
import {
  planSweep,
  resolveSweepSpec,
  sweepFingerprint,
  type ResolvedSweepSpec,
  type SweepRun,
  type SweepSpec,
} from './sweepSpec.js';
import { trainRun } from './trainRun.js';
import type { ReproductionRow } from './report.js';

/** How runSweep runs: the directory, the shard, the factory, replicas, callbacks. */
export interface SweepOptions {
  /** The shard's directory: shard.json, runs/<name>/ (and, unsharded, the report). */
  readonly outDir: string;
  readonly modelFactory: ModelFactory;
  /** Which shard to run (default: the whole sweep, 0/1). */
  readonly shard?: ShardSpec;
  readonly corpusCache?: CorpusCache;
  readonly signal?: AbortSignal;
  /** Data-parallel replicas of every run (default 1). */
  readonly replicas?: number | ReplicaPool;
  /** The backend's name recorded with each run (default tf.getBackend()). */
  readonly backend?: string;
  /** Called before each run trains (or is found finished), with its step to resume at. */
  readonly onRunStart?: (info: {
    readonly run: string;
    readonly index: number;
    readonly count: number;
    readonly step: number;
    readonly totalSteps: number;
  }) => void;
  /** Called after every training step of a run. */
  readonly onStep?: (run: string, event: StepEvent) => void;
  /** Called with each run's row once it has finished (skipped: it had finished before). */
  readonly onRunEnd?: (
    row: SweepRow,
    info: { readonly skipped: boolean; readonly index: number; readonly count: number },
  ) => void;
}

/** What a shard produced. */
export interface SweepResult {
  readonly stopReason: 'completed' | 'interrupted';
  readonly spec: ResolvedSweepSpec;
  readonly shard: ShardSpec;
  /** This shard's finished runs, in its order. */
  readonly rows: readonly SweepRow[];
  readonly skipped: readonly string[];
  /** The backends that trained this shard's runs, over every session (as in shard.json). */
  readonly backends: readonly string[];
  /** The report, when the whole sweep ran here (shard 0/1) and finished. */
  readonly paths?: SweepReportPaths;
  readonly wallSeconds: number;
}

/** The spec of a sweep preset name, or the validated custom sweep. */
export function sweepSpec(presetOrSpec: SweepPresetName | SweepSpec): ResolvedSweepSpec {
  if (typeof presetOrSpec === 'string') {
    const preset = (SWEEP_PRESETS as Readonly<Record<string, SweepSpec>>)[presetOrSpec];
    if (preset === undefined)
      throw new ConfigError(
        'preset',
        presetOrSpec,
        `one of ${Object.keys(SWEEP_PRESETS).join(', ')}`,
      );
    return resolveSweepSpec(preset);
  }
  return resolveSweepSpec(presetOrSpec);
}

/** Runs a sweep preset or spec, or one shard of it (see the file header). */
export async function runSweep(
  presetOrSpec: SweepPresetName | SweepSpec,
  options: SweepOptions,
): Promise<SweepResult> {
  const replicas = options.replicas;
  if (replicas instanceof ReplicaPool || replicas === undefined || replicas === 1)
    return sweep(
      presetOrSpec,
      options,
      replicas instanceof ReplicaPool ? () => Promise.resolve(replicas) : undefined,
    );
  let own: ReplicaPool | undefined;
  try {
    return await sweep(
      presetOrSpec,
      options,
      async () => (own ??= await ReplicaPool.start({ replicas })),
    );
  } finally {
    await own?.close();
  }
}

async function sweep(
  presetOrSpec: SweepPresetName | SweepSpec,
  options: SweepOptions,
  replicaPool: (() => Promise<ReplicaPool>) | undefined,
): Promise<SweepResult> {
  const started = performance.now();
  const spec = sweepSpec(presetOrSpec);
  const shard = options.shard ?? WHOLE;
  const outDir = resolve(options.outDir);
  const factory = options.modelFactory;
  const corpusCache = options.corpusCache ?? new CorpusCache();
  const all = planSweep(spec, factory);
  const mine = shardRuns(
    all.map((r) => ({ ...r, plannedFlops: r.plan.plannedFlops })),
    shard,
  );
  mkdirSync(join(outDir, 'runs'), { recursive: true });
  const lock = RunLock.acquire(outDir);
  try {
    const backend = options.backend ?? tf.getBackend() ?? 'unknown';
    const fingerprint = sweepFingerprint(spec);
    const before = readManifest(outDir);
    const identity = { sweep: spec.name, fingerprint, shard };
    if (
      before !== undefined &&
      (before.fingerprint !== fingerprint ||
        before.shard.index !== shard.index ||
        before.shard.count !== shard.count)
    )
      throw new ResumeError(
        `${outDir} holds ${describeShard(before)}, not ${describeShard(identity)}; ` +
          `choose another --out directory for it`,
      );
    const backends = [...new Set([...(before?.backends ?? []), backend])];
    const manifest = (status: 'partial' | 'complete') =>
      writeManifest(outDir, {
        ...identity,
        totalRuns: all.length,
        runs: mine.map((r) => ({ name: r.name, order: r.order })),
        backends,
        status,
        spec,
      });
    manifest('partial');
    const rows: SweepRow[] = [];
    const skipped: string[] = [];
    const elapsed = () => (performance.now() - started) / 1000;
    for (const [index, run] of mine.entries()) {
      const count = mine.length;
      const runDir = join(outDir, 'runs', run.name);
      const outcome = await trainRun(run.plan, run.spec, runDir, {
        factory,
        corpusCache,
        replicaPool,
        ...(options.signal ? { signal: options.signal } : {}),
        onStart: ({ step, totalSteps }) =>
          options.onRunStart?.({ run: run.name, index, count, step, totalSteps }),
        ...(options.onStep ? { onStep: (e: StepEvent) => options.onStep!(run.name, e) } : {}),
        finish: (row) => sweepRow(row, run, spec, runDir, backend, corpusCache, factory),
      });
      if (outcome.kind === 'interrupted')
        return {
          stopReason: 'interrupted',
          spec,
          shard,
          rows,
          skipped,
          backends,
          wallSeconds: elapsed(),
        };
      const row = outcome.row as SweepRow;
      rows.push(row);
      if (outcome.skipped) skipped.push(run.name);
      options.onRunEnd?.(row, { skipped: outcome.skipped, index, count });
    }
    manifest('complete');
    const paths =
      shard.count === 1
        ? await writeSweepReport(outDir, { spec, rows, shards: [{ dir: outDir, shard, backends }] })
        : undefined;
    return {
      stopReason: 'completed',
      spec,
      shard,
      rows,
      skipped,
      backends,
      ...(paths ? { paths } : {}),
      wallSeconds: elapsed(),
    };
  } finally {
    lock.release();
  }
}

function sweepRow(
  row: ReproductionRow,
  run: SweepRun,
  spec: ResolvedSweepSpec,
  runDir: string,
  backend: string,
  corpusCache: CorpusCache,
  factory: ModelFactory,
): SweepRow {
  const corpus = corpusCache.load(spec.data, { seqLen: spec.seqLen });
  const finalEval = finalValidation(runDir, {
    validation: corpus.validation,
    batchSize: spec.batchSize,
    seqLen: spec.seqLen,
    windows: spec.finalEvalWindows,
    factory,
  });
  const { width, numLayers, numHeads } = run.size;
  return {
    ...(row as SweepRow),
    sweep: {
      order: run.order,
      budget: run.budget,
      family: run.family,
      width,
      numLayers,
      numHeads,
      seed: run.seed,
    },
    backend,
    finalEval,
  };
}
