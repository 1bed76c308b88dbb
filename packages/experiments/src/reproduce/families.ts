// The model families of the isoFLOP comparison and sweep (Raposo et al. 2024, section 4): the
// block schedule that turns a dense transformer shape into each routed family. Shared by the
// presets' variant list (isoFlopVariants) and the sweep (sweepSpec.ts), so both train exactly
// the same models for a family and a shape.
import type { LanguageModelConfig, ScheduleEntry } from '@moderoute/model';

/** A transformer shape. */
export interface ModelShape {
  readonly width: number;
  readonly numLayers: number;
  readonly numHeads: number;
}

/** A model family: dense, or a dense shape made conditional one way. */
export type FamilyName =
  | 'dense'
  | 'mod-every-other'
  | 'mod-every-block'
  | 'moe-token-choice'
  | 'moe-expert-choice'
  | 'mode-staged'
  | 'mode-integrated';

/** Every family, in the order reports list them. */
export const FAMILY_NAMES: readonly FamilyName[] = [
  'dense',
  'mod-every-other',
  'mod-every-block',
  'moe-token-choice',
  'moe-expert-choice',
  'mode-staged',
  'mode-integrated',
];

/** What the routed families are built with. */
export interface FamilyOptions {
  /** Fraction of tokens MoD blocks process (default 0.125, the paper's best). */
  readonly capacity?: number;
  /** Real experts of the MoE and MoDE blocks (default 4). */
  readonly numExperts?: number;
}

const tokenChoice = {
  name: 'token-choice',
  config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } },
};

/** The block schedule of a family (undefined: all dense). */
export function familyPattern(
  family: FamilyName,
  options: FamilyOptions = {},
): readonly ScheduleEntry[] | undefined {
  const capacity = options.capacity ?? 0.125;
  const numExperts = options.numExperts ?? 4;
  const depth = { name: 'mixture-of-depths', config: { capacity } };
  switch (family) {
    case 'dense':
      return undefined;
    case 'mod-every-other':
      return ['dense', { kind: 'mod', depthRouter: depth }];
    case 'mod-every-block':
      return [{ kind: 'mod', depthRouter: depth }];
    case 'moe-token-choice':
      return ['dense', { kind: 'moe', numExperts, expertRouter: tokenChoice }];
    case 'moe-expert-choice':
      return [
        'dense',
        { kind: 'moe', numExperts, expertRouter: { name: 'expert-choice', config: {} } },
      ];
    case 'mode-staged':
      return [
        'dense',
        { kind: 'mode-staged', numExperts, depthRouter: depth, expertRouter: tokenChoice },
      ];
    case 'mode-integrated':
      return ['dense', { kind: 'mode-integrated', numExperts, numNoopExperts: numExperts }];
    default: {
      const never: never = family;
      return never;
    }
  }
}

/** The model config of a family at a shape (MLP ratio 4; experts as wide as the dense MLP). */
export function familyModel(
  family: FamilyName,
  shape: ModelShape,
  contextLength: number,
  options: FamilyOptions = {},
): LanguageModelConfig {
  const pattern = familyPattern(family, options);
  return {
    width: shape.width,
    numLayers: shape.numLayers,
    numHeads: shape.numHeads,
    contextLength,
    mlpRatio: 4,
    ...(pattern ? { schedule: { pattern } } : {}),
  };
}

/** One line describing a family at a capacity and expert count, for reports. */
export function familyDescription(family: FamilyName, options: FamilyOptions = {}): string {
  const pct = `${+((options.capacity ?? 0.125) * 100).toFixed(1)}%`;
  const n = options.numExperts ?? 4;
  switch (family) {
    case 'dense':
      return 'dense baseline';
    case 'mod-every-other':
      return `MoD, ${pct} capacity, every other block`;
    case 'mod-every-block':
      return `MoD, ${pct} capacity, every block`;
    case 'moe-token-choice':
      return `MoE, ${n} experts, token-choice top-1, capacity factor 1.25, every other block`;
    case 'moe-expert-choice':
      return `MoE, ${n} experts, expert-choice capacity factor 1, every other block`;
    case 'mode-staged':
      return `staged MoDE: MoD ${pct} then ${n} token-choice experts, every other block`;
    case 'mode-integrated':
      return (
        `integrated MoDE: ${n} experts + ${n} no-op experts, ` +
        `token-choice top-1, every other block`
      );
    default: {
      const never: never = family;
      return never;
    }
  }
}
