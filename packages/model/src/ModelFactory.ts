// Builds language models with the container's block factory (and so its routers and experts).
import { inject, injectable } from 'inversify';
import { BLOCKS_IDS, type BlockFactory } from '@moderoute/blocks';
import type { LanguageModelConfig } from './config.js';
import { LanguageModel } from './LanguageModel.js';

/**
 * Builds language models from configs with the container's block factory (so plugin routers are
 * available).
 */
@injectable()
export class ModelFactory {
  constructor(@inject(BLOCKS_IDS.BlockFactory) private readonly blocks: BlockFactory) {}

  /** A new model of `config` (defaults filled), its blocks built by the injected block factory. */
  create(config: LanguageModelConfig = {}): LanguageModel {
    return new LanguageModel(config, this.blocks);
  }
}
