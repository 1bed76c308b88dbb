// The token-choice router the law specs (laws.spec.ts, presetRuleLaws.spec.ts and the in-browser
// law page, test/browser/laws) build for a law case: its sizes and a Switch capacity from the
// case, then the spec's own options; and the load-balancing law's hooks for it.
import { tf } from '@moderoute/core';
import {
  TokenChoiceRouter,
  type OwnedParameterScope,
  type ParameterScope,
  type Router,
} from '@moderoute/routing';
import type { RouterLawCase } from '@moderoute/testing';

/** A TokenChoiceRouter for law case c in scope, with `extra` options over the case's. */
export const tokenChoice =
  (extra: Record<string, unknown>) => (c: RouterLawCase, scope: ParameterScope) =>
    new TokenChoiceRouter(
      {
        dModel: c.dModel,
        numExperts: c.numExperts,
        topK: c.topK,
        capacity: {
          preset: 'switch',
          trainFactor: c.capacityFactor,
          evalFactor: c.capacityFactor,
          minimum: 1,
          dropless: c.dropless,
        },
        seed: c.seed,
        ...extra,
      },
      scope,
    );

/** The load-balancing law's hooks (RouterLawOptions.balance) for a linear token-choice router. */
export const balanceHooks = {
  /** Zero weights: every probability is 1 / E. */
  uniform: (_router: Router, scope: OwnedParameterScope) => {
    const [w] = scope.trainable();
    w!.assign(tf.zerosLike(w!));
  },
  /** Only expert 0's column is positive: positive features all go to expert 0 with p > 1 / E. */
  imbalanced: (_router: Router, scope: OwnedParameterScope) => {
    const [w] = scope.trainable();
    const [d, e] = w!.shape as [number, number];
    w!.assign(tf.tidy(() => tf.concat([tf.ones([d, 1]), tf.zeros([d, e - 1])], 1)));
  },
};
