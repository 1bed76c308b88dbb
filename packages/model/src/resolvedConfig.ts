// The fully resolved form of a built model's config, as checkpoints write it (config.json's
// "resolved"): every layer listed with its kind, each router's name and whole config (every
// default filled in, as the router reports it) and the capacity its block gives it (the whole
// CapacityPolicy config), so that a reader of the format (docs/model-format.md) needs none of
// moderoute's defaults. It is itself a LanguageModelConfig: building it gives the same model.
import type { RouterSpec } from '@moderoute/blocks';
import type { LanguageModelConfig } from './config.js';
import type { LanguageModel } from './LanguageModel.js';

/** The spec fields of the router at a stage key ('mod': depth stage, 'experts': expert stage). */
const STAGE_FIELDS: Readonly<Record<string, 'depthRouter' | 'expertRouter'>> = {
  mod: 'depthRouter',
  experts: 'expertRouter',
};

/**
 * `model`'s config with nothing left to defaults: `schedule.layers` holds one full block spec per
 * layer (no `blockDefaults`, no `overrides`). A router's own `capacity` option (its default when
 * the block names none) is left out of its config: the block's capacity, given beside it, is the
 * one it routes with.
 */
export function resolvedModelConfig(model: LanguageModel): LanguageModelConfig {
  const c = model.config;
  const layers = c.blocks.map((spec, i) => {
    const routers: Record<string, RouterSpec> = {};
    for (const stage of model.blocks[i]!.stages()) {
      const field = STAGE_FIELDS[stage.key];
      const given = field === undefined ? null : spec[field];
      if (field === undefined || given === null) continue;
      const { capacity: _default, ...config } = stage.router.getConfig();
      routers[field] = { name: given.name, config, capacity: stage.capacity.getConfig() };
    }
    return {
      kind: spec.kind,
      ...routers,
      numExperts: spec.numExperts,
      expertHidden: spec.expertHidden,
      numNoopExperts: spec.numNoopExperts,
      numSharedExperts: spec.numSharedExperts,
    };
  });
  const resolved: LanguageModelConfig = {
    vocabSize: c.vocabSize,
    contextLength: c.contextLength,
    width: c.width,
    numHeads: c.numHeads,
    numLayers: c.numLayers,
    mlpRatio: c.mlpRatio,
    schedule: { layers },
    auxLossWeights: c.auxLossWeights,
    tieEmbeddings: c.tieEmbeddings,
    seed: c.seed,
  };
  return JSON.parse(JSON.stringify(resolved)) as LanguageModelConfig;
}
