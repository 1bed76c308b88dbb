// CapacityPolicy: how many tokens an expert (or a Mixture-of-Depths block) may take per group.
// A value object: validated once, immutable, JSON round-trippable through getConfig().
//
// Formula, for a group of n tokens, E experts and K experts per token (docs/routing.md):
//   share = ceilTokensPerExpert ? ceil(n / E) : n / E
//   c     = R(f * share * (scaleByK && !kAfterRounding ? K : 1)) * (scaleByK && kAfterRounding ? K : 1)
//   C     = roundUpToMultiple(max(c, minimum), multipleOf)
// with f the train or eval factor and R the rounding. The presets reproduce, up to the order of
// floating-point operations, the formulas of:
//   switch     flaxformer moe_layers.py: max(int(round(f * n / E)), min_expert_capacity = 4)
//   deepspeed  sharded_moe.py _capacity: max(ceil(n / E * f), min_capacity = 4); top-k gating
//              multiplies f by K (top2gating passes capacity_factor * 2)
//   tutel      fast_dispatch / gate: K * int(f * ceil(n / E)), rounded up to `alignment`
//   megablocks moe.py expert_capacity: int(f * K * n / E) (a result of 0 means dropless there)
//   megatron   moe_utils.py get_capacity(n * K, E, f): ceil(n * K / E * f); f = None is dropless
import {
  ConfigError,
  requireBoolean,
  requireInt,
  requireNumber,
  requireOneOf,
} from '@moderoute/core';
import { applyRounding } from './rounding.js';

/** Every rounding a capacity policy may use. */
export const ROUNDINGS = ['floor', 'ceil', 'round'] as const;
/** floor, ceil, or round to nearest with ties to even (Python's `round`, as flaxformer uses). */
export type Rounding = (typeof ROUNDINGS)[number];

/** Every capacity group. */
export const CAPACITY_GROUPS = ['sequence', 'batch'] as const;
/** Tokens that compete for one expert's capacity: one sequence, or the whole batch. */
export type CapacityGroup = (typeof CAPACITY_GROUPS)[number];

/** Every capacity preset: switch, deepspeed, tutel, megablocks, megatron. */
export const CAPACITY_PRESETS = ['switch', 'deepspeed', 'tutel', 'megablocks', 'megatron'] as const;
/** A capacity preset named after the framework whose formula it reproduces. */
export type CapacityPresetName = (typeof CAPACITY_PRESETS)[number];

/** The resolved, JSON form of a CapacityPolicy. */
export interface CapacityPolicyConfig {
  /** Preset the policy started from, for documentation only (null when built by hand). */
  readonly preset: CapacityPresetName | null;
  /** Capacity factor f in training (> 0). */
  readonly trainFactor: number;
  /** Capacity factor f in evaluation and sampling (> 0). */
  readonly evalFactor: number;
  /** Rounding R of the scaled share. */
  readonly rounding: Rounding;
  /** Lower bound on the capacity (integer >= 0). */
  readonly minimum: number;
  /** Whether the capacity scales with K (experts per token). */
  readonly scaleByK: boolean;
  /** With scaleByK: multiply by K after rounding (Tutel) instead of before (DeepSpeed, Megatron). */
  readonly kAfterRounding: boolean;
  /** Round n / E up before applying the factor (Tutel). */
  readonly ceilTokensPerExpert: boolean;
  /** Round the capacity up to a multiple of this (Tutel's `alignment`; integer >= 1). */
  readonly multipleOf: number;
  /** Which tokens compete for capacity. */
  readonly group: CapacityGroup;
  /** Ignore the formula and give every expert room for its whole load (no token dropped). */
  readonly dropless: boolean;
}

/** A preset name, a partial config (optionally starting from `preset`), or a policy. */
export type CapacitySpec =
  | CapacityPresetName
  | (Partial<CapacityPolicyConfig> & { readonly preset?: CapacityPresetName | null })
  | CapacityPolicy;

/** What a capacity is asked for: group size, experts, top-K and training or evaluation. */
export interface CapacityQuery {
  /** Tokens in the group, n. */
  readonly groupSize: number;
  /** Experts E (1 for Mixture-of-Depths). */
  readonly numExperts: number;
  /** Experts per token K (default 1). */
  readonly topK?: number;
  /** Whether the train factor applies (default false: the eval factor). */
  readonly training?: boolean;
}

