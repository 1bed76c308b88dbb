// The resume rules of a run directory (one rule for every setting): a run continues only with
// what it was trained with. The model config, the data (by fingerprint) and every setting of
// RESUME_FIXED must equal the checkpoint's, else a ResumeError names the setting and both values;
// the settings of RESUME_FREE (steps, evaluation and checkpoint cadence) may change and are
// honoured. `steps` may not be below the checkpoint's step. warmupSteps left at its default
// (derived from steps) keeps the checkpoint's value. Also what a run does to its directory on
// start: start over (--no-resume) and removal of dead writers' temporaries.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ModerouteError } from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import {
  CHECKPOINT_FILES,
  assignWeights,
  type CheckpointStore,
} from './checkpoint/CheckpointStore.js';
import type { Corpus } from './data/corpus.js';
import { TrainWindows } from './data/batches.js';
import type { AdamW } from './optim/AdamW.js';
import type { EvalEvent } from './trainTypes.js';
import { CheckpointError } from './errors.js';
import type { ResolvedTrainConfig, TrainConfig } from './TrainConfig.js';

/**
 * Thrown when a checkpoint cannot continue this run (another model, other data, a setting that
 * differs), or when --no-resume would overwrite another model's run. Nothing is overwritten.
 */
export class ResumeError extends ModerouteError {
  override readonly name = 'ResumeError';
}

/** Settings that shape the model's training (data stream, optimizer, schedule): fixed for a run's life. */
export const RESUME_FIXED = [
  'batchSize',
  'seqLen',
  'seed',
  'learningRate',
  'warmupSteps',
  'minLrRatio',
  'beta1',
  'beta2',
  'weightDecay',
  'clipNorm',
] as const;

/**
 * Settings a resumed run may change: more (or fewer, not below the checkpoint) steps, evaluation
 * and checkpoint cadence.
 */
export const RESUME_FREE = [
  'steps',
  'evalEvery',
  'evalWindows',
  'checkpointEvery',
  'checkpointMinutes',
  'keepCheckpoints',
] as const;

/** The `moderoute train` flag of each fixed setting, for messages. */
const FLAG_OF: Readonly<Record<string, string>> = {
  batchSize: '--batch-size',
  seqLen: '--seq-len',
  seed: '--seed',
  learningRate: '--lr',
  warmupSteps: '--warmup',
};

/**
 * Where two JSON values first differ: `blocks[1].kind: "mod" in the checkpoint, "dense" now`, or
 * undefined when equal.
 */
export function firstDifference(saved: unknown, now: unknown, path = ''): string | undefined {
  if (JSON.stringify(saved) === JSON.stringify(now)) return undefined;
  if (
    saved !== null &&
    now !== null &&
    typeof saved === 'object' &&
    typeof now === 'object' &&
    Array.isArray(saved) === Array.isArray(now)
  ) {
    const a = saved as Record<string, unknown>;
    const b = now as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const at = Array.isArray(saved) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      const d = firstDifference(a[key], b[key], at);
      if (d !== undefined) return d;
    }
  }
  const show = (v: unknown) => (v === undefined ? 'absent' : JSON.stringify(v));
  return `${path || 'the value'}: ${show(saved)} in the checkpoint, ${show(now)} now`;
}

/** The config to resume with: this run's, checked against the checkpoint's by the resume rules. */
export function resumeConfig(
  config: ResolvedTrainConfig,
  given: TrainConfig,
  savedTrain: unknown,
  checkpoint: string,
  savedStep: number,
  outDir: string,
): ResolvedTrainConfig {
  const saved = (savedTrain !== null && typeof savedTrain === 'object' ? savedTrain : {}) as Record<
    string,
    unknown
  >;
  let c = config;
  // A warm-up left at its default follows `steps`; the run's warm-up is the one it had.
  if (given.warmupSteps === undefined && typeof saved['warmupSteps'] === 'number')
    c = { ...c, warmupSteps: saved['warmupSteps'] };
  for (const key of RESUME_FIXED) {
    if (!(key in saved)) continue; // written before the setting existed
    if (JSON.stringify(saved[key]) !== JSON.stringify(c[key])) {
      const flag = FLAG_OF[key] ? ` (${FLAG_OF[key]})` : '';
      throw new ResumeError(
        `cannot resume ${outDir} from ${checkpoint}: ${key}${flag} is ${JSON.stringify(c[key])} ` +
          `now but the run was trained with ${JSON.stringify(saved[key])}; ` +
          `a run keeps its ${RESUME_FIXED.join(', ')} (only ${RESUME_FREE.join(', ')} may ` +
          `change). Run again with ${FLAG_OF[key] ?? key} ${JSON.stringify(saved[key])}, start ` +
          `over with --no-resume, or use another --out directory`,
      );
    }
  }
  if (c.steps < savedStep) {
    throw new ResumeError(
      `${outDir} already holds ${savedStep} steps (${checkpoint}), more than steps ${c.steps}: ` +
        `pass --steps ${savedStep} or more to continue that run, --no-resume to start over, or ` +
        `another --out directory`,
    );
  }
  return c;
}

