// Service identifiers of @moderoute/core. Every package keeps its identifiers in one file like
// this one; `Symbol.for` makes them equal across duplicated module copies.
import type { ServiceIdentifier } from 'inversify';
import type { BackendInfo } from './backend.js';
import type { Primitives } from './primitives/index.js';

/** Service identifiers of @moderoute/core for the inversify container. */
export const CORE_IDS = {
  /** The active backend (BackendInfo); resolving it before initBackend() throws. */
  BackendInfo: Symbol.for('@moderoute/core/BackendInfo') as ServiceIdentifier<BackendInfo>,
  /** The differentiable primitives (Primitives) blocks are built from. */
  Primitives: Symbol.for('@moderoute/core/Primitives') as ServiceIdentifier<Primitives>,
} as const;