const BASE: Omit<CapacityPolicyConfig, 'preset'> = {
  trainFactor: 1,
  evalFactor: 1,
  rounding: 'ceil',
  minimum: 0,
  scaleByK: false,
  kAfterRounding: false,
  ceilTokensPerExpert: false,
  multipleOf: 1,
  group: 'sequence',
  dropless: false,
};

/** The preset formulas (docs/routing.md has the table with sources and example capacities). */
export const CAPACITY_PRESET_CONFIGS: Readonly<
  Record<CapacityPresetName, Omit<CapacityPolicyConfig, 'preset'>>
> = {
  // Switch Transformer (Fedus et al. 2021, section 2.2) as flaxformer computes it; train 1.25 and
  // eval 2.0 are the Switch paper's factors.
  switch: { ...BASE, trainFactor: 1.25, evalFactor: 2, rounding: 'round', minimum: 4 },
  // DeepSpeed-MoE: capacity_factor = eval_capacity_factor = 1, min_capacity = 4.
  deepspeed: { ...BASE, rounding: 'ceil', minimum: 4, scaleByK: true },
  // Tutel: capacity_factor 1, alignment 1, no minimum.
  tutel: {
    ...BASE,
    rounding: 'floor',
    scaleByK: true,
    kAfterRounding: true,
    ceilTokensPerExpert: true,
  },
  // MegaBlocks MoE (the capacity-bounded layer; dMoE is dropless).
  megablocks: { ...BASE, rounding: 'floor', scaleByK: true },
  // Megatron-Core with --moe-expert-capacity-factor f (without it Megatron is dropless).
  megatron: { ...BASE, rounding: 'ceil', scaleByK: true },
};

const KEYS = new Set<string>(['preset', ...Object.keys(BASE)]);

/** Marks a CapacityPolicy across copies of this package (a plugin module loaded by URL may
 * bring its own): `instanceof` sees only this copy's class. */
const CAPACITY_POLICY_BRAND = Symbol.for('@moderoute/routing/CapacityPolicy');

/** A CapacityPolicy of any copy of this package (by its brand, not `instanceof`). */
export function isCapacityPolicy(value: unknown): value is CapacityPolicy {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { readonly [CAPACITY_POLICY_BRAND]?: unknown })[CAPACITY_POLICY_BRAND] === true
  );
}

/** How many tokens of a group an expert (or MoD block) may take: the formula above, or dropless. */
export class CapacityPolicy {
  readonly [CAPACITY_POLICY_BRAND] = true;
  readonly config: CapacityPolicyConfig;

