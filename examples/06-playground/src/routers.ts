// The router schemes the page offers: every name in the container's router registry (built-in
// and plugin), each with the kind of routing it does, read from a throwaway instance so that a block's
// depth-router select lists Mixture-of-Depths routers and its expert-router select the others.
import type { Container } from 'inversify';
import { ROUTING_IDS, OwnedParameterScope, type RouterRegistry } from '@moderoute/routing';
import type { ResolvedBlockSpec } from '@moderoute/blocks';
import type { RouterEntry } from './protocol.js';

/**
 * The probe configs, tried in order: depth routers refuse `numExperts` (an unknown option), expert
 * routers need it.
 */
const PROBES = [
  { dModel: 4, seed: 0 },
  { dModel: 4, numExperts: 2, seed: 0 },
];

function probeKind(registry: RouterRegistry, name: string): string {
  for (const config of PROBES) {
    const scope = new OwnedParameterScope();
    try {
      const router = registry.create(name, config, scope);
      const kind = router.kind;
      router.dispose();
      return kind;
    } catch {
      // the next probe, or unknown
    } finally {
      scope.dispose();
    }
  }
  return '';
}

/** Every registered router scheme and its kind ('' when no probe config builds it). */
export function listRouters(container: Container): RouterEntry[] {
  const registry = container.get(ROUTING_IDS.RouterRegistry);
  return registry.names().map((name) => ({ name, kind: probeKind(registry, name) }));
}

/** A block's routers' registry names, the depth router first (for labels). */
export function blockRouterNames(block: ResolvedBlockSpec): string[] {
  return [block.depthRouter, block.expertRouter].flatMap((r) => (r === null ? [] : [r.name]));
}
