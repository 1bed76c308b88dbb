// The router laws' host checks of a plan's selection (each kind's rule, in closed form) and of
// its capacity (no expert or sequence over it, slots unique). Axis legend: B batch, T tokens,
// E experts, K experts per token, N assignments.
import assert from 'node:assert/strict';
import type { HostPlan } from './routerLawHost.js';

/** Host closed-form checks and invariants per kind; throws on a violated law. */
export function checkSelection(host: HostPlan, valid: Uint8Array, rankMajor: boolean): void {
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
