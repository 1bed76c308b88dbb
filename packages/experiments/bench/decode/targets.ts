// The issue-21 targets checked over every contender, and the spread of each figure over retrains.
import { checkCausalSelection, type CausalEvaluation } from '@moderoute/model';
import { TARGETS, type Contender, type DecodeRow } from './config.js';
import type { DecodeResult } from './measure.js';

/** The variant a contender retrains ('mod@2' -> 'mod'). */
function variantOf(name: string): string {
  return name.replace(/@\d+$/, '');
}

/**
 * The issue-21 targets over every contender: each routed block's causal rule agrees with top-k
 * >= 97% and selects within 2 points of top-k's fraction (never zero: checkCausalSelection), and
 * MoD (threshold rule) decodes >= 1.5x dense; plus the spread of each figure over the retrains.
 */
export function targetReport(
  contenders: readonly Contender[],
  evaluations: Record<string, CausalEvaluation>,
  rows: readonly DecodeRow[],
  best: Record<string, DecodeResult>,
  denseTps: number | undefined,
) {
  const failures: string[] = [];
  const spreads = new Map<
    string,
    {
      variant: string;
      block: number;
      agreement: [number, number];
      selected: [number, number];
      overDense?: [number, number];
    }
  >();
  const widen = (range: [number, number] | undefined, x: number): [number, number] =>
    range ? [Math.min(range[0], x), Math.max(range[1], x)] : [x, x];
  for (const c of contenders) {
    const row = rows.find((r) => r.name.startsWith(`${c.name} (`));
    const rule = row?.mode ?? 'threshold';
    const overDense = row && denseTps ? best[row.name]!.tokensPerSec / denseTps : undefined;
    const agreement = evaluations[c.name]!.agreement;
    for (const check of checkCausalSelection(agreement)) {
      if (check.rule !== rule) continue;
      const acc = agreement.find((a) => a.block === check.block)![rule]!.accuracy;
      if (!check.ok || Math.abs(check.selectedFraction - check.capacity) > TARGETS.selectionMargin)
        failures.push(
          `${c.name} block ${check.block} ${rule}: selects ` +
            `${(100 * check.selectedFraction).toFixed(1)}% (top-k ` +
            `${(100 * check.capacity).toFixed(1)}%)`,
        );
      if (acc < TARGETS.agreement)
        failures.push(
          `${c.name} block ${check.block} ${rule}: agreement ${(100 * acc).toFixed(1)}% < ${100 * TARGETS.agreement}%`,
        );
      const key = `${variantOf(c.name)} (${rule})#${check.block}`;
      const prev = spreads.get(key);
      spreads.set(key, {
        variant: `${variantOf(c.name)} (${rule})`,
        block: check.block,
        agreement: widen(prev?.agreement, acc),
        selected: widen(prev?.selected, check.selectedFraction),
        ...(overDense !== undefined ? { overDense: widen(prev?.overDense, overDense) } : {}),
      });
    }
    if (variantOf(c.name) === 'mod' && overDense !== undefined && overDense < TARGETS.modSpeedup)
      failures.push(`${c.name}: decodes ${overDense.toFixed(2)}x dense < ${TARGETS.modSpeedup}x`);
  }
  const retrains = new Set(contenders.map((c) => c.name.match(/@(\d+)$/)?.[1] ?? '0')).size;
  return { ...TARGETS, retrains, spread: [...spreads.values()], failures };
}

/** The target section of the bench's report. */
export type TargetReport = ReturnType<typeof targetReport>;
