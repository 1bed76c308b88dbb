// One run of a reproduction on disk: runs/<variant>/run.json (its progress across sessions) and
// the report's row made from its result and its metrics log.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '@moderoute/model';
import { readJsonl, type TrainResult } from '@moderoute/train';
import type { ReproductionRow } from './report.js';
import type { PlannedRun, ResolvedReproductionSpec } from './spec.js';

/** runs/<variant>/run.json: progress of one run across sessions. */
export interface RunRecord {
  readonly format: 'moderoute-reproduction-run';
  readonly version: 1;
  readonly status: 'partial' | 'complete';
  /** The train config the run was started with (a different one refuses to continue). */
  readonly trainConfig: unknown;
  /** Wall time of all sessions so far. */
  readonly wallSeconds: number;
  readonly row?: ReproductionRow;
}

/** A run record as its file holds it (pretty JSON and a newline). */
export function recordJson(record: Omit<RunRecord, 'format' | 'version'>): string {
  const full: RunRecord = { format: 'moderoute-reproduction-run', version: 1, ...record };
  return `${JSON.stringify(full, null, 2)}\n`;
}

export const RUN_FILE = 'run.json';

export function readRecord(path: string): RunRecord | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    return record?.format === 'moderoute-reproduction-run' ? record : undefined;
  } catch {
    return undefined; // a damaged record: the checkpoints decide what is left to do
  }
}

/**
 * Median of the step times in a run's metrics log, in ms (tokens per step / tokens per second),
 * and the mean routed fraction of each block.
 */
function logStats(
  metricsPath: string,
  tokensPerStep: number,
  blocks: number,
): { msPerStep: number; routed: number[] } {
  const steps = existsSync(metricsPath)
    ? readJsonl<{ kind?: string; tokensPerSecond?: number; routing?: number[] }>(
        metricsPath,
      ).filter((r) => r.kind === 'step')
    : [];
  const ms = steps
    .map((r) => (r.tokensPerSecond ? (1000 * tokensPerStep) / r.tokensPerSecond : Number.NaN))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const routed = new Array<number>(blocks).fill(0);
  let n = 0;
  for (const r of steps) {
    if (!Array.isArray(r.routing) || r.routing.length !== blocks) continue;
    r.routing.forEach((f, i) => (routed[i]! += f));
    n += 1;
  }
  return {
    msPerStep: ms.length ? ms[Math.floor(ms.length / 2)]! : Number.NaN,
    routed: n ? routed.map((s) => s / n) : new Array<number>(blocks).fill(1),
  };
}

/** The report's row of a finished (or stopped) run, from its result and its metrics log. */
export function rowOf(
  plan: PlannedRun,
  spec: ResolvedReproductionSpec,
  result: TrainResult,
  runDir: string,
  wallSeconds: number,
): ReproductionRow {
  const blockKinds = resolveConfig(plan.trainConfig.model).blocks.map((b) => b.kind);
  const tokensPerStep = spec.batchSize * spec.seqLen;
  const { msPerStep, routed } = logStats(
    join(runDir, 'metrics.jsonl'),
    tokensPerStep,
    blockKinds.length,
  );
  return {
    variant: plan.variant.name,
    ...(plan.variant.description !== undefined ? { description: plan.variant.description } : {}),
    blockKinds,
    status: result.stopReason,
    parameters: result.parameters,
    forwardFlopsPerSequence: result.forwardFlopsPerSequence,
    trainingFlops: result.trainingFlops,
    budgetFraction: result.trainingFlops / spec.budgetFlops,
    steps: result.step,
    tokensSeen: result.tokensSeen,
    wallSeconds,
    msPerStep,
    tokensPerSecond: (1000 * tokensPerStep) / msPerStep,
    ...(result.finalValidationBitsPerByte !== undefined
      ? { finalValidationBitsPerByte: result.finalValidationBitsPerByte }
      : {}),
    routedFractionPerBlock: routed,
    evals: result.evals,
    runDir,
  };
}
