// The training run's JSON config: defaults and validation (once).
import { ConfigError, requireInt, requireNumber } from '@moderoute/core';
import { resolveConfig, type LanguageModelConfig } from '@moderoute/model';
import type { CorpusSource } from './data/corpus.js';

/**
 * What a training run trains and how: model, data, batch, steps, learning-rate schedule, AdamW,
 * evaluation, checkpoints, seed.
 */
export interface TrainConfig {
  /** The model to train. */
  readonly model: LanguageModelConfig;
  /** Training text: the embedded corpus (default) or a file or folder. */
  readonly data?: CorpusSource;
  /** Sequences per batch B (default 8). */
  readonly batchSize?: number;
  /** Tokens per training sequence T (default: the model's contextLength). */
  readonly seqLen?: number;
  /** Optimizer updates in all. */
  readonly steps: number;
  /** Peak learning rate (default 3e-3). */
  readonly learningRate?: number;
  /** Linear warm-up steps (default: 10% of steps, at most 200). */
  readonly warmupSteps?: number;
  /** Final learning rate as a fraction of the peak (default 0.1). */
  readonly minLrRatio?: number;
  /** AdamW beta1, beta2, weight decay and clipping (defaults 0.9, 0.95, 0.1, 1). */
  readonly beta1?: number;
  readonly beta2?: number;
  readonly weightDecay?: number;
  readonly clipNorm?: number;
  /** Evaluate every N steps, and at the end (0: only at the end; default 0). */
  readonly evalEvery?: number;
  /** Validation windows per evaluation, evenly spaced over the split (default 32). */
  readonly evalWindows?: number;
  /** Checkpoint every N steps, and at the end (0: only at the end; default 0). */
  readonly checkpointEvery?: number;
  /**
   * Also checkpoint when this many minutes have passed since the last checkpoint (or the start),
   * bounding the work a crash loses (0: off; default 5).
   */
  readonly checkpointMinutes?: number;
  /** Checkpoints kept (default 2). */
  readonly keepCheckpoints?: number;
  /** Seed of the data order (the model has its own, in model.seed). Default 0. */
  readonly seed?: number;
}

/** A `TrainConfig` checked, with every default filled. */
export type ResolvedTrainConfig = Required<Omit<TrainConfig, 'model'>> & {
  readonly model: LanguageModelConfig;
};

/** Default of checkpointMinutes: a crash loses at most this many minutes of training (plus one step). */
export const DEFAULT_CHECKPOINT_MINUTES = 5;

const KEYS = [
  'model',
  'data',
  'batchSize',
  'seqLen',
  'steps',
  'learningRate',
  'warmupSteps',
  'minLrRatio',
  'beta1',
  'beta2',
  'weightDecay',
  'clipNorm',
  'evalEvery',
  'evalWindows',
  'checkpointEvery',
  'checkpointMinutes',
  'keepCheckpoints',
  'seed',
];

/**
 * Checks a train config and fills its defaults; a `ConfigError` names a bad field and its value.
 */
export function resolveTrainConfig(config: TrainConfig): ResolvedTrainConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new ConfigError('train config', config, 'an object');
  for (const [key, value] of Object.entries(config)) {
    if (!KEYS.includes(key))
      throw new ConfigError(key, value, `absent: known fields are ${KEYS.join(', ')}`);
  }
  const model = resolveConfig(config.model ?? {});
  const steps = requireInt('steps', config.steps, { min: 1 });
  const seqLen = requireInt('seqLen', config.seqLen ?? model.contextLength, {
    min: 1,
    max: model.contextLength,
  });
  const data = config.data ?? { kind: 'sotu' };
  if (
    data.kind !== 'sotu' &&
    !(data.kind === 'path' && typeof data.path === 'string' && data.path.length > 0)
  ) {
    throw new ConfigError('data', data, '{ kind: "sotu" } or { kind: "path", path: "..." }');
  }
  const warmupSteps = requireInt(
    'warmupSteps',
    config.warmupSteps ?? Math.min(200, Math.floor(steps / 10)),
    { min: 0 },
  );
  // Checked here, not first at step 1 by the schedule.
  if (warmupSteps > steps) throw new ConfigError('warmupSteps', warmupSteps, `<= steps (${steps})`);
  return Object.freeze({
    model: config.model ?? {},
    data,
    batchSize: requireInt('batchSize', config.batchSize ?? 8, { min: 1 }),
    seqLen,
    steps,
    learningRate: requireNumber('learningRate', config.learningRate ?? 3e-3, {
      min: 0,
      minInclusive: false,
    }),
    warmupSteps,
    minLrRatio: requireNumber('minLrRatio', config.minLrRatio ?? 0.1, { min: 0, max: 1 }),
    beta1: requireNumber('beta1', config.beta1 ?? 0.9, { min: 0, max: 1 }),
    beta2: requireNumber('beta2', config.beta2 ?? 0.95, { min: 0, max: 1 }),
    weightDecay: requireNumber('weightDecay', config.weightDecay ?? 0.1, { min: 0 }),
    clipNorm: requireNumber('clipNorm', config.clipNorm ?? 1, { min: 0 }),
    evalEvery: requireInt('evalEvery', config.evalEvery ?? 0, { min: 0 }),
    evalWindows: requireInt('evalWindows', config.evalWindows ?? 32, { min: 1 }),
    checkpointEvery: requireInt('checkpointEvery', config.checkpointEvery ?? 0, { min: 0 }),
    checkpointMinutes: requireNumber(
      'checkpointMinutes',
      config.checkpointMinutes ?? DEFAULT_CHECKPOINT_MINUTES,
      { min: 0 },
    ),
    keepCheckpoints: requireInt('keepCheckpoints', config.keepCheckpoints ?? 2, { min: 1 }),
    seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
  });
}
