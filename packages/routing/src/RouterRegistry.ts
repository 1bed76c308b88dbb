// The router registry: scheme name -> factory. Configs select routers by name; plugins add
// theirs through a ContainerModule that binds a RouterRegistration (see routingModule.ts).
import { RegistryError } from '@moderoute/core';
import { ExpertChoiceRouter, type ExpertChoiceRouterConfig } from './ExpertChoiceRouter.js';
import { MixtureOfDepthsRouter } from './MixtureOfDepthsRouter.js';
import type { MixtureOfDepthsRouterConfig } from './mixtureOfDepthsConfig.js';
import type { ParameterScope } from './ParameterScope.js';
import type { Router } from './Router.js';
import { TokenChoiceRouter } from './TokenChoiceRouter.js';
import type { TokenChoiceRouterConfig } from './tokenChoiceConfig.js';

/**
 * Builds a new, independent router from a JSON config (validated by the router), creating its
 * variables in `scope` (ParameterScope.ts): names are the router's own (`weight`, ...), and the
 * scope's owner frees them.
 */
export type RouterFactory = (config: Record<string, unknown>, scope: ParameterScope) => Router;

/** One router scheme for the registry: its name and its factory. */
export interface RouterRegistration {
  readonly name: string;
  readonly factory: RouterFactory;
}

/**
 * A JSON config as the config type of the router it is handed to: the router's constructor
 * validates every field of it at run time (a ConfigError names the field and its value), so
 * the static type states what the constructor checks rather than what the caller knows.
 */
function jsonConfig<C extends object>(config: Record<string, unknown>): C {
  return config as C;
}

/** The built-in schemes, registered by routingModule. */
export const BUILTIN_ROUTERS: readonly RouterRegistration[] = Object.freeze([
  {
    name: TokenChoiceRouter.className,
    factory: (c, scope) => new TokenChoiceRouter(jsonConfig<TokenChoiceRouterConfig>(c), scope),
  },
  {
    name: ExpertChoiceRouter.className,
    factory: (c, scope) => new ExpertChoiceRouter(jsonConfig<ExpertChoiceRouterConfig>(c), scope),
  },
  {
    name: MixtureOfDepthsRouter.className,
    factory: (c, scope) =>
      new MixtureOfDepthsRouter(jsonConfig<MixtureOfDepthsRouterConfig>(c), scope),
  },
]);

/**
 * Router schemes by name: configs name a router, the registry builds it (plugins register theirs).
 */
export class RouterRegistry {
  private readonly factories = new Map<string, RouterFactory>();

  constructor(registrations: Iterable<RouterRegistration> = []) {
    for (const { name, factory } of registrations) this.register(name, factory);
  }

  /** Adds a scheme; a name registered twice throws a RegistryError. */
  register(name: string, factory: RouterFactory): this {
    if (typeof name !== 'string' || name.length === 0)
      throw new RegistryError(`Router name (${JSON.stringify(name)}) must be a non-empty string`);
    if (typeof factory !== 'function')
      throw new RegistryError(`Router "${name}" must be registered with a factory function`);
    if (this.factories.has(name))
      throw new RegistryError(
        `A router named "${name}" is already registered; choose another name`,
      );
    this.factories.set(name, factory);
    return this;
  }

  /** Whether a router scheme of that name is registered. */
  has(name: string): boolean {
    return this.factories.has(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.factories.keys()].sort();
  }

  /**
   * A new router of the named scheme with its variables in `scope` (a block's store scope, or
   * an OwnedParameterScope the caller disposes); an unknown name throws, listing the registered
   * names.
   */
  create(name: string, config: Record<string, unknown>, scope: ParameterScope): Router {
    const factory = this.factories.get(name);
    if (factory === undefined) {
      const known = this.names()
        .map((n) => `"${n}"`)
        .join(', ');
      throw new RegistryError(
        `Unknown router ${JSON.stringify(name)}; registered routers: ${known || '(none)'}`,
      );
    }
    return factory(config, scope);
  }
}
