// The named values of the token-choice router's options that are not selection or placement
// rules (those are in tokenChoiceRules.ts): which gates the losses read, GShard's second-expert
// policy, and how 'probs' drops rank an expert's assignments. tokenChoiceConfig.ts validates them.
import { requireOneOf } from '@moderoute/core';

/** Every choice of the gates the importance loss sums. */
export const IMPORTANCE_GATES = ['chosen', 'all'] as const;
/** The gates of the importance loss: a token's chosen experts' (Shazeer et al.), or all (V-MoE). */
export type ImportanceGates = (typeof IMPORTANCE_GATES)[number];

/** Every policy for dispatching a token's second expert. */
export const SECOND_EXPERT_POLICIES = ['all', 'random', 'sampled'] as const;
/**
 * The second expert (top-2 only): the second-best, always dispatched ('all'); dispatched at random
 * with probability min(1, 2 g2) (GShard); or sampled, argmax of log p + Gumbel noise over the
 * experts other than the first (DeepSpeed top2gating's top2_2nd_expert_sampling).
 */
export type SecondExpertPolicy = (typeof SECOND_EXPERT_POLICIES)[number];

/** Every choice of the assignments the load-balancing loss counts. */
export const LOAD_BALANCING_CHOICES = ['all', 'first'] as const;
/**
 * What the load-balancing loss's f_i counts: every (token, choice) pair (Switch, MegaBlocks), or
 * first choices only (GShard Algorithm 1's c_e, Tutel's gshard_loss).
 */
export type LoadBalancingChoices = (typeof LOAD_BALANCING_CHOICES)[number];

/** Every ranking of the 'probs' drop policy. */
export const PROBS_RANKINGS = ['scores', 'weights'] as const;
/**
 * What 'probs' drops rank an expert's assignments by: the router score p (DeepSpeed topkgating),
 * or p normalized over the token's K choices (Megatron-Core topk_softmax_with_capacity).
 */
export type ProbsRanking = (typeof PROBS_RANKINGS)[number];

/** The validated values of these options (defaults: 'chosen', 'all', 'all', 'scores'). */
export function resolveOptionNames(config: {
  readonly importanceGates?: ImportanceGates | undefined;
  readonly secondExpertPolicy?: SecondExpertPolicy | undefined;
  readonly loadBalancingChoices?: LoadBalancingChoices | undefined;
  readonly probsRanking?: ProbsRanking | undefined;
}): {
  importanceGates: ImportanceGates;
  secondExpertPolicy: SecondExpertPolicy;
  loadBalancingChoices: LoadBalancingChoices;
  probsRanking: ProbsRanking;
} {
  const gates = config.importanceGates ?? 'chosen';
  const second = config.secondExpertPolicy ?? 'all';
  return {
    importanceGates: requireOneOf('importanceGates', gates, IMPORTANCE_GATES),
    secondExpertPolicy: requireOneOf('secondExpertPolicy', second, SECOND_EXPERT_POLICIES),
    loadBalancingChoices: requireOneOf(
      'loadBalancingChoices',
      config.loadBalancingChoices ?? 'all',
      LOAD_BALANCING_CHOICES,
    ),
    probsRanking: requireOneOf('probsRanking', config.probsRanking ?? 'scores', PROBS_RANKINGS),
  };
}
