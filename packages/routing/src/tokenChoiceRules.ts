// The host-side rules of token-choice routing, as pure functions over detached scores: which K
// experts each token chooses (optionally within its best expert groups, optionally with a
// selection-only bias), and which of those choices each expert keeps under its capacity
// (placement order and drop policy). The router (TokenChoiceRouter) and the incremental decoder
// share them, so a rule is written once. Axis legend: M tokens, E experts, K experts per token,
// G capacity groups of n tokens, H expert groups (DeepSeek's n_group), Hk groups kept per token.
import { ConfigError } from '@moderoute/core';
import type { Slot } from './expertAssignments.js';

/** Every score function. */
export const SCORE_FUNCTIONS = ['softmax', 'sigmoid'] as const;
/** Router scores from logits: softmax over experts (Switch, GShard) or elementwise sigmoid (DeepSeek-V3). */
export type ScoreFunction = (typeof SCORE_FUNCTIONS)[number];

/** Every group score. */
export const GROUP_SCORES = ['max', 'top2-sum'] as const;
/** How an expert group is scored for group-limited routing: DeepSeek-V2's max, DeepSeek-V3's sum of the top two. */
export type GroupScore = (typeof GROUP_SCORES)[number];

/** Every placement order. */
export const PLACEMENTS = ['rank-major', 'token-major'] as const;
/**
 * Order in which choices claim capacity: every first choice of a group before any second choice
 * (GShard, flaxformer, fairscale, V-MoE), or token by token, each in its choice order (DeepSpeed's
 * topkgating, MaxText's generate_masks).
 */
export type Placement = (typeof PLACEMENTS)[number];

/** Every overflow priority. */
export const OVERFLOW_PRIORITIES = ['position', 'score', 'probs', 'random'] as const;
/**
 * Who keeps a full expert's slots: the earlier position ('position'); the token with the higher
 * top-1 score first ('score', batch-prioritized routing, Riquelme et al. 2021); per expert, the
 * assignments with the highest score ('probs', DeepSpeed's drop_policy='probs'); or, per expert,
 * those with the highest U(0, 1) draw ('random', DeepSpeed top1gating's use_rts).
 */
export type OverflowPriority = (typeof OVERFLOW_PRIORITIES)[number];

/** Every weight normalization. */
export const NORMALIZATIONS = ['none', 'before-drops', 'after-drops'] as const;
/**
 * Division of a token's weights by their sum: never, over its K choices, or over the choices kept
 * after capacity (DeepSpeed topkgating).
 */
export type Normalization = (typeof NORMALIZATIONS)[number];

/**
 * Group-limited routing (DeepSeek-V2 device-limited, DeepSeek-V3 node-limited): pick `keep` of
 * `count` expert groups, then the top-K experts inside them.
 */
export interface ExpertGroupRule {
  /** H: groups of E / H consecutive experts. */
  readonly count: number;
  /** Hk: groups each token may use. */
  readonly keep: number;
  readonly score: GroupScore;
}

/** Validates group-limited routing against E and K; returns undefined when it is off (H = 1 and Hk = 1). */
export function checkExpertGroups(
  numExperts: number,
  topK: number,
  rule: ExpertGroupRule,
  parameter = '',
): ExpertGroupRule | undefined {
  const { count, keep, score } = rule;
  if (numExperts % count !== 0)
    throw new ConfigError(
      `${parameter}expertGroups`,
      count,
      `a divisor of numExperts (${numExperts})`,
    );
  if (keep > count)
    throw new ConfigError(`${parameter}topKGroups`, keep, `<= expertGroups (${count})`);
  const perGroup = numExperts / count;
  if (topK > keep * perGroup) {
    throw new ConfigError(
      `${parameter}topK`,
      topK,
      `<= topKGroups * numExperts / expertGroups (${keep} * ${perGroup} = ${keep * perGroup}: ` +
        'the experts a token may reach)',
    );
  }
  if (score === 'top2-sum' && perGroup < 2 && count > 1)
    throw new ConfigError(
      `${parameter}groupScore`,
      score,
      `"max" when a group holds one expert (numExperts / expertGroups = ${perGroup})`,
    );
  return count === 1 ? undefined : rule;
}

