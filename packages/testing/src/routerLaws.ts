// The router law suite: one function any Router (built-in or plugin) runs through. Each law is a
// fast-check property over random B, T, D, E, K, capacities, padding masks and exact score ties,
// run on every test backend. docs/routing.md lists the laws. This file declares the laws on one
// plan (capacity, selection, padding, outputs, weights, losses); routerBehaviourLaws.ts those on
// how the router behaves across calls (balance, independence, gradients, determinism, causal
// decisions, leaks); the host checks are in selectionChecks.ts and lossChecks.ts.
// Axis legend: B batch, T tokens, D width, E experts, K experts per token, N assignments.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tf, type BackendName, type Tensor } from '@moderoute/core';
import {
  combineRows,
  dispatchRows,
  disposePlan,
  metricsOf,
  type OwnedParameterScope,
  type ParameterScope,
  type Router,
} from '@moderoute/routing';
import { routerLawCases, runs, type RouterLawCase } from './arbitraries.js';
import { forEachBackend } from './backends.js';
import { checkLosses } from './lossChecks.js';
import { behaviourLaws } from './routerBehaviourLaws.js';
import {
  defaultContext,
  inputsFor,
  readPlan,
  routeHost,
  samePlans,
  withRouter,
} from './routerLawHost.js';
import { checkCapacity, checkSelection, type SelectionRule } from './selectionChecks.js';

export type { SelectionRule } from './selectionChecks.js';

export { defaultContext } from './routerLawHost.js';

/**
 * Options of `routerLaws`: runs, backends, and what the router promises (gradients, per-sequence
 * routing, placement, dropless, closed-form losses).
 */
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
  /**
   * Coefficients of the auxiliary losses to check against their closed forms; `firstChoicesOnly`:
   * the load-balancing loss's f counts first choices only (loadBalancingChoices 'first').
   */
  readonly closedForms?: {
    readonly loadBalancing?: number;
    readonly zLoss?: number;
    readonly firstChoicesOnly?: boolean;
  };
  /** Hooks that make routing uniform or imbalanced, for the load-balancing loss law. */
  readonly balance?: {
    /** Makes every router probability 1 / E (the router's variables are in `scope`). */
    readonly uniform: (router: Router, scope: OwnedParameterScope) => void;
    /** Sends every token with positive features to one expert with probability > 1 / E. */
    readonly imbalanced: (router: Router, scope: OwnedParameterScope) => void;
  };
  /** Backends to run on (default cpu and wasm). */
  readonly backends?: readonly BackendName[];
  /**
   * Token-choice: the selection rule beyond the top-K of the scores, read from the router once
   * per case: a selection-only bias float32[E] (DeepSeek-V3) and group-limited top-k. The laws then
   * ask for the top-K of scores + bias within the token's best groups, and that a token's weights
   * be proportional to its unbiased scores (the bias affects the selection only).
   */
  readonly selection?: (router: Router) => SelectionRule;
  /**
   * Token-choice: second choices may be left out at random (GShard's random dispatch), so only a
   * first choice must never be dropped while its expert has room (default false).
   */
  readonly randomSecondChoices?: boolean;
  /**
   * Token-choice: the second choice is sampled (DeepSpeed's Gumbel second expert), so the law asks
   * only that it differ from the first, which is the top-1 (default false).
   */
  readonly sampledSecondChoices?: boolean;
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

      it(
        'should select by its rule: top-K distinct experts, top-1 before top-2, ' +
          'exact expert-choice fill, exact MoD top-k in order',
        () => {
          property((c) => {
            const { x, mask, valid } = inputsFor(c);
            withRouter(
              (scope) => makeRouter(c, scope),
              (router) =>
                routeHost(router, x, mask ? { mask } : {}, (host) =>
                  checkSelection(host, valid, options.rankMajor ?? true, {
                    ...options.selection?.(router),
                    randomSecondChoices: options.randomSecondChoices ?? false,
                    sampledSecondChoices: options.sampledSecondChoices ?? false,
                  }),
                ),
            );
          });
        },
      );

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
            samePlans(dropless, roomy, 'dropless vs capacity >= max load');
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

      behaviourLaws({ makeRouter, options, property, cases });
    }, options.backends);
  });
}
