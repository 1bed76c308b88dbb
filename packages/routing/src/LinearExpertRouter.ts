// What the two linear expert routers (token-choice and expert-choice) share: one weight matrix
// W float32[D, E] (logits = x W) created in the router's ParameterScope, a JSON config with a
// capacity policy, and disposal.
import type { Variable } from '@moderoute/core';
import type { CapacityPolicyConfig } from './CapacityPolicy.js';
import { OwnedParameterScope, type ParameterScope } from './ParameterScope.js';

export abstract class LinearExpertRouter<C extends { readonly capacity: CapacityPolicyConfig }> {
  /** float32[D, E] router weights. */
  abstract readonly weight: Variable;
  abstract readonly config: C;
  protected disposed = false;
  /** Where the router's variables live: the block's store scope, or its own. */
  protected readonly scope: ParameterScope;
  /** The scope the router made for itself when given none (it disposes that one). */
  private readonly ownScope: OwnedParameterScope | undefined;

  constructor(scope: ParameterScope | undefined) {
    this.ownScope = scope === undefined ? new OwnedParameterScope() : undefined;
    this.scope = scope ?? this.ownScope!;
  }

  /** The router's trainable variables (not part of the Router contract: the scope holds them). */
  trainableVariables(): readonly Variable[] {
    return Object.values(this.namedVariables()).filter((v) => v.trainable);
  }

  /** `weight` float32[D, E]: the router's logits are x W. */
  namedVariables(): Readonly<Record<string, Variable>> {
    return { weight: this.weight };
  }

  getConfig(): Record<string, unknown> {
    return { ...this.config, capacity: { ...this.config.capacity } };
  }

  /** Routing afterwards throws; the variables are freed by their scope's owner (the store). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ownScope?.dispose();
  }
}
