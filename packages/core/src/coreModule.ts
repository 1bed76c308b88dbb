// The ContainerModule of @moderoute/core: what a composition root loads first.
import { ContainerModule } from 'inversify';
import { activeBackend } from './backend.js';
import { ModerouteError } from './errors.js';
import { CORE_IDS } from './ids.js';
import { defaultPrimitives } from './primitives/index.js';

/**
 * Binds CORE_IDS.Primitives to moderoute's primitives and CORE_IDS.BackendInfo to the backend
 * chosen by initBackend() (call and await it before resolving anything that computes).
 */
export const coreModule = new ContainerModule(({ bind }) => {
  bind(CORE_IDS.Primitives).toConstantValue(defaultPrimitives);
  bind(CORE_IDS.BackendInfo).toDynamicValue(() => {
    const info = activeBackend();
    if (info === undefined) {
      throw new ModerouteError(
        'No backend is active: call and await initBackend() before resolving CORE_IDS.BackendInfo',
      );
    }
    return info;
  });
});
