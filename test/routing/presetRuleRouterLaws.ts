// The router configurations with the rules that close the framework presets' gaps (docs/routing.md
// "Framework presets"): first-choice load-balancing loss (GShard, Tutel, DeepSpeed top-2),
// DeepSpeed's random token selection and sampled second expert, Megatron's drops ranked by the
// normalized top-K probabilities (presetRuleLaws.spec.ts runs them through the router law suite).
import { entry, type RouterLawEntry } from './builtInRouterLaws.js';
import { tokenChoice } from './tokenChoiceLawRouter.js';

// Tutel, Megatron and DeepSpeed top-2 normalize the weights over a token's choices (kept ones,
// for DeepSpeed): with one choice every weight is 1,
// and a load-balancing loss over an already balanced load is constant, so without the z-loss such
// a case gives the router no gradient at all (one CI run in several drew it).
export const PRESET_RULE_ROUTER_LAWS: readonly RouterLawEntry[] = [
  entry(
    'TokenChoiceRouter (Tutel preset: load-balancing loss over first choices)',
    tokenChoice({ preset: 'tutel', zLossCoefficient: 1e-3 }),
    {
      supportsDropless: true,
      closedForms: { loadBalancing: 1e-2, zLoss: 1e-3, firstChoicesOnly: true },
    },
  ),

  entry(
    'TokenChoiceRouter (DeepSpeed top-1 preset: random token selection)',
    (c, scope) => tokenChoice({ preset: 'deepspeed', topK: 1 })(c, scope),
    // The draws cover the batch: a row's random priority depends on the batch's size.
    {
      supportsDropless: true,
      perSequence: false,
      rankMajor: false,
      closedForms: { loadBalancing: 1e-2 },
    },
  ),

  entry(
    'TokenChoiceRouter (DeepSpeed top-2 preset: sampled second expert, first-choice loss)',
    (c, scope) =>
      tokenChoice({
        preset: 'deepspeed',
        topK: Math.min(2, c.numExperts),
        secondExpertPolicy: c.numExperts >= 2 ? 'sampled' : 'all',
        zLossCoefficient: 1e-3,
      })(c, scope),
    {
      supportsDropless: true,
      perSequence: false,
      sampledSecondChoices: true,
      closedForms: { loadBalancing: 1e-2, zLoss: 1e-3, firstChoicesOnly: true },
    },
  ),

  entry(
    'TokenChoiceRouter (Megatron preset: probs drops ranked by the normalized top-K)',
    tokenChoice({ preset: 'megatron', loadBalancingCoefficient: 1e-2, zLossCoefficient: 1e-3 }),
    {
      supportsDropless: true,
      rankMajor: false,
      closedForms: { loadBalancing: 1e-2, zLoss: 1e-3 },
    },
  ),
];
