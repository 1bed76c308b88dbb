// A guard on causal routing: does each routed block's causal rule select about top-k's fraction
// of the tokens? (Raposo et al. 2024, section 3.5: the causal decision stands in for top-k, so it
// should select what top-k does, capacity * T per sequence.) A rule whose cut lies above every
// router logit switches its block off while sampling, which the loss barely shows in a small
// model; these checks make it a warning in `moderoute eval --routing causal`, `generate` and
// `bench:decode`.
import type { BlockKind } from '@moderoute/blocks';
import type { BlockAgreement } from './causalEvaluation.js';
import { depthTokens, type BlockDecodeStats } from '@moderoute/blocks';
import type { CausalMode } from '@moderoute/routing';
import type { LanguageModel } from './LanguageModel.js';

/** Largest accepted |selected fraction - top-k fraction|, in fraction units (2 points). */
export const SELECTION_MARGIN = 0.02;

/**
 * The tolerance over `tokens` tokens: SELECTION_MARGIN, or three binomial standard deviations
 * sqrt(c (1 - c) / n) when that is larger (a short generation selects a noisy fraction).
 */
export function selectionTolerance(capacity: number, tokens: number): number {
  return Math.max(
    SELECTION_MARGIN,
    tokens > 0 ? 3 * Math.sqrt((capacity * (1 - capacity)) / tokens) : Infinity,
  );
}

/** One routed block's causal selection against its capacity. */
export interface SelectionCheck {
  readonly block: number;
  readonly kind: BlockKind;
  readonly rule: CausalMode;
  /** Fraction of the tokens the causal rule sent through the block. */
  readonly selectedFraction: number;
  /** Fraction top-k sends through it (k / T). */
  readonly capacity: number;
  /** Tokens the fraction is over. */
  readonly tokens: number;
  readonly tolerance: number;
  /** Within the tolerance, and not zero when top-k would have selected at least 4 tokens. */
  readonly ok: boolean;
}

function check(
  block: number,
  kind: BlockKind,
  rule: CausalMode,
  selectedFraction: number,
  capacity: number,
  tokens: number,
): SelectionCheck {
  const tolerance = selectionTolerance(capacity, tokens);
  const none = selectedFraction === 0 && capacity * tokens >= 4;
  return {
    block,
    kind,
    rule,
    selectedFraction,
    capacity,
    tokens,
    tolerance,
    ok: !none && Math.abs(selectedFraction - capacity) <= tolerance,
  };
}

/** Checks every rule of every block of an evaluation (causalAgreement / evaluateCausalRouting). */
export function checkCausalSelection(agreement: readonly BlockAgreement[]): SelectionCheck[] {
  return agreement.flatMap((a) =>
    (['threshold', 'predictor'] as const).flatMap((rule) => {
      const s = a[rule];
      return s === undefined
        ? []
        : [check(a.block, a.kind, rule, s.selectedFraction, a.topKFraction, s.tokens)];
    }),
  );
}

/**
 * Checks what each routed block processed while decoding (GenerateResult.blocks, Decoder.stats):
 * the MoD stage's attended fraction against the router's capacity, for the rule the decoder used
 * (`mode`, else each router's configured rule).
 */
export function checkDecodeSelection(
  model: LanguageModel,
  stats: readonly BlockDecodeStats[],
  mode?: CausalMode,
): SelectionCheck[] {
  return model.blocks.flatMap((block, i) => {
    const stage = block.stages().find((st) => st.router.kind === 'mixture-of-depths');
    const s = stats[i];
    if (stage === undefined || s === undefined || s.seen === 0) return [];
    const description = stage.router.describe();
    // The fraction top-k keeps of a sequence as long as the decoded one.
    const capacity = depthTokens(stage.capacity, s.seen) / s.seen;
    const rule =
      mode !== undefined && mode !== 'causal'
        ? mode
        : (description.defaultCausalMode ?? 'threshold');
    return [check(i, block.kind, rule, s.attended / s.seen, capacity, s.seen)];
  });
}

/** A warning line per failed check (none when all pass). */
export function selectionWarnings(checks: readonly SelectionCheck[]): string[] {
  const pct = (f: number) => `${(100 * f).toFixed(1)}%`;
  return checks
    .filter((c) => !c.ok)
    .map((c) => {
      const what =
        c.selectedFraction === 0
          ? 'selects no token: the block is switched off while sampling'
          : `selects ${pct(c.selectedFraction)} of ${c.tokens} tokens`;
      return (
        `warning: block ${c.block} (${c.kind}) ${c.rule} rule ${what}; ` +
        `top-k selects ${pct(c.capacity)} (tolerance ${(100 * c.tolerance).toFixed(1)} points). ` +
        `Its causal cut does not match the router's logits: retrain with a version whose Trainer ` +
        `calibrates the cuts, or run calibrateCausalRouting (@moderoute/model) on training windows.`
      );
    });
}
