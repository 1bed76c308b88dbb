// The built-in routers in the configurations the router law suite checks (laws.spec.ts runs each
// on cpu and wasm; the in-browser law page, test/browser/laws, runs a subset on webgl and against
// cpu), and the catalogue entry type shared with presetRuleRouterLaws.ts.
import { tf } from '@moderoute/core';
import {
  ExpertChoiceRouter,
  MixtureOfDepthsRouter,
  TokenChoiceRouter,
  type ParameterScope,
  type Router,
} from '@moderoute/routing';
import type { RouterLawCase, RouterLawOptions } from '@moderoute/testing';
import { balanceHooks, tokenChoice } from './tokenChoiceLawRouter.js';

/** A router configuration of the law suite: its name, a fresh router per case, its promises. */
export interface RouterLawEntry {
  readonly name: string;
  readonly make: (c: RouterLawCase, scope: ParameterScope) => Router;
  readonly options: RouterLawOptions;
}

/** A catalogue entry (arguments as routerLaws takes them). */
export const entry = (
  name: string,
  make: RouterLawEntry['make'],
  options: RouterLawOptions = {},
): RouterLawEntry => ({ name, make, options });

export const BUILT_IN_ROUTER_LAWS: readonly RouterLawEntry[] = [
  entry('TokenChoiceRouter (top-K, position priority)', tokenChoice({}), {
    supportsDropless: true,
    closedForms: { loadBalancing: 1e-2, zLoss: 1e-3 },
    balance: balanceHooks,
  }),

  entry(
    'TokenChoiceRouter (score priority, renormalized, jitter)',
    tokenChoice({
      priority: 'score',
      renormalize: true,
      jitter: 0.1,
      loadBalancingCoefficient: 0.5,
    }),
    {
      supportsDropless: true,
      closedForms: { loadBalancing: 0.5, zLoss: 1e-3 },
    },
  ),

  entry(
    'TokenChoiceRouter (token-major placement, probs priority, normalized after drops, scaled)',
    tokenChoice({
      placement: 'token-major',
      priority: 'probs',
      renormalize: 'after-drops',
      routedScale: 2.5,
      importanceCoefficient: 0.1,
    }),
    { supportsDropless: true, rankMajor: false, closedForms: { loadBalancing: 1e-2, zLoss: 1e-3 } },
  ),

  entry(
    'TokenChoiceRouter (noisy top-k gating with the importance and load losses)',
    tokenChoice({
      noisyGating: true,
      loadCoefficient: 0.1,
      importanceCoefficient: 0.1,
      renormalize: true,
    }),
    {
      supportsDropless: true,
      closedForms: { loadBalancing: 1e-2, zLoss: 1e-3 },
    },
  ),

  entry(
    'TokenChoiceRouter (sigmoid scores, group-free, unnormalized)',
    tokenChoice({ scoreFunction: 'sigmoid' }),
    {
      supportsDropless: true,
      closedForms: { loadBalancing: 1e-2 },
    },
  ),

  entry(
    'TokenChoiceRouter (DeepSeek-V3 preset: group-limited, selection bias, sequence-wise loss)',
    (c, scope) => {
      const groups = c.numExperts === 4 && c.topK <= 2 ? 2 : 1;
      const router = tokenChoice({
        preset: 'deepseek-v3',
        expertGroups: groups,
        topKGroups: 1,
        // With one choice, or every expert chosen (K = E), the preset's normalized weights and
        // its sequence-wise loss are constant, and sigmoid scores refuse the z-loss: unnormalized
        // weights (2.5 s) keep the gradient law meaningful; selection is what this case checks.
        renormalize: 'none',
      })(c, scope) as TokenChoiceRouter;
      const bias = tf.tidy(() =>
        tf.randomUniform([c.numExperts], -0.3, 0.3, 'float32', c.seed + 1),
      );
      router.selectionBias!.assign(bias);
      bias.dispose();
      return router;
    },
    {
      supportsDropless: true,
      rankMajor: false,
      selection: (router) => {
        const config = router.getConfig();
        return {
          bias: (router as TokenChoiceRouter).biasValues(),
          groups: {
            count: config['expertGroups'] as number,
            keep: config['topKGroups'] as number,
            score: config['groupScore'] as string,
          },
        };
      },
    },
  ),

  entry(
    "TokenChoiceRouter (GShard preset: random second expert; MaxText's capacity)",
    (c, scope) =>
      tokenChoice({
        preset: 'gshard',
        topK: Math.min(2, c.numExperts),
        secondExpertPolicy: c.numExperts >= 2 ? 'random' : 'all',
        // With normalized weights, a balanced load makes the load-balancing loss constant.
        zLossCoefficient: 1e-3,
        capacity: {
          preset: 'maxtext',
          trainFactor: c.capacityFactor,
          evalFactor: c.capacityFactor,
          dropless: c.dropless,
        },
      })(c, scope),
    { perSequence: false, randomSecondChoices: true },
  ),

  entry(
    'TokenChoiceRouter (V-MoE preset: fixed gating noise, all-gates importance, load loss)',
    tokenChoice({ preset: 'vmoe', importanceCoefficient: 0.1, loadCoefficient: 0.1 }),
    { supportsDropless: true, perSequence: false },
  ),

  entry(
    'TokenChoiceRouter (flaxformer preset: token groups of at most 4)',
    (c, scope) => {
      const e = Math.min(c.numExperts, c.batch * c.tokens);
      return tokenChoice({
        preset: 'flaxformer',
        numExperts: e,
        topK: Math.min(c.topK, e),
        capacity: {
          preset: 'switch',
          group: 'max-size',
          maxGroupSize: 4,
          trainFactor: c.capacityFactor,
          evalFactor: c.capacityFactor,
          minimum: 1,
          dropless: c.dropless,
        },
      })(c, scope);
    },
    { supportsDropless: true, perSequence: false, closedForms: { zLoss: 1e-3 } },
  ),

  entry(
    'TokenChoiceRouter (batch-wide groups)',
    (c, scope) =>
      new TokenChoiceRouter(
        {
          dModel: c.dModel,
          numExperts: c.numExperts,
          topK: c.topK,
          capacity: {
            preset: 'tutel',
            trainFactor: c.capacityFactor,
            evalFactor: c.capacityFactor,
            group: 'batch',
            dropless: c.dropless,
          },
          seed: c.seed,
        },
        scope,
      ),
    {
      supportsDropless: true,
      perSequence: false,
      closedForms: { loadBalancing: 1e-2, zLoss: 1e-3 },
    },
  ),

  entry(
    'ExpertChoiceRouter',
    (c, scope) =>
      new ExpertChoiceRouter(
        {
          dModel: c.dModel,
          numExperts: c.numExperts,
          capacity: { trainFactor: c.capacityFactor, evalFactor: c.capacityFactor },
          zLossCoefficient: 1e-3,
          jitter: 0.05,
          seed: c.seed,
        },
        scope,
      ),
    { closedForms: { zLoss: 1e-3 } },
  ),

  entry(
    'ExpertChoiceRouter (slots best first)',
    // The z-loss, as in the case above: with identity experts a token every expert takes gets
    // weights summing to 1, so only a loss gives the router a gradient on such inputs.
    (c, scope) =>
      new ExpertChoiceRouter(
        {
          dModel: c.dModel,
          numExperts: c.numExperts,
          capacity: { trainFactor: c.capacityFactor, evalFactor: c.capacityFactor },
          slotOrder: 'score',
          zLossCoefficient: 1e-3,
          seed: c.seed,
        },
        scope,
      ),
    { closedForms: { zLoss: 1e-3 } },
  ),

  entry(
    'MixtureOfDepthsRouter (identity gate, threshold)',
    (c, scope) =>
      new MixtureOfDepthsRouter(
        { dModel: c.dModel, capacity: c.capacityFraction, seed: c.seed },
        scope,
      ),
  ),

  entry(
    'MixtureOfDepthsRouter (sigmoid gate, predictor)',
    (c, scope) =>
      new MixtureOfDepthsRouter(
        {
          dModel: c.dModel,
          capacity: c.capacityFraction,
          gate: 'sigmoid',
          causalMode: 'predictor',
          predictorHidden: 3,
          seed: c.seed,
        },
        scope,
      ),
  ),

  entry(
    'MixtureOfDepthsRouter (tanh gate, no causal loss)',
    (c, scope) =>
      new MixtureOfDepthsRouter(
        {
          dModel: c.dModel,
          capacity: c.capacityFraction,
          gate: 'tanh',
          causalMode: 'none',
          seed: c.seed,
        },
        scope,
      ),
  ),
];
