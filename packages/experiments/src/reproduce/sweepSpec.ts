// The isoFLOP sweep's spec (Raposo et al. 2024, section 4 and figures 3-4): for each training-FLOP
// budget, each model family and each size (width, depth), one run per seed. Every run trains for
//   steps = floor(budget / (3 x F_fwd(T) x B)),
// F_fwd(T) the analytic forward FLOPs of one sequence of T tokens (`model.flops(T)`: projections,
// attention on the routed subsequence, MLPs or experts, routers, head) and 3 x forward the
// training FLOPs (forward + backward, as in the paper's isoFLOP accounting), so every run spends
// its budget to within one step. A sweep's runs are planned as one ReproductionSpec per (budget,
// seed), whose variants are the families x sizes: the same plan, trainer config, run directory
// and resume as `runReproduction`.
import { createHash } from 'node:crypto';
import { ConfigError, requireInt, requireNumber } from '@moderoute/core';
import type { ModelFactory } from '@moderoute/model';
import type { CorpusSource } from '@moderoute/train';
import {
  FAMILY_NAMES,
  familyDescription,
  familyModel,
  type FamilyName,
  type ModelShape,
} from './families.js';
import {
  planReproduction,
  resolveReproductionSpec,
  type ModelCounts,
  type PlannedRun,
  type ResolvedReproductionSpec,
} from './spec.js';

/** An isoFLOP sweep: budgets x families x sizes x seeds. */
export interface SweepSpec {
  /** Marks a sweep (a plain comparison has no `kind`). */
  readonly kind: 'sweep';
  /** Name shown in the report; part of the shards' identity. */
  readonly name: string;
  readonly description?: string;
  /** Training-FLOP budgets, each a positive number (analytic: 3 x forward per sequence x B). */
  readonly budgets: readonly number[];
  /** Families to sweep; must include 'dense', the baseline of every comparison. */
  readonly families: readonly FamilyName[];
  /** Model sizes, each trained in every family (routed families make the shape conditional). */
  readonly sizes: readonly ModelShape[];
  /** Seeds: each seeds the data order and the model of one replicate (default [0]). */
  readonly seeds?: readonly number[];
  /** Sequences per batch B. */
  readonly batchSize: number;
  /** Tokens per sequence T (also every model's context length). */
  readonly seqLen: number;
  /** Peak learning rate (default 3e-3). */
  readonly learningRate?: number;
  /** Warm-up steps as a fraction of each run's steps (default 0.1). */
  readonly warmupFraction?: number;
  /** Evaluations per run, the points of the loss curves (default 4). */
  readonly evalPoints?: number;
  /** Validation windows of those evaluations (default 32). */
  readonly evalWindows?: number;
  /** Validation windows of the final loss and its standard error (default 1024). */
  readonly finalEvalWindows?: number;
  /** Checkpoints per run besides the final one and the one on interruption (default 2). */
  readonly checkpointsPerRun?: number;
  /** Training text (default: the embedded corpus). */
  readonly data?: CorpusSource;
  /** Fraction of tokens MoD blocks process (default 0.125). */
  readonly capacity?: number;
  /** Real experts of MoE and MoDE blocks (default 4). */
  readonly numExperts?: number;
  /** Estimated minutes on the 2-core reference machine, for documentation. */
  readonly expectedMinutes?: number;
}

/** A SweepSpec checked, with every default filled. */
export type ResolvedSweepSpec = Required<Omit<SweepSpec, 'description' | 'expectedMinutes'>> &
  Pick<SweepSpec, 'description' | 'expectedMinutes'>;

/** One run of a sweep, planned. */
export interface SweepRun {
  /** Run name, also its directory runs/<name>. */
  readonly name: string;
  /** Position in the sweep's canonical order (budget, seed, size, family). */
  readonly order: number;
  readonly budget: number;
  readonly family: FamilyName;
  readonly size: ModelShape;
  readonly seed: number;
  readonly plan: PlannedRun;
  /** The (budget, seed) comparison the run belongs to (rowOf reads it). */
  readonly spec: ResolvedReproductionSpec;
}

const KEYS = [
  'kind',
  'name',
  'description',
  'budgets',
  'families',
  'sizes',
  'seeds',
  'batchSize',
  'seqLen',
  'learningRate',
  'warmupFraction',
  'evalPoints',
  'evalWindows',
  'finalEvalWindows',
  'checkpointsPerRun',
  'data',
  'capacity',
  'numExperts',
  'expectedMinutes',
];

/** Whether a parsed JSON spec is a sweep (rather than a plain comparison). */
export function isSweepSpec(spec: unknown): spec is SweepSpec {
  return spec !== null && typeof spec === 'object' && (spec as { kind?: unknown }).kind === 'sweep';
}

/** A budget as it appears in run names: 1.5e11. */
export const budgetLabel = (budget: number): string => budget.toExponential().replace('e+', 'e');

/** The name of one run. */
export function sweepRunName(budget: number, family: string, s: ModelShape, seed: number): string {
  return `b${budgetLabel(budget)}-${family}-d${s.width}-l${s.numLayers}-s${seed}`;
}

function list<T>(name: string, value: unknown, check: (v: unknown, where: string) => T): T[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new ConfigError(name, value, 'a non-empty list');
  const out = value.map((v, i) => check(v, `${name}[${i}]`));
  const keys = out.map((v) => JSON.stringify(v));
  keys.forEach((k, i) => {
    if (keys.indexOf(k) !== i)
      throw new ConfigError(`${name}[${i}]`, value[i], 'unique in the list');
  });
  return out;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function sweepName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name))
    throw new ConfigError('name', name, `a name matching ${NAME_PATTERN}`);
  return name;
}

