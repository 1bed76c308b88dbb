// Named model variants for `moderoute train --variant`: the variants of the reproduction's
// isoFLOP comparison (isoFlopVariants in @moderoute/experiments), on one model shape.
import type { LanguageModelConfig } from '@moderoute/model';
import { ConfigError } from '@moderoute/core';
import { isoFlopVariants } from '@moderoute/experiments';

/** The model variants of `moderoute train --variant`: the reproduction's isoFLOP variants. */
export const VARIANT_NAMES = [
  'dense',
  'mod-every-other',
  'mod-every-block',
  'moe-token-choice',
  'moe-expert-choice',
  'mode-staged',
  'mode-integrated',
] as const;
/** The name of a model variant of `moderoute train --variant`. */
export type VariantName = (typeof VARIANT_NAMES)[number];

/**
 * The model of a variant on `base`'s shape (default: the bench config, width 128, 4 layers,
 * 4 heads, context 128). `mod-every-other` is MoD at 12.5% every other block, the paper's best.
 */
export function variantModel(
  name: VariantName,
  base: LanguageModelConfig = {},
): LanguageModelConfig {
  const shape = {
    width: base.width ?? 128,
    numLayers: base.numLayers ?? 4,
    numHeads: base.numHeads ?? 4,
  };
  const variants = isoFlopVariants({ dense: [shape], contextLength: base.contextLength ?? 128 });
  // The dense baseline is named after its shape there ("dense-d128-l4").
  const variant = name === 'dense' ? variants[0] : variants.find((v) => v.name === name);
  if (variant === undefined)
    throw new ConfigError('variant', name, `one of ${VARIANT_NAMES.join(', ')}`);
  return { ...base, ...variant.model };
}
