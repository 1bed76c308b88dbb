// The token-choice router the law specs (laws.spec.ts, presetRuleLaws.spec.ts) build for a
// law case: its sizes and a Switch capacity from the case, then the spec's own options.
import { TokenChoiceRouter, type ParameterScope } from '@moderoute/routing';
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
