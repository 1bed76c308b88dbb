// The JSON description of one block: its kind, its routers by registry name, and its experts.
// Validated once, with defaults filled in, by resolveBlockSpec.
import { ConfigError, requireInt, requireOneOf } from '@moderoute/core';
import type { CapacitySpec } from '@moderoute/routing';
import { BLOCK_KINDS, type BlockKind } from './Block.js';

/**
 * A router chosen by registry name, with its config (dModel, numExperts and seed are set by the
 * block factory), and the capacity the block gives it.
 */
export interface RouterSpec {
  readonly name: string;
  readonly config?: Readonly<Record<string, unknown>>;
  /**
   * The block's capacity for this router's stage: a CapacitySpec (preset name or config; a partial
   * config fills its gaps from the router's defaultCapacity), or a number, the fraction of each
   * sequence a Mixture-of-Depths stage keeps. Default: the router's defaultCapacity. A `capacity`
   * key inside `config` (the earlier form) is moved here by resolveBlockSpec.
   */
  readonly capacity?: CapacitySpec | number;
}

/**
 * What a block is made of: its kind and, where it routes, its depth and expert routers and experts.
 */
export interface BlockSpec {
  /** Block kind. */
  readonly kind: BlockKind;
  /** Routing around the block (mod, mode-staged). Default: mixture-of-depths at capacity 0.125. */
  readonly depthRouter?: RouterSpec | string;
  /** Routing among experts (moe, mode-staged, mode-integrated). Default: token-choice, top-1. */
  readonly expertRouter?: RouterSpec | string;
  /** Real expert MLPs E (default 4). */
  readonly numExperts?: number;
  /** Hidden width of each expert MLP (default: the model's MLP hidden width). */
  readonly expertHidden?: number;
  /** Integrated MoDE: no-op experts beside the real ones (default 1). */
  readonly numNoopExperts?: number;
  /** MoE: shared experts every token goes through beside the routed ones (DeepSeekMoE; default 0). */
  readonly numSharedExperts?: number;
}

/**
 * A `BlockSpec` checked and with every default filled (`null` for a router the kind does not use).
 */
export interface ResolvedBlockSpec {
  readonly kind: BlockKind;
  readonly depthRouter: RouterSpec | null;
  readonly expertRouter: RouterSpec | null;
  readonly numExperts: number;
  readonly expertHidden: number;
  readonly numNoopExperts: number;
  readonly numSharedExperts: number;
}

/**
 * The depth router of mod and mode-staged blocks by default: mixture-of-depths at capacity 0.125.
 */
export const DEFAULT_DEPTH_ROUTER: RouterSpec = Object.freeze({
  name: 'mixture-of-depths',
  config: Object.freeze({}),
  capacity: 0.125,
});
/** The expert router of moe and MoDE blocks by default: token-choice, top-1. */
export const DEFAULT_EXPERT_ROUTER: RouterSpec = Object.freeze({
  name: 'token-choice',
  config: Object.freeze({ topK: 1 }),
});

const SPEC_KEYS = [
  'kind',
  'depthRouter',
  'expertRouter',
  'numExperts',
  'expertHidden',
  'numNoopExperts',
  'numSharedExperts',
];

const ROUTER_SPEC_KEYS = ['name', 'config', 'capacity'];

function routerSpec(parameter: string, value: unknown, fallback: RouterSpec): RouterSpec {
  if (value === undefined) return fallback;
  if (typeof value === 'string')
    return value === fallback.name ? fallback : { name: value, config: {} };
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as RouterSpec).name !== 'string'
  ) {
    throw new ConfigError(parameter, value, 'a router name or { name, config }');
  }
  const spec = value as RouterSpec;
  if (
    spec.config !== undefined &&
    (spec.config === null || typeof spec.config !== 'object' || Array.isArray(spec.config))
  ) {
    throw new ConfigError(`${parameter}.config`, spec.config, 'an object');
  }
  for (const [key, v] of Object.entries(spec)) {
    if (!ROUTER_SPEC_KEYS.includes(key))
      throw new ConfigError(
        `${parameter}.${key}`,
        v,
        `absent: known fields are ${ROUTER_SPEC_KEYS.join(', ')}`,
      );
  }
  // The earlier form kept the capacity in the router's config: lift it out (configs, presets and
  // checkpoints written before keep loading).
  const { capacity: legacy, ...config } = spec.config ?? {};
  if (legacy !== undefined && spec.capacity !== undefined) {
    throw new ConfigError(
      `${parameter}.config.capacity`,
      legacy,
      `absent when ${parameter}.capacity is set (${JSON.stringify(spec.capacity)})`,
    );
  }
  const capacity = (spec.capacity ?? legacy) as CapacitySpec | number | undefined;
  if (
    capacity !== undefined &&
    typeof capacity !== 'number' &&
    typeof capacity !== 'string' &&
    (capacity === null || typeof capacity !== 'object' || Array.isArray(capacity))
  ) {
    throw new ConfigError(
      `${parameter}.capacity`,
      capacity,
      'a fraction, a preset name or a capacity config object',
    );
  }
  return { name: spec.name, config, ...(capacity === undefined ? {} : { capacity }) };
}

/** Fills defaults and validates; `where` prefixes parameter names in errors ("blocks[3]"). */
export function resolveBlockSpec(
  spec: BlockSpec,
  mlpHidden: number,
  where = 'block',
): ResolvedBlockSpec {
  if (spec === null || typeof spec !== 'object')
    throw new ConfigError(where, spec, 'an object with a "kind"');
  for (const [key, value] of Object.entries(spec)) {
    if (!SPEC_KEYS.includes(key))
      throw new ConfigError(
        `${where}.${key}`,
        value,
        `absent: known fields are ${SPEC_KEYS.join(', ')}`,
      );
  }
  const kind = requireOneOf(`${where}.kind`, spec.kind, BLOCK_KINDS);
  const usesDepth = kind === 'mod' || kind === 'mode-staged';
  const usesExperts = kind === 'moe' || kind === 'mode-staged' || kind === 'mode-integrated';
  const numSharedExperts = requireInt(`${where}.numSharedExperts`, spec.numSharedExperts ?? 0, {
    min: 0,
  });
  if (numSharedExperts > 0 && kind !== 'moe')
    throw new ConfigError(
      `${where}.numSharedExperts`,
      numSharedExperts,
      `0 for a ${kind} block (shared experts belong to moe blocks)`,
    );
  return {
    kind,
    depthRouter: usesDepth
      ? routerSpec(`${where}.depthRouter`, spec.depthRouter, DEFAULT_DEPTH_ROUTER)
      : null,
    expertRouter: usesExperts
      ? routerSpec(`${where}.expertRouter`, spec.expertRouter, DEFAULT_EXPERT_ROUTER)
      : null,
    numExperts: requireInt(`${where}.numExperts`, spec.numExperts ?? 4, { min: 1 }),
    expertHidden: requireInt(`${where}.expertHidden`, spec.expertHidden ?? mlpHidden, { min: 1 }),
    numNoopExperts: requireInt(
      `${where}.numNoopExperts`,
      spec.numNoopExperts ?? (kind === 'mode-integrated' ? 1 : 0),
      { min: 0 },
    ),
    numSharedExperts,
  };
}
