// Service identifiers of @moderoute/model.
import type { ServiceIdentifier } from 'inversify';
import type { ModelFactory } from './ModelFactory.js';

/** Service identifiers of @moderoute/model for the inversify container. */
export const MODEL_IDS = {
  /** Builds language models from configs (ModelFactory). */
  ModelFactory: Symbol.for('@moderoute/model/ModelFactory') as ServiceIdentifier<ModelFactory>,
} as const;