/** Validates a sweep spec and fills its defaults. */
export function resolveSweepSpec(spec: SweepSpec): ResolvedSweepSpec {
  if (!isSweepSpec(spec))
    throw new ConfigError('kind', (spec as { kind?: unknown })?.kind, '"sweep"');
  for (const [key, value] of Object.entries(spec))
    if (!KEYS.includes(key))
      throw new ConfigError(key, value, `absent: known fields are ${KEYS.join(', ')}`);
  const budgets = list('budgets', spec.budgets, (v, w) =>
    requireNumber(w, v, { min: 0, minInclusive: false }),
  ).sort((a, b) => a - b);
  const families = list('families', spec.families, (v, w) => {
    if (!FAMILY_NAMES.includes(v as FamilyName))
      throw new ConfigError(w, v, `one of ${FAMILY_NAMES.join(', ')}`);
    return v as FamilyName;
  });
  if (!families.includes('dense'))
    throw new ConfigError('families', spec.families, "a list including 'dense' (the baseline)");
  const sizes = list('sizes', spec.sizes, (v, w) => {
    const s = (v ?? {}) as Partial<ModelShape>;
    if (
      typeof v !== 'object' ||
      v === null ||
      Object.keys(v).some((k) => !['width', 'numLayers', 'numHeads'].includes(k))
    )
      throw new ConfigError(w, v, 'an object { width, numLayers, numHeads }');
    return {
      width: requireInt(`${w}.width`, s.width, { min: 1 }),
      numLayers: requireInt(`${w}.numLayers`, s.numLayers, { min: 1 }),
      numHeads: requireInt(`${w}.numHeads`, s.numHeads, { min: 1 }),
    };
  });
  const names = sizes.map((s) => `d${s.width}-l${s.numLayers}`);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i)
      throw new ConfigError(`sizes[${i}]`, sizes[i], `a width and depth no other size has (${n})`);
  });
  const seeds = list('seeds', spec.seeds ?? [0], (v, w) => requireInt(w, v, { min: 0 }));
  const count = (name: string, value: unknown, fallback: number, min = 1) =>
    requireInt(name, value ?? fallback, { min });
  const resolved: ResolvedSweepSpec = {
    kind: 'sweep',
    name: sweepName(spec.name),
    ...(spec.description !== undefined ? { description: String(spec.description) } : {}),
    budgets,
    families,
    sizes,
    seeds,
    batchSize: count('batchSize', spec.batchSize, Number.NaN),
    seqLen: count('seqLen', spec.seqLen, Number.NaN),
    learningRate: requireNumber('learningRate', spec.learningRate ?? 3e-3, {
      min: 0,
      minInclusive: false,
    }),
    warmupFraction: requireNumber('warmupFraction', spec.warmupFraction ?? 0.1, {
      min: 0,
      max: 0.9,
    }),
    evalPoints: count('evalPoints', spec.evalPoints, 4),
    evalWindows: count('evalWindows', spec.evalWindows, 32),
    finalEvalWindows: count('finalEvalWindows', spec.finalEvalWindows, 1024),
    checkpointsPerRun: count('checkpointsPerRun', spec.checkpointsPerRun, 2, 0),
    data: spec.data ?? { kind: 'sotu' },
    capacity: requireNumber('capacity', spec.capacity ?? 0.125, {
      min: 0,
      max: 1,
      minInclusive: false,
    }),
    numExperts: count('numExperts', spec.numExperts, 4),
    ...(spec.expectedMinutes !== undefined
      ? { expectedMinutes: requireNumber('expectedMinutes', spec.expectedMinutes, { min: 0 }) }
      : {}),
  };
  return Object.freeze(resolved);
}

/** Identity of a sweep: the hash of its resolved spec (shards of one sweep share it). */
export function sweepFingerprint(spec: ResolvedSweepSpec): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16)}`;
}

/**
 * Plans every run of a sweep in canonical order (budget, seed, size, family), each (budget,
 * seed) as one comparison through planReproduction. Throws a ConfigError naming the run when a
 * budget does not buy one step of it.
 */
export function planSweep(spec: ResolvedSweepSpec, factory: ModelFactory): SweepRun[] {
  const runs: SweepRun[] = [];
  const counts: ModelCounts = new Map();
  for (const budget of spec.budgets) {
    for (const seed of spec.seeds) {
      const cells = spec.sizes.flatMap((size) => spec.families.map((family) => ({ size, family })));
      const comparison = resolveReproductionSpec({
        name: `${spec.name}-b${budgetLabel(budget)}-s${seed}`,
        budgetFlops: budget,
        batchSize: spec.batchSize,
        seqLen: spec.seqLen,
        learningRate: spec.learningRate,
        warmupFraction: spec.warmupFraction,
        evalPoints: spec.evalPoints,
        evalWindows: spec.evalWindows,
        checkpointsPerRun: spec.checkpointsPerRun,
        seed,
        data: spec.data,
        variants: cells.map(({ size, family }) => ({
          name: sweepRunName(budget, family, size, seed),
          description: `${familyDescription(family, spec)} (d${size.width}, ${size.numLayers} layers)`,
          model: familyModel(family, size, spec.seqLen, spec),
        })),
      });
      planReproduction(comparison, factory, counts).forEach((plan, i) =>
        runs.push({
          name: plan.variant.name,
          order: runs.length,
          budget,
          family: cells[i]!.family,
          size: cells[i]!.size,
          seed,
          plan,
          spec: comparison,
        }),
      );
    }
  }
  return runs;
}
