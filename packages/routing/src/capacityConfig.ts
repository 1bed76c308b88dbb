// The JSON form of a capacity policy and its presets (CapacityPolicy.ts validates and evaluates
// them; docs/routing.md "Capacity policies" has the table with sources and example capacities).
//   switch     flaxformer moe_layers.py: max(int(round(f * n / E)), min_expert_capacity = 4)
//   deepspeed  sharded_moe.py _capacity: max(ceil(n / E * f), min_capacity = 4); top-k gating
//              multiplies f by K (top2gating passes capacity_factor * 2)
//   tutel      fast_dispatch / gate: K * int(f * ceil(n / E)), rounded up to `alignment`
//   megablocks moe.py expert_capacity: int(f * K * n / E) (a result of 0 means dropless there)
//   megatron   moe_utils.py get_capacity(n * K, E, f): ceil(n * K / E * f); f = None is dropless
//   maxtext    moe.py generate_masks: int(max(ceil(n * K / E) * f, f)), n a sequence's tokens

/** Every rounding a capacity policy may use. */
export const ROUNDINGS = ['floor', 'ceil', 'round'] as const;
/** floor, ceil, or round to nearest with ties to even (Python's `round`, as flaxformer uses). */
export type Rounding = (typeof ROUNDINGS)[number];

/** Every capacity group. */
export const CAPACITY_GROUPS = ['sequence', 'batch', 'max-size'] as const;
/**
 * Tokens that compete for one expert's capacity: one sequence, the whole batch, or groups of at
 * most `maxGroupSize` consecutive tokens of the batch chosen as flaxformer's `_num_groups` does.
 */
export type CapacityGroup = (typeof CAPACITY_GROUPS)[number];

/** Every capacity preset, named after the framework whose formula it reproduces. */
export const CAPACITY_PRESETS = [
  'switch',
  'deepspeed',
  'tutel',
  'megablocks',
  'megatron',
  'maxtext',
] as const;
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
  /** With scaleByK: the share is n K / E, K inside ceilTokensPerExpert's ceiling (MaxText). */
  readonly kInShare: boolean;
  /** Round the capacity up to a multiple of this (Tutel's `alignment`; integer >= 1). */
  readonly multipleOf: number;
  /** Which tokens compete for capacity. */
  readonly group: CapacityGroup;
  /** With group 'max-size': the largest group (flaxformer's max_group_size; null otherwise). */
  readonly maxGroupSize: number | null;
  /** With group 'max-size': refuse a group smaller than maxGroupSize (flaxformer's strict_group_size). */
  readonly strictGroupSize: boolean;
  /** Ignore the formula and give every expert room for its whole load (no token dropped). */
  readonly dropless: boolean;
}

/** The capacity config without a preset: factor 1, ceil, per sequence (every field a preset may set). */
export const BASE: Omit<CapacityPolicyConfig, 'preset'> = {
  trainFactor: 1,
  evalFactor: 1,
  rounding: 'ceil',
  minimum: 0,
  scaleByK: false,
  kAfterRounding: false,
  ceilTokensPerExpert: false,
  kInShare: false,
  multipleOf: 1,
  group: 'sequence',
  maxGroupSize: null,
  strictGroupSize: false,
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
  // MaxText's dropping MoE (capacity_factor > 0; its default -1 is dropless), per sequence:
  // int(max(ceil(T K / E) * f, f)); the max only matters for T = 0.
  maxtext: {
    ...BASE,
    rounding: 'floor',
    scaleByK: true,
    kInShare: true,
    ceilTokensPerExpert: true,
  },
};
