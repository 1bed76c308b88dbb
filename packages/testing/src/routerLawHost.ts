// The router law suite's plumbing: inputs for a case, a router in a scope of its own, and a plan
// read back to the host (routeHost) for the laws' host-side checks. Axis legend: B batch,
// T tokens, D width, N assignments.
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor3D } from '@moderoute/core';
import {
  CapacityPolicy,
  disposePlan,
  OwnedParameterScope,
  type ParameterScope,
  type RouteContext,
  type Router,
  type RoutingPlan,
} from '@moderoute/routing';
import type { RouterLawCase } from './arbitraries.js';

/** A plan read back to the host. */
export interface HostPlan {
  readonly plan: RoutingPlan;
  readonly tokens: number[];
  readonly weights: number[];
  readonly experts: number[];
  readonly slots: number[];
  readonly buffers: number[];
}

export function readPlan(plan: RoutingPlan): HostPlan {
  const tokens = Array.from(plan.tokenIndex.dataSync());
  const weights = Array.from(plan.combineWeights.dataSync());
  const expert = plan.kind !== 'mixture-of-depths';
  return {
    plan,
    tokens,
    weights,
    experts: expert ? Array.from(plan.expertIndex.dataSync()) : tokens.map(() => 0),
    slots: expert ? Array.from(plan.slotIndex.dataSync()) : [],
    buffers: expert ? Array.from(plan.bufferIndex.dataSync()) : [],
  };
}

/** x float32[B, T, D] and an optional mask for a case. */
export function inputsFor(
  c: RouterLawCase,
  positive = false,
): { x: Tensor3D; mask?: Tensor; valid: Uint8Array } {
  const { batch: b, tokens: t, dModel: d } = c;
  return tf.tidy(() => {
    let x = tf.randomNormal([b, t, d], 0, 1, 'float32', c.inputSeed + 1) as Tensor3D;
    if (c.duplicateTokens)
      x = tf.gather(
        x,
        tf.tensor1d(
          Array.from({ length: t }, (_, i) => (i % 2 === 0 || t === 1 ? 0 : 1)),
          'int32',
        ),
        1,
      ) as Tensor3D;
    if (positive) x = tf.add(tf.abs(x), 0.1) as Tensor3D;
    const valid = new Uint8Array(b * t).fill(1);
    if (!c.masked) return { x, valid } as never;
    let state = c.inputSeed + 1;
    for (let i = 0; i < b * t; i++) {
      state = (state * 1103515245 + 12345) % 2147483648;
      valid[i] = state % 3 === 0 ? 0 : 1;
    }
    for (let row = 0; row < b; row++) valid[row * t + ((c.inputSeed + row) % t)] = 1;
    return { x, mask: tf.tensor2d(Float32Array.from(valid), [b, t]), valid } as never;
  }) as { x: Tensor3D; mask?: Tensor; valid: Uint8Array };
}

/** A router built in a scope of its own, disposed (router and scope) after `body`. */
export function withRouter<R>(
  make: (scope: ParameterScope) => Router,
  body: (router: Router, scope: OwnedParameterScope) => R,
): R {
  const scope = new OwnedParameterScope();
  try {
    const router = make(scope);
    try {
      return body(router, scope);
    } finally {
      router.dispose();
    }
  } finally {
    scope.dispose();
  }
}

/** A route context with the router's defaultCapacity (what a block gives when its spec names
 * none). */
export function defaultContext(router: Router, options: Partial<RouteContext> = {}): RouteContext {
  return { training: false, capacity: CapacityPolicy.from(router.defaultCapacity), ...options };
}

/** Routes inside a tidy and reads the plan back; the plan's tensors are disposed. */
export function routeHost<R>(
  router: Router,
  x: Tensor3D,
  options: Partial<RouteContext>,
  read: (host: HostPlan) => R,
): R {
  return tf.tidy(() => {
    const plan = router.route(x, defaultContext(router, options));
    const result = read(readPlan(plan));
    disposePlan(plan);
    return result as never;
  }) as R;
}

/** Per-row assignments as sorted strings, positions relative to the row. */
export function rowSignature(host: HostPlan, row: number, rowOffset: number): string[] {
  const t = host.plan.seqLen;
  const out: string[] = [];
  for (let i = 0; i < host.tokens.length; i++) {
    const tok = host.tokens[i]!;
    if (Math.floor(tok / t) !== row) continue;
    const slot = host.slots.length ? host.slots[i] : -1;
    out.push(`${tok - rowOffset}|${host.experts[i]}|${slot}|${host.weights[i]!.toPrecision(5)}`);
  }
  return out.sort();
}

export type PlanArrays = Pick<HostPlan, 'tokens' | 'experts' | 'slots' | 'weights'>;

/** Asserts two plans' assignments and weights are equal. */
export function samePlans(a: PlanArrays, b: PlanArrays, label: string): void {
  assert.deepEqual(a.tokens, b.tokens, `${label}: tokenIndex differs`);
  assert.deepEqual(a.experts, b.experts, `${label}: expertIndex differs`);
  assert.deepEqual(a.slots, b.slots, `${label}: slotIndex differs`);
  assert.deepEqual(a.weights, b.weights, `${label}: combineWeights differ`);
}