/**
 * Each token's top-K experts by `selection` (float32[M * E], scores plus any selection bias),
 * best first, ties to the lower expert index. With `groups`, a token first keeps its Hk best
 * expert groups (group score: the max, or the sum of the two best, of its experts' selection
 * scores; ties to the lower group) and chooses only among their experts (DeepSeek-V3, eq. 12-16
 * with the bias of its auxiliary-loss-free balancing in the selection only).
 * Returns int32[M * K].
 */
export function chooseExperts(
  selection: ArrayLike<number>,
  numTokens: number,
  numExperts: number,
  topK: number,
  groups?: ExpertGroupRule,
): Int32Array {
  const e = numExperts;
  const k = topK;
  const choices = new Int32Array(numTokens * k);
  const allowed = new Uint8Array(e).fill(1);
  const perGroup = groups === undefined ? e : e / groups.count;
  const groupScores = new Float64Array(groups?.count ?? 1);
  const keptGroups = new Uint8Array(groups?.count ?? 1);
  for (let tok = 0; tok < numTokens; tok++) {
    const s = (ex: number) => selection[tok * e + ex] as number;
    if (groups !== undefined) {
      for (let g = 0; g < groups.count; g++) {
        let first = -Infinity;
        let second = -Infinity;
        for (let ex = g * perGroup; ex < (g + 1) * perGroup; ex++) {
          const v = s(ex);
          if (v > first) [first, second] = [v, first];
          else if (v > second) second = v;
        }
        groupScores[g] = groups.score === 'max' ? first : first + second;
      }
      keptGroups.fill(0);
      for (let r = 0; r < groups.keep; r++) {
        let best = -1;
        for (let g = 0; g < groups.count; g++)
          if (
            !keptGroups[g] &&
            (best < 0 || (groupScores[g] as number) > (groupScores[best] as number))
          )
            best = g;
        keptGroups[best] = 1;
      }
      for (let ex = 0; ex < e; ex++) allowed[ex] = keptGroups[Math.floor(ex / perGroup)] as number;
    }
    for (let r = 0; r < k; r++) {
      let best = -1;
      for (let ex = 0; ex < e; ex++) {
        if (!allowed[ex]) continue;
        let taken = false;
        for (let q = 0; q < r; q++) if (choices[tok * k + q] === ex) taken = true;
        if (!taken && (best < 0 || s(ex) > s(best))) best = ex;
      }
      choices[tok * k + r] = best;
    }
  }
  return choices;
}

/** What placeChoices needs to know about one routing call. */
export interface PlacementProblem {
  /** int32[M * K] from chooseExperts. */
  readonly choices: Int32Array;
  /** 1 for a real token, 0 for padding (never placed). */
  readonly valid: Uint8Array;
  /**
   * float32[M * E]: the scores 'score' priority ranks tokens by (their top-1 entry) and 'probs'
   * an expert's assignments by.
   */
  readonly gates: ArrayLike<number>;
  readonly numExperts: number;
  readonly topK: number;
  /** n: tokens per capacity group (groups are consecutive tokens). */
  readonly groupSize: number;
  /** C per expert per group. */
  readonly capacity: number;
  readonly placement: Placement;
  readonly priority: OverflowPriority;
  /** int32/uint8[M * K]: 1 for a choice never dispatched (GShard's random second expert). */
  readonly skip?: ArrayLike<number> | undefined;
  /**
   * float32[M * K]: what 'probs' and 'random' rank an expert's assignments by, per choice (the
   * normalized weights, or the random draws); 'probs' without it ranks by `gates`.
   */
  readonly rank?: ArrayLike<number> | undefined;
}

/**
 * Which choices were kept, and each expert's slots per group (slot order: placement order, or
 * position order for 'probs').
 */
export interface Placed {
  /** int32[M * K]: 1 where the choice was kept. */
  readonly kept: Int32Array;
  /** slots[e][g]: (token, choice index tok * K + r) in slot order. */
  readonly slots: Slot[][][];
  /** Real (token, choice) pairs, and how many were dropped. */
  readonly realChoices: number;
  readonly dropped: number;
}

