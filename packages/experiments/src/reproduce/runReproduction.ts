// Runs an isoFLOP comparison (a preset or a custom spec) variant after variant with the Trainer,
// each in <outDir>/runs/<variant>, then writes the report directory. Resumable: a finished run
// (runs/<variant>/run.json with status "complete" and the same train config) is not re-run; an
// interrupted one continues from its latest checkpoint.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, tf } from '@moderoute/core';
import type { ModelFactory } from '@moderoute/model';
import {
  CheckpointStore,
  RunLock,
  CorpusCache,
  ReplicaPool,
  type EvalEvent,
  type StepEvent,
} from '@moderoute/train';
import { inspectRun, type RunInspection } from './inspectRun.js';
import { REPRODUCTION_PRESETS, type PresetName } from './presets.js';
import { writeReproductionReport, type ReportPaths, type ReproductionRow } from './report.js';
import { trainRun } from './trainRun.js';
import {
  planReproduction,
  resolveReproductionSpec,
  type PlannedRun,
  type ReproductionSpec,
  type ResolvedReproductionSpec,
} from './spec.js';

/**
 * What `onRunStart` is told when a variant's run starts: its position, the step it starts from, its
 * steps and planned FLOPs.
 */
export interface RunStartInfo {
  readonly variant: string;
  /** 0-based position among the variants. */
  readonly index: number;
  readonly count: number;
  /** Step the run starts at (> 0 when it resumes). */
  readonly step: number;
  readonly totalSteps: number;
  readonly plannedFlops: number;
}

/**
 * How `runReproduction` runs: the report directory, the model factory, a shared corpus cache and
 * replicas, cancellation, progress callbacks.
 */
export interface ReproductionOptions {
  /** The report directory: runs/<variant>/, plots/, report.md, results.json. */
  readonly outDir: string;
  /** Shares the loaded corpus with the caller. */
  readonly corpusCache?: CorpusCache;
  /** Stops after the current step (the run saves a checkpoint; starting again continues). */
  readonly signal?: AbortSignal;
  /** Builds every variant's model (from the caller's container). */
  readonly modelFactory: ModelFactory;
  /** Data-parallel replicas of every run (Trainer's `replicas`; default 1); one pool serves every run. */
  readonly replicas?: number | ReplicaPool;
  /** A run starts or resumes (not called for runs already finished). */
  readonly onRunStart?: (info: RunStartInfo) => void;
  /** Called after each training step of a variant's run, with the variant's name. */
  readonly onStep?: (variant: string, event: StepEvent) => void;
  /** Called after each evaluation of a variant's run, with the variant's name. */
  readonly onEval?: (variant: string, event: EvalEvent) => void;
  /** A run finished, or was found finished (`skipped`). */
  readonly onRunEnd?: (
    row: ReproductionRow,
    info: { readonly skipped: boolean; readonly index: number; readonly count: number },
  ) => void;
}

/** What a comparison produced: why it stopped, the spec, the table rows and the report's paths. */
export interface ReproductionResult {
  /** 'completed': every run finished (some may have stopped on a non-finite loss) and the report is written. */
  readonly stopReason: 'completed' | 'interrupted';
  readonly spec: ResolvedReproductionSpec;
  /** Finished runs, in variant order. */
  readonly rows: readonly ReproductionRow[];
  /** Variants that were already finished and not re-run. */
  readonly skipped: readonly string[];
  /** Present when the report was written. */
  readonly paths?: ReportPaths;
  /** Wall time of this call. */
  readonly wallSeconds: number;
}

/** The spec of a preset name, or the (validated) custom spec. */
export function reproductionSpec(
  presetOrSpec: PresetName | ReproductionSpec,
): ResolvedReproductionSpec {
  if (typeof presetOrSpec === 'string') {
    const preset = (REPRODUCTION_PRESETS as Readonly<Record<string, ReproductionSpec>>)[
      presetOrSpec
    ];
    if (preset === undefined)
      throw new ConfigError(
        'preset',
        presetOrSpec,
        `one of ${Object.keys(REPRODUCTION_PRESETS)
          .map((p) => JSON.stringify(p))
          .join(', ')}, or a custom spec`,
      );
    return resolveReproductionSpec(preset);
  }
  return resolveReproductionSpec(presetOrSpec);
}

/**
 * Runs every variant of a preset (`'demo' | 'quick' | 'full'`) or custom spec at the same
 * training-FLOP budget, one after another, then writes report.md, results.json and plots/ under
 * `options.outDir`. The caller initialises the backend (initBackend) first.
 */
