// One planned run of a comparison or sweep, trained in its own directory with the Trainer and
// recorded in runs/<name>/run.json: skipped when the record says complete, continued from its
// latest checkpoint when it was interrupted, refused when the directory holds a run of another
// config. runReproduction and runSweep both train every run through this.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelFactory } from '@moderoute/model';
import {
  writeFileAtomic,
  CorpusCache,
  ReplicaPool,
  ResumeError,
  Trainer,
  type EvalEvent,
  type StepEvent,
} from '@moderoute/train';
import type { ReproductionRow } from './report.js';
import { RUN_FILE, readRecord, recordJson, rowOf } from './runRecord.js';
import type { PlannedRun, ResolvedReproductionSpec } from './spec.js';

/** What a run is trained with: the factory, the corpus cache, replicas, cancellation, callbacks. */
export interface TrainRunContext {
  readonly factory: ModelFactory;
  readonly corpusCache: CorpusCache;
  readonly replicaPool: (() => Promise<ReplicaPool>) | undefined;
  readonly signal?: AbortSignal;
  readonly onStart?: (info: { readonly step: number; readonly totalSteps: number }) => void;
  readonly onStep?: (event: StepEvent) => void;
  readonly onEval?: (event: EvalEvent) => void;
  /**
   * Extends the row of a run that just finished, before it is recorded (the sweep adds its final
   * validation statistics); not called for runs found finished.
   */
  readonly finish?: (row: ReproductionRow) => ReproductionRow | Promise<ReproductionRow>;
}

/** How a run ended in this session. */
export type TrainRunOutcome =
  | { readonly kind: 'finished'; readonly row: ReproductionRow; readonly skipped: boolean }
  | { readonly kind: 'interrupted' };

/**
 * Trains `plan` in `runDir` (or finds it finished there). Throws ResumeError naming the directory
 * when it holds a run of the same name with another train config.
 */
export async function trainRun(
  plan: PlannedRun,
  spec: ResolvedReproductionSpec,
  runDir: string,
  ctx: TrainRunContext,
): Promise<TrainRunOutcome> {
  const name = plan.variant.name;
  const recordPath = join(runDir, RUN_FILE);
  const record = readRecord(recordPath);
  const configJson = JSON.parse(JSON.stringify(plan.trainConfig)) as unknown;
  if (record !== undefined && JSON.stringify(record.trainConfig) !== JSON.stringify(configJson)) {
    throw new ResumeError(
      `${runDir} holds a run of "${name}" with another train config (another preset or ` +
        `spec); choose another --out directory or remove it`,
    );
  }
  if (record?.status === 'complete' && record.row !== undefined)
    return { kind: 'finished', row: record.row, skipped: true };
  if (ctx.signal?.aborted) return { kind: 'interrupted' };
  const previousWall = record?.wallSeconds ?? 0;
  mkdirSync(runDir, { recursive: true });
  if (record === undefined)
    writeFileAtomic(
      recordPath,
      recordJson({ status: 'partial', trainConfig: configJson, wallSeconds: 0 }),
    );
  const pool = ctx.replicaPool ? await ctx.replicaPool() : undefined;
  const result = await new Trainer(plan.trainConfig).run({
    outDir: runDir,
    corpusCache: ctx.corpusCache,
    modelFactory: ctx.factory,
    ...(pool ? { replicas: pool } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onStart ? { onStart: ctx.onStart } : {}),
    ...(ctx.onStep ? { onStep: ctx.onStep } : {}),
    ...(ctx.onEval ? { onEval: ctx.onEval } : {}),
  });
  const wallSeconds = previousWall + result.wallSeconds;
  if (result.stopReason === 'interrupted') {
    writeFileAtomic(
      recordPath,
      recordJson({ status: 'partial', trainConfig: configJson, wallSeconds }),
    );
    return { kind: 'interrupted' };
  }
  const plain = rowOf(plan, spec, result, runDir, wallSeconds);
  const row = ctx.finish ? await ctx.finish(plain) : plain;
  writeFileAtomic(
    recordPath,
    recordJson({ status: 'complete', trainConfig: configJson, wallSeconds, row }),
  );
  return { kind: 'finished', row, skipped: false };
}
