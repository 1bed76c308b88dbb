// The router law suite: one function any Router (built-in or plugin) runs through. Each law is a
// fast-check property over random B, T, D, E, K, capacities, padding masks and exact score ties,
// run on every test backend. docs/routing.md lists the laws.
// Axis legend: B batch, T tokens, D width, E experts, K experts per token, N assignments.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tf, type BackendName, type Tensor, type Tensor3D } from '@moderoute/core';
import {
  CapacityPolicy,
  combineRows,
  dispatchRows,
  disposePlan,
  metricsOf,
  OwnedParameterScope,
  type ParameterScope,
  type RouteContext,
  type Router,
  type RoutingPlan,
} from '@moderoute/routing';
import { routerLawCases, runs, type RouterLawCase } from './arbitraries.js';
import { forEachBackend } from './backends.js';
import { checkCausalSessions } from './sessionLaws.js';

export interface RouterLawOptions {
  /** Property runs per law per backend (default 4; FC_NUM_RUNS overrides). */
  readonly numRuns?: number;
  /** Whether the router's variables must get a non-zero gradient (default true). */
  readonly expectGradient?: boolean;
  /** Whether each sequence is routed independently of the other rows (default true). */
  readonly perSequence?: boolean;
  /**
   * Token-choice: whether every first choice claims capacity before any second choice (GShard's
   * rank-major placement; default true). With false the law only asks that a dropped choice found
   * its expert full (token-major placement, per-expert drop policies).
   */
  readonly rankMajor?: boolean;
  /** Whether makeRouter honours `dropless: true` (token-choice routers; default false). */
  readonly supportsDropless?: boolean;
  /** Coefficients of the auxiliary losses to check against their closed forms. */
  readonly closedForms?: { readonly loadBalancing?: number; readonly zLoss?: number };
  /** Hooks that make routing uniform or imbalanced, for the load-balancing loss law. */
  readonly balance?: {
    /** Makes every router probability 1 / E (the router's variables are in `scope`). */
    readonly uniform: (router: Router, scope: OwnedParameterScope) => void;
    /** Sends every token with positive features to one expert with probability > 1 / E. */
    readonly imbalanced: (router: Router, scope: OwnedParameterScope) => void;
  };
  /** Backends to run on (default cpu and wasm). */
  readonly backends?: readonly BackendName[];
}

/** A plan read back to the host. */
interface HostPlan {
  readonly plan: RoutingPlan;
  readonly tokens: number[];
  readonly weights: number[];
  readonly experts: number[];
  readonly slots: number[];
  readonly buffers: number[];
}

