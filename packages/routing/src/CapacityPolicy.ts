// CapacityPolicy: how many tokens an expert (or a Mixture-of-Depths block) may take per group.
// A value object: validated once, immutable, JSON round-trippable through getConfig().
//
// Formula, for a group of n tokens, E experts and K experts per token (docs/routing.md):
//   share = (n * (scaleByK && kInShare ? K : 1)) / E, rounded up when ceilTokensPerExpert
//   c     = R(f * share * (scaleByK && neither kAfterRounding nor kInShare ? K : 1))
//           * (scaleByK && kAfterRounding ? K : 1)
//   C     = roundUpToMultiple(max(c, minimum), multipleOf)
// with f the train or eval factor and R the rounding; the presets are in capacityConfig.ts.
import {
  ConfigError,
  requireBoolean,
  requireInt,
  requireNumber,
  requireOneOf,
} from '@moderoute/core';
import { applyRounding } from './rounding.js';

import {
  BASE,
  CAPACITY_GROUPS,
  CAPACITY_PRESETS,
  CAPACITY_PRESET_CONFIGS,
  ROUNDINGS,
  type CapacityPolicyConfig,
  type CapacityPresetName,
} from './capacityConfig.js';
import { flaxformerNumGroups } from './tokenGroups.js';

export * from './capacityConfig.js';

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

const KEYS = new Set<string>(['preset', ...Object.keys(BASE)]);

/** group, maxGroupSize and strictGroupSize, validated together. */
function groupingOf(
  merged: Record<string, unknown>,
  parameter: string,
): Pick<CapacityPolicyConfig, 'group' | 'maxGroupSize' | 'strictGroupSize'> {
  const group = requireOneOf(`${parameter}.group`, merged['group'], CAPACITY_GROUPS);
  const strictGroupSize = requireBoolean(`${parameter}.strictGroupSize`, merged['strictGroupSize']);
  if (group !== 'max-size') {
    for (const [key, off] of [
      ['maxGroupSize', null],
      ['strictGroupSize', false],
    ] as const) {
      if (merged[key] !== off)
        throw new ConfigError(
          `${parameter}.${key}`,
          merged[key],
          `${off} unless group is 'max-size'`,
        );
    }
    return { group, maxGroupSize: null, strictGroupSize };
  }
  const maxGroupSize = requireInt(`${parameter}.maxGroupSize`, merged['maxGroupSize'], { min: 1 });
  return { group, maxGroupSize, strictGroupSize };
}

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
      kInShare: requireBoolean(`${parameter}.kInShare`, merged['kInShare']),
      multipleOf: requireInt(`${parameter}.multipleOf`, merged['multipleOf'], { min: 1 }),
      ...groupingOf(merged, parameter),
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
    // A group other than 'max-size' drops the defaults' flaxformer grouping fields.
    const base =
      spec.group !== undefined && spec.group !== 'max-size'
        ? { ...defaults, maxGroupSize: null, strictGroupSize: false }
        : defaults;
    return new CapacityPolicy(spec.preset == null ? { ...base, ...spec } : spec, parameter);
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
    const kShare = c.scaleByK && c.kInShare ? k : 1;
    const share = c.ceilTokensPerExpert ? Math.ceil((n * kShare) / e) : (n * kShare) / e;
    const kInside = c.scaleByK && !c.kAfterRounding && !c.kInShare ? k : 1;
    const kOutside = c.scaleByK && c.kAfterRounding ? k : 1;
    const rounded = applyRounding(this.factor(training) * share * kInside, c.rounding) * kOutside;
    const floored = Math.max(rounded, c.minimum);
    return Math.ceil(floored / c.multipleOf) * c.multipleOf;
  }

  /** The formula as text, for docs and logs. */
  describe(): string {
    const c = this.config;
    const nk = c.scaleByK && c.kInShare ? 'n*K' : 'n';
    const share = c.ceilTokensPerExpert ? `ceil(${nk}/E)` : `${nk}/E`;
    const inner = `f * ${share}${c.scaleByK && !c.kAfterRounding && !c.kInShare ? ' * K' : ''}`;
    let text = `${c.rounding}(${inner})${c.scaleByK && c.kAfterRounding ? ' * K' : ''}`;
    if (c.minimum > 0) text = `max(${text}, ${c.minimum})`;
    if (c.multipleOf > 1) text = `roundUp(${text}, ${c.multipleOf})`;
    return c.dropless ? `max load (dropless)` : text;
  }

  /**
   * n, the tokens per group of a [batch, seqLen] input routed among `numExperts` experts: seqLen,
   * batch * seqLen, or flaxformer's group size for 'max-size' (tokenGroups.ts; a ConfigError when
   * no group layout fits, or in strict mode when it is not maxGroupSize).
   */
  groupSize(batch: number, seqLen: number, numExperts: number): number {
    const c = this.config;
    if (c.group === 'sequence') return seqLen;
    if (c.group === 'batch') return batch * seqLen;
    const tokens = batch * seqLen;
    return tokens / flaxformerNumGroups(tokens, c.maxGroupSize!, numExperts, c.strictGroupSize);
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
