// What the two linear expert routers (token-choice and expert-choice) share: one weight matrix
// W float32[D, E] (logits = x W), a JSON config with a capacity policy, and disposal.
import type { Variable } from '@moderoute/core';
import type { CapacityPolicyConfig } from './CapacityPolicy.js';

export abstract class LinearExpertRouter<C extends { readonly capacity: CapacityPolicyConfig }> {
  /** float32[D, E] router weights. */
  abstract readonly weight: Variable;
  abstract readonly config: C;
  protected disposed = false;

  trainableVariables(): readonly Variable[] {
    return [this.weight];
  }

  /** `weight` float32[D, E]: the router's logits are x W. */
  namedVariables(): Readonly<Record<string, Variable>> {
    return { weight: this.weight };
  }

  getConfig(): Record<string, unknown> {
    return { ...this.config, capacity: { ...this.config.capacity } };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weight.dispose();
  }
}
