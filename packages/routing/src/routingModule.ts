// The ContainerModule of @moderoute/routing: binds the built-in router schemes and the registry
// built from every RouterRegistration in the container (plugins bind more in their own modules).
import { ContainerModule } from 'inversify';
import { ROUTING_IDS } from './ids.js';
import { BUILTIN_ROUTERS, RouterRegistry, type RouterRegistration } from './RouterRegistry.js';

/** The ContainerModule of @moderoute/routing: the built-in routers and the registry. */
export const routingModule = new ContainerModule(({ bind }) => {
  for (const registration of BUILTIN_ROUTERS)
    bind(ROUTING_IDS.RouterRegistration).toConstantValue(registration);
  bind(ROUTING_IDS.RouterRegistry)
    .toDynamicValue((context) => new RouterRegistry(context.getAll(ROUTING_IDS.RouterRegistration)))
    .inSingletonScope();
});

/** A ContainerModule that registers one router scheme (what a plugin exports). */
export function routerModule(
  name: string,
  factory: RouterRegistration['factory'],
): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(ROUTING_IDS.RouterRegistration).toConstantValue({ name, factory });
  });
}
