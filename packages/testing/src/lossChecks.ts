// The router laws' host check of a plan's auxiliary losses: finite, non-negative scalars, and
// the load-balancing loss (Switch Transformer eq. 4) and router z-loss (ST-MoE eq. 5) at their
// closed forms recomputed on the host. Axis legend: M tokens, E experts.
import assert from 'node:assert/strict';
import type { HostPlan } from './routerLawHost.js';
import type { RouterLawOptions } from './routerLaws.js';

function hostLogSumExp(row: number[]): number {
  const max = Math.max(...row);
  return max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
}

export function checkLosses(host: HostPlan, valid: Uint8Array, options: RouterLawOptions): void {
  const { plan } = host;
  for (const [name, loss] of Object.entries(plan.auxLosses)) {
    assert.equal(loss.rank, 0, `aux loss ${name} is not a scalar`);
    const v = loss.dataSync()[0] as number;
    assert.ok(Number.isFinite(v) && v >= 0, `aux loss ${name} is ${v}`);
  }
  if (plan.kind === 'mixture-of-depths') return;
  const e = plan.numExperts;
  const m = plan.batchSize * plan.seqLen;
  const alpha = options.closedForms?.loadBalancing;
  if (
    alpha !== undefined &&
    plan.kind === 'token-choice' &&
    plan.routerProbs &&
    plan.auxLosses['loadBalancing']
  ) {
    // Switch eq. 4-6 per group: alpha * E * sum_i f_i P_i, averaged over groups with real tokens;
    // P from each token's scores normalized to sum 1 (a no-op for softmax probabilities; the
    // normalized sigmoid scores of DeepSeek-V3 eq. 19-20).
    const raw = Array.from(plan.routerProbs.dataSync());
    const probs = raw.map(
      (v, i) => v / raw.slice(i - (i % e), i - (i % e) + e).reduce((a, x) => a + x, 0),
    );
    const choices = Array.from(plan.choices.dataSync());
    const k = plan.topK;
    // f counts every (token, choice) pair, or first choices only (GShard, Tutel).
    const counted = options.closedForms?.firstChoicesOnly ? 1 : k;
    let total = 0;
    let live = 0;
    for (let g = 0; g < plan.numGroups; g++) {
      const f = new Array<number>(e).fill(0);
      const p = new Array<number>(e).fill(0);
      let real = 0;
      for (let tok = g * plan.groupSize; tok < (g + 1) * plan.groupSize; tok++) {
        if (!valid[tok]) continue;
        real++;
        for (let r = 0; r < counted; r++) f[choices[tok * k + r]!]! += 1;
        for (let ex = 0; ex < e; ex++) p[ex]! += probs[tok * e + ex]!;
      }
      if (real === 0) continue;
      live++;
      total += alpha * e * f.reduce((a, fi, i) => a + (fi / (real * counted)) * (p[i]! / real), 0);
    }
    const expected = live > 0 ? total / live : 0;
    const actual = plan.auxLosses['loadBalancing'].dataSync()[0] as number;
    assert.ok(
      Math.abs(actual - expected) <= 1e-5 * Math.abs(expected) + 1e-8,
      `load-balancing loss ${actual} != closed form ${expected}`,
    );
  }
  const beta = options.closedForms?.zLoss;
  if (beta !== undefined && plan.routerLogits && plan.auxLosses['zLoss']) {
    // ST-MoE eq. 5: beta * mean over real tokens of logsumexp(logits)^2.
    const logits = Array.from(plan.routerLogits.dataSync());
    let sum = 0;
    let real = 0;
    for (let tok = 0; tok < m; tok++) {
      if (!valid[tok]) continue;
      real++;
      sum += hostLogSumExp(logits.slice(tok * e, tok * e + e)) ** 2;
    }
    const expected = real > 0 ? (beta * sum) / real : 0;
    const actual = plan.auxLosses['zLoss'].dataSync()[0] as number;
    assert.ok(
      Math.abs(actual - expected) <= 1e-4 * Math.abs(expected) + 1e-8,
      `z-loss ${actual} != closed form ${expected}`,
    );
  }
}
