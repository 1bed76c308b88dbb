// The router laws' host checks of a plan's selection (each kind's rule, in closed form) and of
// its capacity (no expert or sequence over it, slots unique). Axis legend: B batch, T tokens,
// E experts, K experts per token, N assignments.
import assert from 'node:assert/strict';
import type { HostPlan } from './routerLawHost.js';

/** A token-choice router's selection rule beyond the top-K of its scores (RouterLawOptions.selection). */
export interface SelectionRule {
  /** float32[E] added to the scores for the selection only (DeepSeek-V3). */
  readonly bias?: Float32Array | undefined;
  /** Group-limited top-k: `count` groups of E / count experts, `keep` best groups per token. */
  readonly groups?: { readonly count: number; readonly keep: number; readonly score: string };
  /** Second choices may be left out at random (GShard). */
  readonly randomSecondChoices?: boolean;
  /** Second choices are sampled (DeepSpeed's Gumbel second expert): only the first is the top-1. */
  readonly sampledSecondChoices?: boolean;
}

/**
 * The experts token `m` may choose: its `keep` best groups by the max (or the sum of the two
 * largest) of their selection scores, ties to the lower group; every expert without groups.
 */
function allowedExperts(sel: number[], e: number, rule: SelectionRule): boolean[] {
  const groups = rule.groups;
  if (groups === undefined || groups.count === 1) return new Array<boolean>(e).fill(true);
  const per = e / groups.count;
  const score = Array.from({ length: groups.count }, (_, g) => {
    const members = sel.slice(g * per, (g + 1) * per).sort((a, b) => b - a);
    return groups.score === 'max' ? members[0]! : members[0]! + members[1]!;
  });
  const best = Array.from({ length: groups.count }, (_, g) => g)
    .sort((g, h) => (score[g] === score[h] ? g - h : score[h]! - score[g]!))
    .slice(0, groups.keep);
  return Array.from({ length: e }, (_, ex) => best.includes(Math.floor(ex / per)));
}

/** Host closed-form checks and invariants per kind; throws on a violated law. */
export function checkSelection(
  host: HostPlan,
  valid: Uint8Array,
  rankMajor: boolean,
  rule: SelectionRule = {},
): void {
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
          // The choices are the top-K of the probabilities (plus the selection bias, rounded to
          // float32) within the token's best expert groups, ties to the lower expert.
          const sel = Array.from({ length: e }, (_, i) =>
            Math.fround(probs[m * e + i]! + (rule.bias?.[i] ?? 0)),
          );
          const allowed = allowedExperts(sel, e, rule);
          const order = Array.from({ length: e }, (_, i) => i)
            .filter((i) => allowed[i])
            .sort((i, j) => (sel[i] === sel[j] ? i - j : sel[j]! - sel[i]!));
          const asked = rule.sampledSecondChoices ? 1 : k;
          assert.deepEqual(
            mine.slice(0, asked),
            order.slice(0, asked),
            `token ${m}: choices ${mine} are not the top-${k} of its selection scores in its groups`,
          );
        }
      }
      // The bias affects the selection only: a token's weights are proportional to its
      // unbiased scores (whatever the normalization and routedScale).
      if (probs && rule.bias !== undefined) {
        const ratio = new Map<number, number>();
        tokens.forEach((tok, i) => {
          const r = weights[i]! / probs[tok * e + experts[i]!]!;
          const seen = ratio.get(tok);
          if (seen === undefined) ratio.set(tok, r);
          else
            assert.ok(
              Math.abs(seen - r) <= 1e-4 * Math.abs(seen),
              `token ${tok}: weights not proportional to its unbiased scores (${seen} vs ${r})`,
            );
        });
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
              else if (!(rule.randomSecondChoices && r === 1))
                bestDroppedRank = Math.min(bestDroppedRank, r);
            }
          }
          if (rankMajor)
            assert.ok(
              !(bestDroppedRank < worstKeptRank),
              `group ${g}, expert ${ex}: a rank-${bestDroppedRank + 1} choice was dropped ` +
                `for a rank-${worstKeptRank + 1} one`,
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

export function checkCapacity(host: HostPlan): void {
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
