// The JSON description of one block: its kind, its routers by registry name, and its experts.
// Validated once, with defaults filled in, by resolveBlockSpec.
import { ConfigError, requireInt, requireOneOf } from '@moderoute/core';
import { BLOCK_KINDS, type BlockKind } from './Block.js';

/** A router chosen by registry name, with its config (dModel, numExperts and seed are set by the block factory). */
export interface RouterSpec {
  readonly name: string;
  readonly config?: Readonly<Record<string, unknown>>;
}

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

export interface ResolvedBlockSpec {
  readonly kind: BlockKind;
  readonly depthRouter: RouterSpec | null;
  readonly expertRouter: RouterSpec | null;
  readonly numExperts: number;
  readonly expertHidden: number;
  readonly numNoopExperts: number;
  readonly numSharedExperts: number;
}

export const DEFAULT_DEPTH_ROUTER: RouterSpec = Object.freeze({
  name: 'mixture-of-depths',
  config: Object.freeze({ capacity: 0.125 }),
});
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

function routerSpec(parameter: string, value: unknown, fallback: RouterSpec): RouterSpec {
  if (value === undefined) return fallback;
  if (typeof value === 'string')
    return { name: value, config: fallback.name === value ? (fallback.config ?? {}) : {} };
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
  return { name: spec.name, config: spec.config ?? {} };
}

/** Fills defaults and validates; `where` prefixes parameter names in errors ("blocks[3]"). */
export function resolveBlockSpec(
  spec: BlockSpec,
  mlpHidden: number,
  where = 'block',
): ResolvedBlockSpec {
  if (spec === null || typeof spec !== 'object')
    throw new ConfigError(where, spec, 'an object with a "kind"');
  for (const key of Object.keys(spec)) {
    if (!SPEC_KEYS.includes(key))
      throw new ConfigError(
        `${where}.${key}`,
        (spec as unknown as Record<string, unknown>)[key],
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