function readPlan(plan: RoutingPlan): HostPlan {
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
function inputsFor(
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
function withRouter<R>(
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

/** A route context with the router's defaultCapacity (what a block gives when its spec names none). */
export function defaultContext(router: Router, options: Partial<RouteContext> = {}): RouteContext {
  return { training: false, capacity: CapacityPolicy.from(router.defaultCapacity), ...options };
}

/** Routes inside a tidy and reads the plan back; the plan's tensors are disposed. */
function routeHost<R>(
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

/** Host closed-form checks and invariants per kind; throws on a violated law. */
function checkSelection(host: HostPlan, valid: Uint8Array, rankMajor: boolean): void {
  const { plan, tokens, weights, experts, slots } = host;
  const { batchSize: b, seqLen: t } = plan;
  switch (plan.kind) {
    case 'token-choice': {
      const k = plan.topK;
      const e = plan.numExperts;
      const choices = Array.from(plan.choices.dataSync());
      const kept = Array.from(plan.choiceKept.dataSync());
      const probs = plan.routerProbs ? Array.from(plan.routerProbs.dataSync()) : undefined;
      const perToken = new Array<number>(b * t).fill(0);
      for (const tok of tokens) perToken[tok]! += 1;
      const n = plan.groupSize;
      const count = new Map<string, number>();
      for (let i = 0; i < tokens.length; i++) {
        const key = `${Math.floor(tokens[i]! / n)}:${experts[i]}`;
        count.set(key, (count.get(key) ?? 0) + 1);
      }
      for (let m = 0; m < b * t; m++) {
        const mine = choices.slice(m * k, m * k + k);
        assert.equal(new Set(mine).size, k, `token ${m} chose the same expert twice: ${mine}`);
        const keptHere = kept.slice(m * k, m * k + k).reduce((a, v) => a + v, 0);
        assert.equal(
          perToken[m],
          keptHere,
          `token ${m} has ${perToken[m]} assignments but ${keptHere} kept choices`,
        );
        assert.ok(keptHere <= k);
        if (!valid[m]) assert.equal(keptHere, 0, `padded token ${m} was routed`);
        if (probs) {
          // The choices are the top-K of the probabilities, ties to the lower expert.
          const order = Array.from({ length: e }, (_, i) => i).sort((i, j) =>
            probs[m * e + i] === probs[m * e + j] ? i - j : probs[m * e + j]! - probs[m * e + i]!,
          );
          assert.deepEqual(
            mine,
            order.slice(0, k),
            `token ${m}: choices ${mine} are not the top-${k} of its probabilities`,
          );
        }
      }
      // Every kept choice of its routed assignments matches the plan's expert.
      for (let i = 0; i < tokens.length; i++) {
        const m = tokens[i]!;
        const r = choices.slice(m * k, m * k + k).indexOf(experts[i]!);
        assert.ok(
          r >= 0 && kept[m * k + r] === 1,
          `assignment ${i} (token ${m}, expert ${experts[i]}) is not a kept choice`,
        );
      }
      for (let g = 0; g < plan.numGroups; g++) {
        for (let ex = 0; ex < e; ex++) {
          let worstKeptRank = -1;
          let bestDroppedRank = Infinity;
          for (let m = g * n; m < (g + 1) * n; m++) {
            if (!valid[m]) continue;
            for (let r = 0; r < k; r++) {
              if (choices[m * k + r] !== ex) continue;
              if (kept[m * k + r]) worstKeptRank = Math.max(worstKeptRank, r);
              else bestDroppedRank = Math.min(bestDroppedRank, r);
            }
          }
          if (rankMajor)
            assert.ok(
              !(bestDroppedRank < worstKeptRank),
              `group ${g}, expert ${ex}: a rank-${bestDroppedRank + 1} choice was dropped for a rank-${worstKeptRank + 1} one`,
            );
          if (bestDroppedRank < Infinity) {
            assert.equal(
              count.get(`${g}:${ex}`) ?? 0,
              plan.capacity,
              `group ${g}, expert ${ex} dropped a token with room left`,
            );
          }
        }
      }
      break;
    }
    case 'expert-choice': {
      const e = plan.numExperts;
      const n = plan.groupSize;
      const probs = plan.routerProbs ? Array.from(plan.routerProbs.dataSync()) : undefined;
      for (let g = 0; g < plan.numGroups; g++) {
        const candidates: number[] = [];
        for (let m = g * n; m < (g + 1) * n; m++) if (valid[m]) candidates.push(m);
        for (let ex = 0; ex < e; ex++) {
          const mine = tokens.filter((tok, i) => experts[i] === ex && Math.floor(tok / n) === g);
          assert.equal(
            mine.length,
            Math.min(plan.capacity, candidates.length),
            `group ${g}, expert ${ex} took ${mine.length} tokens`,
          );
          if (probs) {
            const best = [...candidates].sort((i, j) =>
              probs[i * e + ex] === probs[j * e + ex]
                ? i - j
                : probs[j * e + ex]! - probs[i * e + ex]!,
            );
            assert.deepEqual(
              [...mine].sort((i, j) => i - j),
              best.slice(0, mine.length).sort((i, j) => i - j),
              `group ${g}, expert ${ex} did not take its top tokens`,
            );
          }
        }
      }
      if (probs) {
        for (let i = 0; i < tokens.length; i++) {
          const p = probs[tokens[i]! * e + experts[i]!]!;
          assert.ok(
            Math.abs(weights[i]! - p) <= 1e-6,
            `assignment ${i}: weight ${weights[i]} != score ${p}`,
          );
        }
      }
      break;
    }
    case 'mixture-of-depths': {
      const r = Array.from(plan.routerLogits.dataSync());
      for (let i = 1; i < tokens.length; i++)
        assert.ok(tokens[i]! > tokens[i - 1]!, 'selected tokens are not in ascending order');
      const positions = Array.from(plan.positions.dataSync());
      assert.deepEqual(
        positions,
        tokens.map((tok) => tok % t),
      );
      for (let row = 0; row < b; row++) {
        const mine = tokens.filter((tok) => Math.floor(tok / t) === row);
        assert.equal(plan.rowCounts[row], mine.length);
        if (plan.mode !== 'top-k') continue;
        const candidates: number[] = [];
        for (let m = row * t; m < (row + 1) * t; m++) if (valid[m]) candidates.push(m);
        assert.equal(
          mine.length,
          Math.min(plan.capacity, candidates.length),
          `sequence ${row} selected ${mine.length} tokens`,
        );
        const best = candidates
          .sort((i, j) => (r[i] === r[j] ? i - j : r[j]! - r[i]!))
          .slice(0, mine.length)
          .sort((i, j) => i - j);
        assert.deepEqual(
          mine,
          best,
          `sequence ${row}: selection is not the top-${plan.capacity} of r`,
        );
      }
      break;
    }
  }
  for (const tok of tokens) assert.equal(valid[tok], 1, `padded token ${tok} was routed`);
  void slots;
}

function checkCapacity(host: HostPlan): void {
  const { plan, tokens, experts, slots, buffers } = host;
  if (plan.kind === 'mixture-of-depths') {
    assert.equal(
      plan.rowCounts.reduce((a, v) => a + v, 0),
      tokens.length,
    );
    if (plan.mode === 'top-k')
      for (const c of plan.rowCounts)
        assert.ok(c <= plan.capacity, `a sequence selected ${c} > capacity ${plan.capacity}`);
    return;
  }
  const n = plan.groupSize;
  const g = plan.numGroups;
  assert.equal(
    plan.expertCounts.reduce((a, v) => a + v, 0),
    tokens.length,
    'expertCounts do not sum to N',
  );
  const seen = new Map<string, number[]>();
  for (let i = 0; i < tokens.length; i++) {
    if (i > 0) assert.ok(experts[i]! >= experts[i - 1]!, 'assignments are not ordered by expert');
    const group = Math.floor(tokens[i]! / n);
    const key = `${group}:${experts[i]}`;
    seen.set(key, [...(seen.get(key) ?? []), slots[i]!]);
    assert.equal(
      buffers[i],
      (experts[i]! * g + group) * plan.capacity + slots[i]!,
      'bufferIndex != (expert * G + group) * C + slot',
    );
  }
  for (let ex = 0; ex < plan.numExperts; ex++) {
    assert.equal(
      experts.filter((v) => v === ex).length,
      plan.expertCounts[ex],
      `expertCounts[${ex}] is wrong`,
    );
  }
  for (const [key, list] of seen) {
    assert.ok(
      list.length <= plan.capacity,
      `expert slot list ${key} holds ${list.length} > capacity ${plan.capacity}`,
    );
    assert.deepEqual(
      [...list].sort((a, b) => a - b),
      list.map((_, i) => i),
      `slots of ${key} are not 0..${list.length - 1}`,
    );
  }
}

function hostLogSumExp(row: number[]): number {
  const max = Math.max(...row);
  return max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
}

function checkLosses(host: HostPlan, valid: Uint8Array, options: RouterLawOptions): void {
  const { plan } = host;
  for (const [name, loss] of Object.entries(plan.auxLosses)) {
    assert.equal(loss.rank, 0, `aux loss ${name} is not a scalar`);
    const v = loss.dataSync()[0] as number;
    assert.ok(Number.isFinite(v) && v >= 0, `aux loss ${name} is ${v}`);
  }
  if (plan.kind === 'mixture-of-depths') return;
  const e = plan.numExperts;
  const m = plan.batchSize * plan.seqLen;
  const alpha = options.closedForms?.loadBalancing;
  if (
    alpha !== undefined &&
    plan.kind === 'token-choice' &&
    plan.routerProbs &&
    plan.auxLosses['loadBalancing']
  ) {
    // Switch eq. 4-6 per group: alpha * E * sum_i f_i P_i, averaged over groups with real tokens;
    // P from each token's scores normalized to sum 1 (a no-op for softmax probabilities; the
    // normalized sigmoid scores of DeepSeek-V3 eq. 19-20).
    const raw = Array.from(plan.routerProbs.dataSync());
    const probs = raw.map(
      (v, i) => v / raw.slice(i - (i % e), i - (i % e) + e).reduce((a, x) => a + x, 0),
    );
    const choices = Array.from(plan.choices.dataSync());
    const k = plan.topK;
    let total = 0;
    let live = 0;
    for (let g = 0; g < plan.numGroups; g++) {
      const f = new Array<number>(e).fill(0);
      const p = new Array<number>(e).fill(0);
      let real = 0;
      for (let tok = g * plan.groupSize; tok < (g + 1) * plan.groupSize; tok++) {
        if (!valid[tok]) continue;
        real++;
        for (let r = 0; r < k; r++) f[choices[tok * k + r]!]! += 1;
        for (let ex = 0; ex < e; ex++) p[ex]! += probs[tok * e + ex]!;
      }
      if (real === 0) continue;
      live++;
      total += alpha * e * f.reduce((a, fi, i) => a + (fi / (real * k)) * (p[i]! / real), 0);
    }
    const expected = live > 0 ? total / live : 0;
    const actual = plan.auxLosses['loadBalancing'].dataSync()[0] as number;
    assert.ok(
      Math.abs(actual - expected) <= 1e-5 * Math.abs(expected) + 1e-8,
      `load-balancing loss ${actual} != closed form ${expected}`,
    );
  }
  const beta = options.closedForms?.zLoss;
  if (beta !== undefined && plan.routerLogits && plan.auxLosses['zLoss']) {
    // ST-MoE eq. 5: beta * mean over real tokens of logsumexp(logits)^2.
    const logits = Array.from(plan.routerLogits.dataSync());
    let sum = 0;
    let real = 0;
    for (let tok = 0; tok < m; tok++) {
      if (!valid[tok]) continue;
      real++;
      sum += hostLogSumExp(logits.slice(tok * e, tok * e + e)) ** 2;
    }
    const expected = real > 0 ? (beta * sum) / real : 0;
    const actual = plan.auxLosses['zLoss'].dataSync()[0] as number;
    assert.ok(
      Math.abs(actual - expected) <= 1e-4 * Math.abs(expected) + 1e-8,
      `z-loss ${actual} != closed form ${expected}`,
    );
  }
}

/** Per-row assignments as sorted strings, positions relative to the row. */
function rowSignature(host: HostPlan, row: number, rowOffset: number): string[] {
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

function samePlans(a: HostPlan, b: HostPlan, label: string): void {
  assert.deepEqual(a.tokens, b.tokens, `${label}: tokenIndex differs`);
  assert.deepEqual(a.experts, b.experts, `${label}: expertIndex differs`);
  assert.deepEqual(a.slots, b.slots, `${label}: slotIndex differs`);
  assert.deepEqual(a.weights, b.weights, `${label}: combineWeights differ`);
}

/**
 * Declares the router law suite for `makeRouter` (a fresh router per case, its variables created
 * in the given scope, which the suite disposes) on each test backend.
 * Call it at the top level of a spec file or inside a describe.
 */
export function routerLaws(
  name: string,
  makeRouter: (c: RouterLawCase, scope: ParameterScope) => Router,
  options: RouterLawOptions = {},
): void {
  const settings = runs(options.numRuns ?? 4);
  const cases = routerLawCases();
  const property = (
    body: (c: RouterLawCase) => void,
    arbitrary: fc.Arbitrary<RouterLawCase> = cases,
  ) =>
    fc.assert(
      fc.property(arbitrary, (c) => {
        tf.tidy(() => body(c));
      }),
      settings,
    );

  describe(`${name} (router laws)`, () => {
    forEachBackend(() => {
      it('should keep every expert (or sequence) within its capacity', () => {
        property((c) => {
          const { x, mask } = inputsFor(c);
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) => {
              for (const training of [false, true])
                routeHost(router, x, { training, ...(mask ? { mask } : {}) }, checkCapacity);
            },
          );
        });
      });

      it('should select by its rule: top-K distinct experts, top-1 before top-2, exact expert-choice fill, exact MoD top-k in order', () => {
        property((c) => {
          const { x, mask, valid } = inputsFor(c);
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) =>
              routeHost(router, x, mask ? { mask } : {}, (host) =>
                checkSelection(host, valid, options.rankMajor ?? true),
              ),
          );
        });
      });

      it('should never route padded tokens', () => {
        property((c) => {
          const { x, mask, valid } = inputsFor({ ...c, masked: true });
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) =>
              routeHost(router, x, { mask: mask as Tensor, training: true }, (host) => {
                for (const tok of host.tokens)
                  assert.equal(valid[tok], 1, `padded token ${tok} was routed`);
              }),
          );
        });
      });

      it('should give dropped or unselected tokens exactly zero output', () => {
        property((c) => {
          const { x, mask } = inputsFor(c);
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) => {
              const plan = router.route(x, defaultContext(router, mask ? { mask } : {}));
              const host = readPlan(plan);
              // Identity experts: out[token] = (sum of the token's weights) * x[token].
              const out = combineRows(plan, dispatchRows(plan, x)).arraySync() as number[][][];
              const xs = x.arraySync() as number[][][];
              const weightSum = new Map<number, number>();
              host.tokens.forEach((tok, i) =>
                weightSum.set(tok, (weightSum.get(tok) ?? 0) + host.weights[i]!),
              );
              for (let row = 0; row < c.batch; row++) {
                for (let pos = 0; pos < c.tokens; pos++) {
                  const w = weightSum.get(row * c.tokens + pos);
                  for (let f = 0; f < c.dModel; f++) {
                    const v = out[row]![pos]![f]!;
                    if (w === undefined)
                      assert.ok(
                        Object.is(v, 0) || v === 0,
                        `unrouted token (${row}, ${pos}) has output ${v}`,
                      );
                    else
                      assert.ok(
                        Math.abs(v - w * xs[row]![pos]![f]!) <= 1e-5 * (1 + Math.abs(v)),
                        `token (${row}, ${pos}): ${v} != ${w} * x`,
                      );
                  }
                }
              }
              disposePlan(plan);
            },
          );
        });
      });

      if (options.supportsDropless) {
        it('should give exactly the dropless result when capacity covers the largest load', () => {
          property((c) => {
            const { x, mask } = inputsFor(c);
            const opts = mask ? { mask } : {};
            const dropless = withRouter(
              (scope) => makeRouter({ ...c, dropless: true }, scope),
              (router) =>
                routeHost(router, x, opts, (h) => ({
                  ...h,
                  plan: undefined,
                  dropped: metricsOf(h.plan.counts).droppedFraction,
                })),
            );
            const roomy = withRouter(
              (scope) => makeRouter({ ...c, capacityFactor: 1e6 }, scope),
              (router) => routeHost(router, x, opts, (h) => ({ ...h, plan: undefined })),
            );
            assert.equal(dropless.dropped, 0, 'a dropless router dropped tokens');
            samePlans(
              dropless as unknown as HostPlan,
              roomy as unknown as HostPlan,
              'dropless vs capacity >= max load',
            );
          });
        });
      }

      it('should give finite combine weights within the documented range', () => {
        property((c) => {
          const { x, mask } = inputsFor(c);
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) => {
              const [lo, hi] = router.combineWeightRange;
              for (const training of [false, true]) {
                routeHost(router, x, { training, ...(mask ? { mask } : {}) }, (host) => {
                  for (const w of host.weights)
                    assert.ok(
                      Number.isFinite(w) && w >= lo && w <= hi,
                      `combine weight ${w} outside [${lo}, ${hi}]`,
                    );
                });
              }
            },
          );
        });
      });

      it('should give finite, non-negative auxiliary losses at their closed-form values', () => {
        property((c) => {
          const { x, mask, valid } = inputsFor(c);
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) =>
              routeHost(router, x, { training: true, ...(mask ? { mask } : {}) }, (host) =>
                checkLosses(host, valid, options),
              ),
          );
        });
      });

      const balance = options.balance;
      const alpha = options.closedForms?.loadBalancing;
      if (balance !== undefined && alpha !== undefined) {
        it('should give the load-balancing loss alpha under uniform routing and more under imbalanced routing', () => {
          property(
            (c) => {
              const { x } = inputsFor({ ...c, masked: false }, true);
              const lossOf = (setUp: (r: Router, scope: OwnedParameterScope) => void) =>
                withRouter(
                  (scope) => makeRouter(c, scope),
                  (router, scope) => {
                    setUp(router, scope);
                    return routeHost(
                      router,
                      x,
                      {},
                      (h) => h.plan.auxLosses['loadBalancing']?.dataSync()[0] as number,
                    );
                  },
                );
              const uniform = lossOf(balance.uniform);
              assert.ok(
                Math.abs(uniform - alpha) <= 1e-6 * alpha,
                `uniform routing gave ${uniform}, expected ${alpha}`,
              );
              const imbalanced = lossOf(balance.imbalanced);
              assert.ok(
                imbalanced > alpha * (1 + 1e-3),
                `imbalanced routing gave ${imbalanced}, not above ${alpha}`,
              );
            },
            // With K = E every token takes every expert: f is uniform and the loss is alpha.
            cases.filter((c) => c.numExperts > c.topK),
          );
        });
      }

      if (options.perSequence !== false) {
        it('should route each sequence independently of the other rows', () => {
          property(
            (c) => {
              const { x, mask } = inputsFor(c);
              withRouter(
                (scope) => makeRouter(c, scope),
                (router) => {
                  const whole = routeHost(router, x, mask ? { mask } : {}, (h) =>
                    Array.from({ length: c.batch }, (_, row) =>
                      rowSignature(h, row, row * c.tokens),
                    ),
                  );
                  for (let row = 0; row < c.batch; row++) {
                    const xr = tf.slice(x, [row, 0, 0], [1, c.tokens, c.dModel]) as Tensor3D;
                    const mr = mask ? tf.slice(mask, [row, 0], [1, c.tokens]) : undefined;
                    const alone = routeHost(router, xr, mr ? { mask: mr } : {}, (h) =>
                      rowSignature(h, 0, 0),
                    );
                    assert.deepEqual(
                      alone,
                      whole[row],
                      `sequence ${row} routed differently on its own`,
                    );
                  }
                },
              );
            },
            cases.filter((c) => c.batch >= 2),
          );
        });
      }

      if (options.expectGradient !== false) {
        it('should give the router parameters a non-zero gradient', () => {
          property((c) => {
            const { x } = inputsFor({ ...c, masked: false });
            withRouter(
              (scope) => makeRouter(c, scope),
              (router, scope) => {
                const vars = scope.trainable();
                assert.ok(
                  vars.length > 0,
                  'the router has no trainable variables (pass expectGradient: false)',
                );
                let constant = false;
                const { grads, value } = tf.variableGrads(() => {
                  const plan = router.route(x, defaultContext(router, { training: true }));
                  if (
                    plan.kind !== 'mixture-of-depths' &&
                    plan.numExperts === 1 &&
                    plan.routerProbs
                  )
                    constant = true;
                  const n = plan.combineWeights.shape[0];
                  const cot = tf.add(tf.mod(tf.range(0, n, 1, 'float32'), 3), 1);
                  let loss = tf.sum(tf.mul(plan.combineWeights, cot));
                  for (const aux of Object.values(plan.auxLosses)) loss = tf.add(loss, aux);
                  return loss as never;
                }, vars as never);
                const largest = Math.max(
                  ...Object.values(grads).map((g) => tf.max(tf.abs(g)).dataSync()[0] as number),
                );
                tf.dispose([value, ...Object.values(grads)]);
                // One expert behind a softmax has a constant probability of 1: nothing to learn.
                if (!constant) assert.ok(largest > 0, 'no router parameter got a gradient');
              },
            );
          });
        });
      }

      it('should give the same plan for the same inputs and seed', () => {
        property((c) => {
          const { x, mask } = inputsFor(c);
          const opts = mask ? { mask } : {};
          const twice = (training: boolean) =>
            [0, 1].map(() =>
              withRouter(
                (scope) => makeRouter(c, scope),
                (router) => routeHost(router, x, { ...opts, training }, (h) => h),
              ),
            );
          for (const training of [false, true]) {
            const [a, b] = twice(training) as [HostPlan, HostPlan];
            samePlans(a, b, `two routers, training ${training}`);
          }
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) => {
              const a = routeHost(router, x, opts, (h) => h);
              const b = routeHost(router, x, opts, (h) => h);
              samePlans(a, b, 'one router called twice in eval mode');
            },
          );
        });
      });

      it('should decide causally, if it declares a causal rule, stepping in any chunks as in one step', () => {
        property((c) => {
          const { x } = inputsFor(c);
          const [, t, d] = x.shape;
          withRouter(
            (scope) => makeRouter(c, scope),
            (router) => {
              // The first sequence, in steps of 1, 2, 1, 3, ... tokens.
              const first = tf.slice(x, [0, 0, 0], [1, t, d]) as Tensor3D;
              checkCausalSessions(router, first, [1, 2, 1, 3], t + (c.seed % 3));
            },
          );
        });
      });

      it('should not leak tensors', () => {
        property((c) => {
          const { x, mask } = inputsFor(c);
          const before = tf.memory().numTensors;
          const scope = new OwnedParameterScope();
          const router = makeRouter(c, scope);
          const withVars = tf.memory().numTensors;
          for (const training of [false, true])
            disposePlan(
              router.route(x, defaultContext(router, { training, ...(mask ? { mask } : {}) })),
            );
          const vars = scope.trainable();
          if (vars.length > 0) {
            const { value, grads } = tf.variableGrads(() => {
              const plan = router.route(x, defaultContext(router, { training: true }));
              let loss = tf.sum(plan.combineWeights);
              for (const aux of Object.values(plan.auxLosses)) loss = tf.add(loss, aux);
              return loss as never;
            }, vars as never);
            tf.dispose([value, ...Object.values(grads)]);
          }
          assert.equal(tf.memory().numTensors, withVars, 'routing leaked tensors');
          router.dispose();
          scope.dispose();
          assert.equal(tf.memory().numTensors, before, 'dispose() left tensors behind');
        });
      });
    }, options.backends);
  });
}
