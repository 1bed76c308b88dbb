// Service identifiers of @moderoute/blocks.
import type { ServiceIdentifier } from 'inversify';
import type { Primitives } from '@moderoute/core';
import type { BlockFactory } from './BlockFactory.js';
import type { ExpertFactory } from './ExpertBank.js';

/** Makes the expert factory of one block from its widths (rebind to use other experts). */
export type ExpertFactoryProvider = (dims: {
  width: number;
  hidden: number;
  residualStd: number;
  ops: Primitives;
}) => ExpertFactory;

/** Service identifiers of @moderoute/blocks for the inversify container. */
export const BLOCKS_IDS = {
  /** Builds blocks (BlockFactory). */
  BlockFactory: Symbol.for('@moderoute/blocks/BlockFactory') as ServiceIdentifier<BlockFactory>,
  /** The expert factory provider every MoE/MoDE block uses. */
  ExpertFactoryProvider: Symbol.for(
    '@moderoute/blocks/ExpertFactoryProvider',
  ) as ServiceIdentifier<ExpertFactoryProvider>,
} as const;
