// The language model's JSON config: defaults, the layer schedule, and validation (once).
import { ConfigError, requireInt, requireNumber } from '@moderoute/core';
import {
  BLOCK_KINDS,
  resolveBlockSpec,
  type BlockKind,
  type BlockSpec,
  type ResolvedBlockSpec,
} from '@moderoute/blocks';

/** A block in a schedule: its kind alone, or a spec. */
export type ScheduleEntry = BlockKind | BlockSpec;

/**
 * Which block goes where: a pattern repeated over the layers (`{pattern: ['dense', 'mod']}` is
 * MoD every other block, the paper's best), or one entry per layer.
 */
export type Schedule =
  { readonly pattern: readonly ScheduleEntry[] } | { readonly layers: readonly ScheduleEntry[] };

/** A language model's shape and layer schedule; every field has a default. */
export interface LanguageModelConfig {
  /** Vocabulary V (256: bytes). */
  readonly vocabSize?: number;
  /** Rows of the learned position table: the longest sequence the model takes (default 128). */
  readonly contextLength?: number;
  /** Model width D (default 128). */
  readonly width?: number;
  /** Attention heads H (default 4). */
  readonly numHeads?: number;
  /** Blocks L (default 4). */
  readonly numLayers?: number;
  /** MLP hidden width F = mlpRatio * D (default 4). */
  readonly mlpRatio?: number;
  /** Layer schedule (default: all dense). */
  readonly schedule?: Schedule;
  /** Per-kind defaults merged under every entry of that kind (e.g. `{moe: {numExperts: 8}}`). */
  readonly blockDefaults?: Partial<Record<BlockKind, Omit<BlockSpec, 'kind'>>>;
  /** Per-layer overrides by index, merged over the schedule's entry (may change the kind). */
  readonly overrides?: Readonly<Record<string, Partial<BlockSpec>>>;
  /** Multipliers of the blocks' auxiliary losses by loss name (default 1 each). */
  readonly auxLossWeights?: Readonly<Record<string, number>>;
  /** Whether the output head reuses the token embedding (default false: a separate head). */
  readonly tieEmbeddings?: boolean;
  /** Seed of every initial parameter value and of the routers. */
  readonly seed?: number;
}

/**
 * A `LanguageModelConfig` checked, with every default filled and the schedule expanded to one spec
 * per layer.
 */
export interface ResolvedLanguageModelConfig {
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly width: number;
  readonly numHeads: number;
  readonly numLayers: number;
  readonly mlpRatio: number;
  readonly schedule: Schedule;
  readonly blockDefaults: Partial<Record<BlockKind, Omit<BlockSpec, 'kind'>>>;
  readonly overrides: Readonly<Record<string, Partial<BlockSpec>>>;
  readonly auxLossWeights: Readonly<Record<string, number>>;
  readonly tieEmbeddings: boolean;
  readonly seed: number;
  /** One resolved spec per layer. */
  readonly blocks: readonly ResolvedBlockSpec[];
}

const KEYS = [
  'vocabSize',
  'contextLength',
  'width',
  'numHeads',
  'numLayers',
  'mlpRatio',
  'schedule',
  'blockDefaults',
  'overrides',
  'auxLossWeights',
  'tieEmbeddings',
  'seed',
];

function entrySpec(entry: ScheduleEntry, where: string): BlockSpec {
  if (typeof entry === 'string') return { kind: entry };
  if (entry === null || typeof entry !== 'object')
    throw new ConfigError(where, entry, `a block kind (${BLOCK_KINDS.join(', ')}) or a block spec`);
  return entry;
}

/** Validates a config and fills its defaults. */
export function resolveConfig(config: LanguageModelConfig = {}): ResolvedLanguageModelConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new ConfigError('config', config, 'an object');
  for (const key of Object.keys(config)) {
    if (!KEYS.includes(key))
      throw new ConfigError(
        key,
        (config as Record<string, unknown>)[key],
        `absent: known fields are ${KEYS.join(', ')}`,
      );
  }
  const width = requireInt('width', config.width ?? 128, { min: 1 });
  const numHeads = requireInt('numHeads', config.numHeads ?? 4, { min: 1 });
  if (width % numHeads !== 0)
    throw new ConfigError('numHeads', numHeads, `a divisor of width (${width})`);
  const numLayers = requireInt('numLayers', config.numLayers ?? 4, { min: 1 });
  const mlpRatio = requireNumber('mlpRatio', config.mlpRatio ?? 4, { min: 0, minInclusive: false });
  const mlpHidden = Math.round(mlpRatio * width);
  if (mlpHidden < 1)
    throw new ConfigError('mlpRatio', mlpRatio, `large enough that mlpRatio * width >= 1`);
  const schedule = config.schedule ?? { pattern: ['dense'] };
  let entries: readonly ScheduleEntry[];
  if ('pattern' in schedule) {
    if (!Array.isArray(schedule.pattern) || schedule.pattern.length === 0)
      throw new ConfigError('schedule.pattern', schedule.pattern, 'a non-empty list of blocks');
    entries = Array.from(
      { length: numLayers },
      (_, i) => schedule.pattern[i % schedule.pattern.length] as ScheduleEntry,
    );
  } else if ('layers' in schedule) {
    if (!Array.isArray(schedule.layers) || schedule.layers.length !== numLayers) {
      throw new ConfigError(
        'schedule.layers',
        schedule.layers,
        `a list of exactly numLayers (${numLayers}) blocks`,
      );
    }
    entries = schedule.layers;
  } else {
    throw new ConfigError('schedule', schedule, 'either { pattern: [...] } or { layers: [...] }');
  }
  const blockDefaults = config.blockDefaults ?? {};
  const overrides = config.overrides ?? {};
  for (const key of Object.keys(overrides)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= numLayers)
      throw new ConfigError(`overrides["${key}"]`, key, `a layer index in [0, ${numLayers - 1}]`);
  }
  const blocks = entries.map((entry, i) => {
    const base = entrySpec(entry, `schedule entry ${i}`);
    const override = overrides[String(i)] ?? {};
    const kind = (override.kind ?? base.kind) as BlockKind;
    const defaults = (blockDefaults as Record<string, Omit<BlockSpec, 'kind'>>)[kind] ?? {};
    return resolveBlockSpec({ ...defaults, ...base, ...override, kind }, mlpHidden, `blocks[${i}]`);
  });
  const auxLossWeights = config.auxLossWeights ?? {};
  for (const [name, w] of Object.entries(auxLossWeights))
    requireNumber(`auxLossWeights.${name}`, w, { min: 0 });
  return Object.freeze({
    vocabSize: requireInt('vocabSize', config.vocabSize ?? 256, { min: 2 }),
    contextLength: requireInt('contextLength', config.contextLength ?? 128, { min: 1 }),
    width,
    numHeads,
    numLayers,
    mlpRatio,
    schedule,
    blockDefaults,
    overrides,
    auxLossWeights,
    tieEmbeddings: config.tieEmbeddings ?? false,
    seed: requireInt('seed', config.seed ?? 0, { min: 0 }),
    blocks,
  });
}
