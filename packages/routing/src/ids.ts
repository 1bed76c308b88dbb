// Service identifiers of @moderoute/routing. `Symbol.for` makes them equal across duplicated
// module copies, so a plugin built against another copy of this package still binds the same id.
import type { ServiceIdentifier } from 'inversify';
import type { RouterRegistration, RouterRegistry } from './RouterRegistry.js';

/** Service identifiers of @moderoute/routing for the inversify container. */
export const ROUTING_IDS = {
  /** One router scheme (name -> factory); bind several, one per scheme (plugins add theirs). */
  RouterRegistration: Symbol.for(
    '@moderoute/routing/RouterRegistration',
  ) as ServiceIdentifier<RouterRegistration>,
  /** The RouterRegistry built from every bound RouterRegistration (singleton). */
  RouterRegistry: Symbol.for(
    '@moderoute/routing/RouterRegistry',
  ) as ServiceIdentifier<RouterRegistry>,
} as const;