export async function runReproduction(
  presetOrSpec: PresetName | ReproductionSpec,
  options: ReproductionOptions,
): Promise<ReproductionResult> {
  const replicas = options.replicas;
  if (replicas instanceof ReplicaPool)
    return reproduce(presetOrSpec, options, () => Promise.resolve(replicas));
  if (replicas === undefined || replicas === 1) return reproduce(presetOrSpec, options, undefined);
  // One pool for every run, started when the first run trains and stopped at the end.
  let own: ReplicaPool | undefined;
  try {
    return await reproduce(
      presetOrSpec,
      options,
      async () => (own ??= await ReplicaPool.start({ replicas })),
    );
  } finally {
    await own?.close();
  }
}

async function reproduce(
  presetOrSpec: PresetName | ReproductionSpec,
  options: ReproductionOptions,
  replicaPool: (() => Promise<ReplicaPool>) | undefined,
): Promise<ReproductionResult> {
  const started = performance.now();
  const spec = reproductionSpec(presetOrSpec);
  const outDir = resolve(options.outDir);
  const factory = options.modelFactory;
  const corpusCache = options.corpusCache ?? new CorpusCache();
  const plans = planReproduction(spec, factory);
  mkdirSync(join(outDir, 'runs'), { recursive: true });
  // One process per report directory (each run's directory is locked again by its Trainer).
  const lock = RunLock.acquire(outDir);
  try {
    return await reproduceLocked(
      spec,
      outDir,
      options,
      factory,
      corpusCache,
      plans,
      started,
      replicaPool,
    );
  } finally {
    lock.release();
  }
}

async function reproduceLocked(
  spec: ResolvedReproductionSpec,
  outDir: string,
  options: ReproductionOptions,
  factory: ModelFactory,
  corpusCache: CorpusCache,
  plans: readonly PlannedRun[],
  started: number,
  replicaPool: (() => Promise<ReplicaPool>) | undefined,
): Promise<ReproductionResult> {
  const rows: ReproductionRow[] = [];
  const skipped: string[] = [];
  const count = plans.length;
  const elapsed = () => (performance.now() - started) / 1000;
  const interrupted = (): ReproductionResult => ({
    stopReason: 'interrupted',
    spec,
    rows,
    skipped,
    wallSeconds: elapsed(),
  });

  for (const [index, plan] of plans.entries()) {
    const name = plan.variant.name;
    const outcome = await trainRun(plan, spec, join(outDir, 'runs', name), {
      factory,
      corpusCache,
      replicaPool,
      ...(options.signal ? { signal: options.signal } : {}),
      onStart: ({ step, totalSteps }) =>
        options.onRunStart?.({
          variant: name,
          index,
          count,
          step,
          totalSteps,
          plannedFlops: plan.plannedFlops,
        }),
      ...(options.onStep ? { onStep: (e: StepEvent) => options.onStep!(name, e) } : {}),
      ...(options.onEval ? { onEval: (e: EvalEvent) => options.onEval!(name, e) } : {}),
    });
    if (outcome.kind === 'interrupted') return interrupted();
    rows.push(outcome.row);
    if (outcome.skipped) skipped.push(name);
    options.onRunEnd?.(outcome.row, { skipped: outcome.skipped, index, count });
  }

  // Inspect each finished run's routers from its final checkpoint, then write the report.
  const corpus = corpusCache.load(spec.data, { seqLen: spec.seqLen });
  const inspections: Record<string, RunInspection> = {};
  for (const row of rows) {
    if (row.blockKinds.every((k) => k === 'dense')) continue;
    const latest = new CheckpointStore(join(row.runDir, 'checkpoints')).latest();
    if (latest === undefined) continue; // stopped before its first checkpoint
    inspections[row.variant] = inspectRun(latest, {
      validation: corpus.validation,
      seqLen: spec.seqLen,
      batchSize: spec.batchSize,
      heatmapTokens: spec.heatmapTokens,
      evalWindows: spec.evalWindows,
      factory,
    });
  }
  const paths = await writeReproductionReport(outDir, {
    spec,
    rows,
    inspections,
    backend: tf.getBackend() ?? 'unknown',
    sessionSeconds: elapsed(),
  });
  return { stopReason: 'completed', spec, rows, skipped, paths, wallSeconds: elapsed() };
}
