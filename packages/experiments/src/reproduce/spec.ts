// The reproduction's JSON spec (an isoFLOP comparison: every variant trains for the same
// training-FLOP budget), its validation, and the plan that turns the budget into steps per
// variant from the analytic FLOP count (Raposo et al. 2024, section 4: isoFLOP analysis).
import { ConfigError, requireInt, requireNumber } from '@moderoute/core';
import { resolveConfig, type LanguageModelConfig, type ModelFactory } from '@moderoute/model';
import type { CorpusSource, TrainConfig } from '@moderoute/train';

/** One model of the comparison. */
export interface ReproductionVariant {
  /** Short name, also the run directory `runs/<name>` (letters, digits, `.`, `_`, `-`). */
  readonly name: string;
  /** One line for the report (e.g. "MoD 12.5% every other block"). */
  readonly description?: string;
  /** The model; its `contextLength` must be at least the spec's `seqLen`. */
  readonly model: LanguageModelConfig;
  /** Peak learning rate of this variant (default: the spec's). */
  readonly learningRate?: number;
}

/** An isoFLOP comparison. */
export interface ReproductionSpec {
  /** Name shown in the report (the preset's name for presets). */
  readonly name: string;
  readonly description?: string;
  /** Training FLOPs each variant may spend (analytic: 3 x forward per sequence x sequences). */
  readonly budgetFlops: number;
  /** Sequences per batch B. */
  readonly batchSize: number;
  /** Tokens per sequence T. */
  readonly seqLen: number;
  /** Peak learning rate (default 3e-3). */
  readonly learningRate?: number;
  /** Warm-up steps as a fraction of each run's steps, in [0, 0.9] (default 0.1). */
  readonly warmupFraction?: number;
  /** Evaluations per run, evenly spaced, the last at the end (default 6): the points of the loss curves. */
  readonly evalPoints?: number;
  /** Validation windows per evaluation (default 32). */
  readonly evalWindows?: number;
  /** Checkpoints per run besides the final one and the one on interruption (default 0). */
  readonly checkpointsPerRun?: number;
  /** Seed of the data order and of every model (default 0). */
  readonly seed?: number;
  /** Training text (default: the embedded corpus). */
  readonly data?: CorpusSource;
  /** Validation bytes shown in the routing heatmaps (default min(seqLen, 64)). */
  readonly heatmapTokens?: number;
  /** Estimated minutes on the 2-core reference machine (wasm backend), for documentation. */
  readonly expectedMinutes?: number;
  readonly variants: readonly ReproductionVariant[];
}

/** One variant's run, planned: the steps the budget buys and the trainer's config. */
export interface PlannedRun {
  readonly variant: ReproductionVariant;
  /** Steps = floor(budget / training FLOPs per step). */
  readonly steps: number;
  /** Training FLOPs of one step (B sequences). */
  readonly flopsPerStep: number;
  /** Analytic forward FLOPs of one sequence of seqLen tokens. */
  readonly forwardFlopsPerSequence: number;
  /** steps x flopsPerStep: what the run will spend (at most the budget). */
  readonly plannedFlops: number;
  readonly parameters: number;
  readonly trainConfig: TrainConfig;
}

const SPEC_KEYS = [
  'name',
  'description',
  'budgetFlops',
  'batchSize',
  'seqLen',
  'learningRate',
  'warmupFraction',
  'evalPoints',
  'evalWindows',
  'checkpointsPerRun',
  'seed',
  'data',
  'heatmapTokens',
  'expectedMinutes',
  'variants',
];
const VARIANT_KEYS = ['name', 'description', 'model', 'learningRate'];
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A `ReproductionSpec` checked and with every default filled. */
export type ResolvedReproductionSpec = Required<
  Omit<ReproductionSpec, 'description' | 'expectedMinutes'>
> &
  Pick<ReproductionSpec, 'description' | 'expectedMinutes'>;

