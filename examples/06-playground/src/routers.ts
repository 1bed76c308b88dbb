// The router schemes the page offers: every name in the container's router registry (built-in
// and plugin), each with the kind of routing it does, read from a throwaway instance so that the
// depth-router choices list Mixture-of-Depths routers and the expert-router choices the others.
import type { Container } from 'inversify';
import { ROUTING_IDS, OwnedParameterScope } from '@moderoute/routing';
import type { RouterEntry } from './protocol.js';

/** Every registered router scheme and its kind ('' when a small probe config does not build). */
export function listRouters(container: Container): RouterEntry[] {
  const registry = container.get(ROUTING_IDS.RouterRegistry);
  return registry.names().map((name) => {
    const scope = new OwnedParameterScope();
    try {
      const router = registry.create(name, { dModel: 4, numExperts: 2, seed: 0 }, scope);
      const kind = router.kind;
      router.dispose();
      return { name, kind };
    } catch {
      return { name, kind: '' };
    } finally {
      scope.dispose();
    }
  });
}
