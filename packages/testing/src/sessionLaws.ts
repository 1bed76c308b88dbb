// The law of a router's causal sessions (Router.causal), part of the router law suite: a session
// decides each token from it and the tokens before it only, so stepping a sequence in any chunks
// (one token at a time, as decoding does) gives the decisions of one step over the whole
// sequence (as the forward pass under a causal rule does): the same assignments (token, expert)
// with the same combine weights, for every rule the router declares. A router that declares no
// rule must have no sessions. Axis legend: T tokens, D width, n tokens per step.
import assert from 'node:assert/strict';
import { ConfigError, tf, type Tensor3D } from '@moderoute/core';
import { CapacityPolicy, disposePlan, type CausalMode, type Router } from '@moderoute/routing';

/** (position, expert) -> combine weight of a session's plans over consecutive steps. */
function assignments(
  router: Router,
  mode: CausalMode,
  x: Tensor3D,
  chunks: readonly number[],
  capacityLength: number,
): Map<string, number> {
  const session = router.causal!({
    mode,
    capacity: CapacityPolicy.from(router.defaultCapacity),
    capacityLength,
  });
  const [, t, d] = x.shape;
  const out = new Map<string, number>();
  let at = 0;
  let c = 0;
  while (at < t) {
    const n = Math.min(t - at, Math.max(1, chunks[c++ % chunks.length] as number));
    const plan = session.step(tf.slice(x, [0, at, 0], [1, n, d]) as Tensor3D);
    assert.equal(plan.batchSize, 1, 'a session plan covers one sequence');
    assert.equal(plan.seqLen, n, 'a session plan covers the step');
    const tokens = plan.tokenIndex.dataSync();
    const weights = plan.combineWeights.dataSync();
    const experts = plan.kind === 'mixture-of-depths' ? undefined : plan.expertIndex.dataSync();
    tokens.forEach((token, i) =>
      out.set(`${at + (token as number)}:${experts?.[i] ?? 0}`, weights[i] as number),
    );
    disposePlan(plan);
    at += n;
  }
  return out;
}

/** Checks the session law for one router and input x float32[1, T, D]; throws when violated. */
export function checkCausalSessions(
  router: Router,
  x: Tensor3D,
  chunks: readonly number[],
  capacityLength: number,
): void {
  const description = router.describe();
  if (description.causalModes.length === 0) return;
  assert.ok(router.causal !== undefined, 'describe() lists causal rules but causal() is absent');
  if (description.defaultCausalMode !== undefined)
    assert.ok(description.causalModes.includes(description.defaultCausalMode));
  for (const mode of description.causalModes) {
    // A router may refuse a rule under its configuration (a ConfigError naming the option).
    try {
      router.causal!({
        mode,
        capacity: CapacityPolicy.from(router.defaultCapacity),
        capacityLength,
      });
    } catch (error) {
      if (error instanceof ConfigError) continue;
      throw error;
    }
    const whole = assignments(router, mode, x, [x.shape[1]], capacityLength);
    const stepped = assignments(router, mode, x, chunks, capacityLength);
    assert.deepEqual([...stepped.keys()].sort(), [...whole.keys()].sort(), `${mode}: assignments`);
    for (const [key, w] of whole) {
      const v = stepped.get(key) as number;
      assert.ok(Math.abs(v - w) <= 1e-5 * Math.max(1, Math.abs(w)), `${mode}: weight of ${key}`);
    }
  }
}