  /**
   * Validates a partial config (defaults: the preset's values when `preset` is set, else
   * factor 1, ceil, minimum 0, per sequence). `parameter` prefixes error messages.
   */
  constructor(
    spec: Partial<CapacityPolicyConfig> & { readonly preset?: CapacityPresetName | null } = {},
    parameter = 'capacity',
  ) {
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
      throw new ConfigError(
        parameter,
        spec,
        `a preset name (${CAPACITY_PRESETS.map((p) => `"${p}"`).join(', ')}) or a capacity config object`,
      );
    }
    for (const key of Object.keys(spec)) {
      if (!KEYS.has(key))
        throw new ConfigError(
          `${parameter}.${key}`,
          (spec as Record<string, unknown>)[key],
          `a known option (${[...KEYS].join(', ')})`,
        );
    }
    const preset =
      spec.preset == null
        ? null
        : requireOneOf(`${parameter}.preset`, spec.preset, CAPACITY_PRESETS);
    const base = preset === null ? BASE : CAPACITY_PRESET_CONFIGS[preset];
    const merged = {
      ...base,
      ...Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)),
    } as Record<string, unknown>;
    const positive = { min: 0, minInclusive: false } as const;
    this.config = Object.freeze({
      preset,
      trainFactor: requireNumber(`${parameter}.trainFactor`, merged['trainFactor'], positive),
      evalFactor: requireNumber(`${parameter}.evalFactor`, merged['evalFactor'], positive),
      rounding: requireOneOf(`${parameter}.rounding`, merged['rounding'], ROUNDINGS),
      minimum: requireInt(`${parameter}.minimum`, merged['minimum'], { min: 0 }),
      scaleByK: requireBoolean(`${parameter}.scaleByK`, merged['scaleByK']),
      kAfterRounding: requireBoolean(`${parameter}.kAfterRounding`, merged['kAfterRounding']),
      ceilTokensPerExpert: requireBoolean(
        `${parameter}.ceilTokensPerExpert`,
        merged['ceilTokensPerExpert'],
      ),
      multipleOf: requireInt(`${parameter}.multipleOf`, merged['multipleOf'], { min: 1 }),
      group: requireOneOf(`${parameter}.group`, merged['group'], CAPACITY_GROUPS),
      dropless: requireBoolean(`${parameter}.dropless`, merged['dropless']),
    });
  }

  /** A preset with optional overrides, e.g. `CapacityPolicy.preset('deepspeed', { trainFactor: 2 })`. */
  static preset(
    name: CapacityPresetName,
    overrides: Partial<Omit<CapacityPolicyConfig, 'preset'>> = {},
  ): CapacityPolicy {
    return new CapacityPolicy({ ...overrides, preset: name });
  }

  /** Resolves a spec once: a policy is kept, a preset name or config object is validated. */
  static from(
    spec: CapacitySpec | undefined,
    defaults: Partial<CapacityPolicyConfig> = {},
    parameter = 'capacity',
  ): CapacityPolicy {
    if (spec instanceof CapacityPolicy) return spec;
    // Another copy's policy: the same validated config, as this copy's class.
    if (isCapacityPolicy(spec)) return new CapacityPolicy(spec.getConfig(), parameter);
    if (spec === undefined) return new CapacityPolicy(defaults, parameter);
    if (typeof spec === 'string') {
      return new CapacityPolicy(
        { preset: requireOneOf(parameter, spec, CAPACITY_PRESETS) },
        parameter,
      );
    }
    return new CapacityPolicy(spec.preset == null ? { ...defaults, ...spec } : spec, parameter);
  }

  /**
   * A Mixture-of-Depths capacity: the fraction f in (0, 1] of each sequence, k = max(1, floor(f T))
   * (Raposo et al. 2024, section 3.1: 12.5% in the paper).
   */
  static fraction(f: number, parameter = 'capacity'): CapacityPolicy {
    if (typeof f !== 'number' || !Number.isFinite(f) || f <= 0 || f > 1)
      throw new ConfigError(parameter, f, 'a fraction of the sequence in (0, 1]');
    return new CapacityPolicy(
      { trainFactor: f, evalFactor: f, rounding: 'floor', minimum: 1 },
      parameter,
    );
  }

  /** The factor f in training or evaluation. */
  factor(training: boolean): number {
    return training ? this.config.trainFactor : this.config.evalFactor;
  }

  /**
   * The formula's capacity per expert per group (not clamped to the group size; `dropless` is
   * the caller's business, since it depends on the routed load).
   */
  capacity(query: CapacityQuery): number {
    const { groupSize: n, numExperts: e, topK: k = 1, training = false } = query;
    const c = this.config;
    const share = c.ceilTokensPerExpert ? Math.ceil(n / e) : n / e;
    const kInside = c.scaleByK && !c.kAfterRounding ? k : 1;
    const kOutside = c.scaleByK && c.kAfterRounding ? k : 1;
    const rounded = applyRounding(this.factor(training) * share * kInside, c.rounding) * kOutside;
    const floored = Math.max(rounded, c.minimum);
    return Math.ceil(floored / c.multipleOf) * c.multipleOf;
  }

  /** The formula as text, for docs and logs. */
  describe(): string {
    const c = this.config;
    const share = c.ceilTokensPerExpert ? 'ceil(n/E)' : 'n/E';
    const inner = `f * ${share}${c.scaleByK && !c.kAfterRounding ? ' * K' : ''}`;
    let text = `${c.rounding}(${inner})${c.scaleByK && c.kAfterRounding ? ' * K' : ''}`;
    if (c.minimum > 0) text = `max(${text}, ${c.minimum})`;
    if (c.multipleOf > 1) text = `roundUp(${text}, ${c.multipleOf})`;
    return c.dropless ? `max load (dropless)` : text;
  }

  /** The policy's resolved, JSON form (a copy). */
  getConfig(): CapacityPolicyConfig {
    return { ...this.config };
  }
}

/**
 * A block's capacity for one router: a number is a Mixture-of-Depths fraction
 * (CapacityPolicy.fraction); absent, the router's default; a partial config object fills its gaps
 * from the router's default (a preset name or a policy stands alone).
 */
export function resolveCapacity(
  spec: CapacitySpec | number | undefined,
  routerDefault: CapacitySpec,
  parameter = 'capacity',
): CapacityPolicy {
  if (typeof spec === 'number') return CapacityPolicy.fraction(spec, parameter);
  const base = CapacityPolicy.from(routerDefault, {}, parameter);
  if (spec === undefined) return base;
  return CapacityPolicy.from(spec, base.getConfig(), parameter);
}