/** Validates a spec (every field, every variant's model) and fills its defaults. */
export function resolveReproductionSpec(spec: ReproductionSpec): ResolvedReproductionSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    throw new ConfigError('reproduction spec', spec, 'an object');
  for (const [key, value] of Object.entries(spec)) {
    if (!SPEC_KEYS.includes(key))
      throw new ConfigError(key, value, `absent: known fields are ${SPEC_KEYS.join(', ')}`);
  }
  if (typeof spec.name !== 'string' || !NAME_PATTERN.test(spec.name))
    throw new ConfigError('name', spec.name, `a name matching ${NAME_PATTERN}`);
  const budgetFlops = requireNumber('budgetFlops', spec.budgetFlops, {
    min: 0,
    minInclusive: false,
  });
  const batchSize = requireInt('batchSize', spec.batchSize, { min: 1 });
  const seqLen = requireInt('seqLen', spec.seqLen, { min: 1 });
  const variants: unknown = spec.variants; // checked as it comes (JSON), before its type is trusted
  if (!Array.isArray(variants) || variants.length === 0)
    throw new ConfigError('variants', variants, 'a non-empty list of variants');
  const seen = new Set<string>();
  spec.variants.forEach((v, i) => {
    const where = `variants[${i}]`;
    if (v === null || typeof v !== 'object')
      throw new ConfigError(where, v, 'an object { name, model }');
    for (const [key, value] of Object.entries(v)) {
      if (!VARIANT_KEYS.includes(key))
        throw new ConfigError(
          `${where}.${key}`,
          value,
          `absent: known fields are ${VARIANT_KEYS.join(', ')}`,
        );
    }
    if (typeof v.name !== 'string' || !NAME_PATTERN.test(v.name))
      throw new ConfigError(
        `${where}.name`,
        v.name,
        `a name matching ${NAME_PATTERN} (it names the run directory)`,
      );
    if (seen.has(v.name))
      throw new ConfigError(`${where}.name`, v.name, 'unique among the variants');
    seen.add(v.name);
    const model = resolveConfig(v.model);
    if (model.contextLength < seqLen)
      throw new ConfigError(
        `${where}.model.contextLength`,
        model.contextLength,
        `>= seqLen (${seqLen})`,
      );
    if (v.learningRate !== undefined)
      requireNumber(`${where}.learningRate`, v.learningRate, { min: 0, minInclusive: false });
  });
  const data = spec.data ?? { kind: 'sotu' };
  return Object.freeze({
    name: spec.name,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    budgetFlops,
    batchSize,
    seqLen,
    learningRate: requireNumber('learningRate', spec.learningRate ?? 3e-3, {
      min: 0,
      minInclusive: false,
    }),
    warmupFraction: requireNumber('warmupFraction', spec.warmupFraction ?? 0.1, {
      min: 0,
      max: 0.9,
    }),
    evalPoints: requireInt('evalPoints', spec.evalPoints ?? 6, { min: 1 }),
    evalWindows: requireInt('evalWindows', spec.evalWindows ?? 32, { min: 1 }),
    checkpointsPerRun: requireInt('checkpointsPerRun', spec.checkpointsPerRun ?? 0, { min: 0 }),
    seed: requireInt('seed', spec.seed ?? 0, { min: 0 }),
    data,
    heatmapTokens: requireInt('heatmapTokens', spec.heatmapTokens ?? Math.min(seqLen, 64), {
      min: 1,
      max: seqLen,
    }),
    ...(spec.expectedMinutes !== undefined
      ? { expectedMinutes: requireNumber('expectedMinutes', spec.expectedMinutes, { min: 0 }) }
      : {}),
    variants: spec.variants,
  });
}

/** Analytic forward FLOPs per sequence and parameters, by model config and length (a plan cache). */
export type ModelCounts = Map<string, { readonly forward: number; readonly parameters: number }>;

/**
 * Plans every variant's run: builds each model once to read its analytic FLOPs and parameter
 * count, and gives it floor(budget / FLOPs per step) steps. Throws a ConfigError naming the
 * variant when the budget does not buy one step.
 */
export function planReproduction(
  spec: ResolvedReproductionSpec,
  factory: ModelFactory,
  counts: ModelCounts = new Map(),
): PlannedRun[] {
  return spec.variants.map((variant, i) => {
    const modelConfig: LanguageModelConfig = {
      ...variant.model,
      seed: variant.model.seed ?? spec.seed,
    };
    // The counts do not depend on the seed: one model per architecture and length.
    const key = JSON.stringify([{ ...modelConfig, seed: 0 }, spec.seqLen]);
    let known = counts.get(key);
    if (known === undefined) {
      const model = factory.create(modelConfig);
      try {
        known = {
          forward: model.flops(spec.seqLen).training / 3,
          parameters: model.parameterCount(),
        };
      } finally {
        model.dispose();
      }
      counts.set(key, known);
    }
    const { forward, parameters } = known;
    const flopsPerStep = 3 * forward * spec.batchSize;
    const steps = Math.floor(spec.budgetFlops / flopsPerStep);
    if (steps < 1) {
      throw new ConfigError(
        'budgetFlops',
        spec.budgetFlops,
        `at least one training step of variants[${i}] "${variant.name}" (${flopsPerStep.toExponential(3)} FLOPs)`,
      );
    }
    const every = (n: number) => (n > 0 ? Math.max(1, Math.ceil(steps / n)) : 0);
    const trainConfig: TrainConfig = {
      model: modelConfig,
      data: spec.data,
      batchSize: spec.batchSize,
      seqLen: spec.seqLen,
      steps,
      learningRate: variant.learningRate ?? spec.learningRate,
      warmupSteps: Math.floor(spec.warmupFraction * steps),
      evalEvery: every(spec.evalPoints),
      evalWindows: spec.evalWindows,
      checkpointEvery: every(spec.checkpointsPerRun),
      seed: spec.seed,
    };
    return {
      variant,
      steps,
      flopsPerStep,
      forwardFlopsPerSequence: forward,
      plannedFlops: steps * flopsPerStep,
      parameters,
      trainConfig,
    };
  });
}