/**
 * --no-resume: start over in a directory that holds checkpoints of the same model (removing
 * them, so it never mixes two runs); refuses when any holds another model.
 */
export function startOver(store: CheckpointStore, modelConfig: unknown, outDir: string): void {
  for (const { dir } of store.list()) {
    const path = join(dir, CHECKPOINT_FILES.config);
    if (!existsSync(path)) throw new CheckpointError(path, 'missing', 'is missing');
    let config: unknown;
    try {
      config = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new CheckpointError(
        path,
        'corrupt',
        `is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    const difference = firstDifference(
      (config as { model?: unknown } | null)?.model,
      modelConfig,
      'model',
    );
    if (difference !== undefined) {
      throw new ResumeError(
        `--no-resume will not overwrite ${outDir}: its checkpoint ${dir} holds another model ` +
          `(${difference}); use another --out directory, or remove ${outDir} yourself to discard ` +
          `that run`,
      );
    }
  }
  store.clear();
}

/** The data source, for messages. */
export function describeData(data: ResolvedTrainConfig['data']): string {
  return data.kind === 'path' ? `data ${data.path}` : 'the embedded corpus';
}

/**
 * Removes the temp files of atomic writes (`<name>.tmp-<pid>-<hex>`: metrics.jsonl, run.json,
 * the lock) in `dir` whose writer no longer runs (or is this process, which is not writing now).
 */
export function removeDeadTemporaries(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const pid = Number(/\.tmp-(\d+)-[0-9a-f]+$/.exec(entry)?.[1]);
    if (!Number.isInteger(pid)) continue;
    let alive = pid !== process.pid;
    if (alive) {
      try {
        process.kill(pid, 0);
      } catch (error) {
        alive = (error as { code?: string }).code !== 'ESRCH';
      }
    }
    if (!alive) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

/** Where a run continues: from the latest checkpoint, its weights and optimizer state loaded. */
export interface ResumePoint {
  readonly checkpoint: string;
  readonly step: number;
  readonly config: ResolvedTrainConfig;
  /** The data stream from the checkpoint's position (absent in checkpoints without one). */
  readonly windows?: TrainWindows;
  /** CheckpointState.rng (empty in checkpoints written before it was). */
  readonly rng: Readonly<Record<string, number>>;
  readonly evals: readonly EvalEvent[];
}

/**
 * Loads the latest checkpoint of `store` into `model` and `optimizer` under the resume rules
 * (undefined when there is none). Names and shapes are checked by assignWeights before anything
 * is assigned, with the rule restore uses (untrained state a checkpoint lacks keeps its initial
 * value).
 */
export function loadResumePoint(
  store: CheckpointStore,
  model: LanguageModel,
  config: ResolvedTrainConfig,
  given: TrainConfig,
  corpus: Corpus,
  run: { readonly outDir: string; readonly optimizer: AdamW },
): ResumePoint | undefined {
  const { outDir } = run;
  const latest = store.latest();
  if (latest === undefined) return undefined;
  const saved = store.load(latest);
  const savedConfig = saved.config as { model?: unknown; train?: unknown } | null;
  const difference = firstDifference(savedConfig?.model, model.getConfig(), 'model');
  if (difference !== undefined) {
    throw new ResumeError(
      `cannot resume ${outDir}: its checkpoint ${latest} holds another model (${difference}); ` +
        `use another --out directory for this model`,
    );
  }
  const c = resumeConfig(config, given, savedConfig?.train, latest, saved.step, outDir);
  const position = saved.state.dataPosition;
  if (position && position.fingerprint !== corpus.fingerprint) {
    throw new ResumeError(
      `cannot resume ${outDir} from ${latest}: the run was trained on other data (fingerprint ` +
        `${position.fingerprint}; ${describeData(c.data)} has ${corpus.fingerprint}); use the ` +
        `run's data, --no-resume to start over, or another --out directory`,
    );
  }
  assignWeights(model.namedParameters(), saved.weights, join(latest, CHECKPOINT_FILES.model));
  run.optimizer.setState(saved.optimizer);
  const evals = (saved.state.metrics as { evals?: EvalEvent[] } | undefined)?.evals;
  return {
    checkpoint: latest,
    step: saved.step,
    config: c,
    ...(position
      ? { windows: TrainWindows.resume(corpus.train, position, corpus.fingerprint) }
      : {}),
    rng: saved.state.rng ?? {},
    evals: Array.isArray(evals) ? evals : [],
  };
}