/**
 * Places the choices under capacity. 'position' and 'score' walk tokens in their order (by
 * position, or by top-1 gate, highest first, ties to the lower position) and claim slots
 * rank-major (all first choices before any second choice; GShard section 2.2) or token-major
 * (each token's choices in turn, DeepSpeed/MaxText). 'probs' keeps, per expert and group, the C
 * assignments with the highest score, or `rank` when given ('random': the draws; ties to the
 * lower position), in position order.
 * Slot sources are choice indices tok * K + r.
 */
export function placeChoices(problem: PlacementProblem): Placed {
  const {
    choices,
    valid,
    gates,
    numExperts: e,
    topK: k,
    groupSize: n,
    capacity,
    placement,
    priority,
    skip,
    rank,
  } = problem;
  const m = valid.length;
  const groups = m / n;
  const kept = new Int32Array(m * k);
  const slots: Slot[][][] = Array.from({ length: e }, () =>
    Array.from({ length: groups }, () => [] as Slot[]),
  );
  let realChoices = 0;
  let dropped = 0;
  for (let tok = 0; tok < m; tok++) if (valid[tok]) realChoices += k;
  for (let g = 0; g < groups; g++) {
    if (priority === 'probs' || priority === 'random') {
      for (let ex = 0; ex < e; ex++) {
        const wanting: number[] = [];
        for (let tok = g * n; tok < (g + 1) * n; tok++) {
          if (!valid[tok]) continue;
          for (let r = 0; r < k; r++) {
            if (choices[tok * k + r] !== ex) continue;
            if (skip?.[tok * k + r]) dropped++;
            else wanting.push(tok * k + r);
          }
        }
        const score = (c: number) => (rank ? rank[c] : gates[Math.floor(c / k) * e + ex]) as number;
        wanting.sort((a, b) => (score(a) === score(b) ? a - b : score(b) > score(a) ? 1 : -1));
        const winners = wanting.slice(0, capacity).sort((a, b) => a - b);
        dropped += wanting.length - winners.length;
        for (const c of winners) {
          kept[c] = 1;
          slots[ex]![g]!.push({ token: Math.floor(c / k), source: c });
        }
      }
      continue;
    }
    const order: number[] = [];
    for (let tok = g * n; tok < (g + 1) * n; tok++) if (valid[tok]) order.push(tok);
    if (priority === 'score') {
      const top1 = (tok: number) => gates[tok * e + (choices[tok * k] as number)] as number;
      order.sort((i, j) => (top1(i) === top1(j) ? i - j : top1(j) > top1(i) ? 1 : -1));
    }
    const filled = new Int32Array(e);
    const claim = (tok: number, r: number) => {
      const c = tok * k + r;
      const ex = choices[c] as number;
      if (!skip?.[c] && (filled[ex] as number) < capacity) {
        filled[ex]! += 1;
        kept[c] = 1;
        slots[ex]![g]!.push({ token: tok, source: c });
      } else {
        dropped++;
      }
    };
    if (placement === 'rank-major') {
      for (let r = 0; r < k; r++) for (const tok of order) claim(tok, r);
    } else {
      for (const tok of order) for (let r = 0; r < k; r++) claim(tok, r);
    }
  }
  return { kept, slots, realChoices, dropped };
}

/**
 * What 'probs' drops rank by with probsRanking 'weights' (Megatron-Core topk_softmax_with_capacity:
 * the softmax of the top-K logits, i.e. p over the sum of the token's K chosen p): float32[M * K].
 */
export function normalizedChoiceScores(
  p: ArrayLike<number>,
  choices: Int32Array,
  numExperts: number,
  topK: number,
): Float32Array {
  const rank = new Float32Array(choices.length);
  for (let tok = 0; tok < choices.length / topK; tok++) {
    let sum = 0;
    for (let r = 0; r < topK; r++) sum += p[tok * numExperts + choices[tok * topK + r]!] as number;
    for (let r = 0; r < topK; r++) {
      const c = tok * topK + r;
      rank[c] = sum > 0 ? (p[tok * numExperts + choices[c]!] as number) / sum : 0;
    }
  }
  return rank;
}
