// The router laws on how a router behaves across calls (routerLaws.ts declares them after the
// laws on one plan): the load-balancing loss under uniform and imbalanced routing, per-sequence
// independence, gradients reaching the router's parameters, determinism, causal sessions stepped
// in any chunks, and no leaked tensors. Axis legend: B batch, T tokens, D width.
import assert from 'node:assert/strict';
import type fc from 'fast-check';
import { tf, type Tensor3D } from '@moderoute/core';
import {
  disposePlan,
  OwnedParameterScope,
  type ParameterScope,
  type Router,
} from '@moderoute/routing';
import type { RouterLawCase } from './arbitraries.js';
import {
  defaultContext,
  inputsFor,
  routeHost,
  rowSignature,
  samePlans,
  withRouter,
  type HostPlan,
} from './routerLawHost.js';
import type { RouterLawOptions } from './routerLaws.js';
import { checkCausalSessions } from './sessionLaws.js';

/** What routerLaws gives the laws it declares: the router under test and how to run a law. */
export interface RouterLawSuite {
  readonly makeRouter: (c: RouterLawCase, scope: ParameterScope) => Router;
  readonly options: RouterLawOptions;
  /** Runs `body` as a fast-check property over `arbitrary` (default: every case), in a tidy. */
  readonly property: (
    body: (c: RouterLawCase) => void,
    arbitrary?: fc.Arbitrary<RouterLawCase>,
  ) => void;
  readonly cases: fc.Arbitrary<RouterLawCase>;
}

/** Declares the laws across calls; call inside the suite's describe, on one backend. */
export function behaviourLaws({ makeRouter, options, property, cases }: RouterLawSuite): void {
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
                Array.from({ length: c.batch }, (_, row) => rowSignature(h, row, row * c.tokens)),
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
              if (plan.kind !== 'mixture-of-depths' && plan.numExperts === 1 && plan.routerProbs)
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
}
