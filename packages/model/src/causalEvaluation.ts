// How well causal routing stands in for top-k routing (Raposo et al. 2024, section 3.5 and
// figure 6): per routed block, the agreement of the causal decisions with top-k (accuracy,
// precision, recall), and validation bits per byte with causal decisions versus top-k ones.
// Pure functions over a model and token windows, for `moderoute eval --routing causal`.
//
// Agreement is measured in the top-k forward pass: at each MoD stage the router computes, on the
// same input, both the top-k selection and the causal rules' decisions (its plan's
// metrics.causal). Bits per byte with causal decisions is the full-sequence forward with
// mode 'threshold' or 'predictor', which equals token-by-token decoding with the KV cache
// (test/generate.spec.ts checks this).
// Axis legend: B windows per batch, T = L - 1 input tokens per window.
import { ConfigError, requireInt, tf } from '@moderoute/core';
import type { BlockKind } from '@moderoute/blocks';
import type {
  CausalMode,
  CausalScores,
  RuleCounts,
  DecisionMode,
  RoutingPlan,
} from '@moderoute/routing';
import { causalRules } from './causalRules.js';
import type { LanguageModel } from './LanguageModel.js';
import {
  batches,
  checkWindows,
  type EvaluationOptions,
  type TokenWindows,
} from './tokenWindows.js';

export type { EvaluationOptions, TokenWindows } from './tokenWindows.js';

/** Counts behind CausalScores, summed over windows. */
export interface DecisionCounts {
  /** Real tokens scored. */
  readonly tokens: number;
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
}

export interface RuleAgreement extends CausalScores, DecisionCounts {
  /** Fraction of tokens the causal rule sends through the block. */
  readonly selectedFraction: number;
}

/** Agreement of one routed block's causal rules with its top-k selection. */
export interface BlockAgreement {
  readonly block: number;
  readonly kind: BlockKind;
  /** Fraction of tokens top-k sends through the block (its capacity). */
  readonly topKFraction: number;
  readonly threshold?: RuleAgreement;
  readonly predictor?: RuleAgreement;
}

/**
 * How the causal rules compare with top-k: per-block agreement, and validation loss under each
 * rule.
 */
export interface CausalEvaluation {
  readonly agreement: readonly BlockAgreement[];
  /** Validation bits per byte by decision rule: 'top-k', and each causal rule every MoD router supports. */
  readonly bitsPerByte: Readonly<Partial<Record<DecisionMode, number>>>;
  /** (causal - top-k) / top-k of the loss, per causal rule. */
  readonly relativeLossIncrease: Readonly<Partial<Record<CausalMode, number>>>;
  readonly windows: number;
  readonly tokensPerWindow: number;
}
/** A rule's agreement counts from a plan's counts (real tokens only: masks are honoured). */
function countsOf(rule: RuleCounts, tokens: number): DecisionCounts {
  const { truePositives, falsePositives, falseNegatives } = rule;
  return { tokens, truePositives, falsePositives, falseNegatives };
}

function addCounts(a: DecisionCounts | undefined, b: DecisionCounts): DecisionCounts {
  if (a === undefined) return b;
  return {
    tokens: a.tokens + b.tokens,
    truePositives: a.truePositives + b.truePositives,
    falsePositives: a.falsePositives + b.falsePositives,
    falseNegatives: a.falseNegatives + b.falseNegatives,
  };
}

function scoresOf(c: DecisionCounts): RuleAgreement {
  const { tokens, truePositives: tp, falsePositives: fp, falseNegatives: fn } = c;
  return {
    ...c,
    accuracy: tokens > 0 ? (tokens - fp - fn) / tokens : 0,
    precision: tp + fp > 0 ? tp / (tp + fp) : 0,
    recall: tp + fn > 0 ? tp / (tp + fn) : 0,
    selectedFraction: tokens > 0 ? (tp + fp) / tokens : 0,
  };
}

interface AgreementAccumulator {
  kind: BlockKind;
  topK: number;
  tokens: number;
  threshold?: DecisionCounts;
  predictor?: DecisionCounts;
}

function accumulate(
  acc: Map<number, AgreementAccumulator>,
  model: LanguageModel,
  routing: readonly Readonly<Record<string, RoutingPlan>>[],
): void {
  routing.forEach((plans, block) => {
    const plan = plans['mod'];
    if (plan === undefined || plan.kind !== 'mixture-of-depths') return;
    // Counts of real tokens (a padded batch's padding is in neither).
    const { realTokens: tokens, load, causal = {} } = plan.counts;
    const topK = load[0] ?? 0;
    const entry = acc.get(block) ?? { kind: model.blocks[block]!.kind, topK: 0, tokens: 0 };
    entry.topK += topK;
    entry.tokens += tokens;
    if (causal.threshold)
      entry.threshold = addCounts(entry.threshold, countsOf(causal.threshold, tokens));
    if (causal.predictor)
      entry.predictor = addCounts(entry.predictor, countsOf(causal.predictor, tokens));
    acc.set(block, entry);
  });
}

function agreementOf(acc: Map<number, AgreementAccumulator>): BlockAgreement[] {
  return [...acc.entries()]
    .sort(([a], [b]) => a - b)
    .map(([block, e]) => ({
      block,
      kind: e.kind,
      topKFraction: e.tokens > 0 ? e.topK / e.tokens : 0,
      ...(e.threshold ? { threshold: scoresOf(e.threshold) } : {}),
      ...(e.predictor ? { predictor: scoresOf(e.predictor) } : {}),
    }));
}

/** Agreement of the causal decisions with top-k, per routed (MoD or staged MoDE) block, over the windows' inputs. */
export function causalAgreement(
  model: LanguageModel,
  windows: TokenWindows,
  options: EvaluationOptions = {},
): BlockAgreement[] {
  const t = checkWindows(model, windows);
  const batchSize = requireInt('batchSize', options.batchSize ?? 8, { min: 1 });
  const acc = new Map<number, AgreementAccumulator>();
  for (const batch of batches(windows, t, batchSize)) {
    tf.tidy(() => {
      accumulate(acc, model, model.forward(batch.inputs, { mode: 'top-k' }).routing);
      tf.dispose([batch.inputs, batch.targets]);
    });
  }
  return agreementOf(acc);
}

/**
 * Mean next-token cross-entropy over the windows in bits per byte, with MoD decisions by `mode`
 * (default 'top-k'). `bytesPerToken` is 1 for byte-level vocabularies (the default).
 */
export function bitsPerByte(
  model: LanguageModel,
  windows: TokenWindows,
  options: EvaluationOptions & {
    readonly mode?: DecisionMode;
    readonly bytesPerToken?: number;
  } = {},
): number {
  return evaluateCausalRouting(model, windows, {
    ...options,
    modes: [options.mode ?? 'top-k'],
    agreement: false,
  }).bitsPerByte[options.mode ?? 'top-k'] as number;
}

/**
 * Agreement and bits per byte in one pass over the windows: one top-k forward per batch (loss and
 * agreement) and one forward per causal rule (default: every rule all MoD routers support).
 */
export function evaluateCausalRouting(
  model: LanguageModel,
  windows: TokenWindows,
  options: EvaluationOptions & {
    readonly modes?: readonly DecisionMode[];
    readonly bytesPerToken?: number;
    readonly agreement?: boolean;
  } = {},
): CausalEvaluation {
  const t = checkWindows(model, windows);
  const batchSize = requireInt('batchSize', options.batchSize ?? 8, { min: 1 });
  const bytesPerToken = options.bytesPerToken ?? 1;
  if (typeof bytesPerToken !== 'number' || !(bytesPerToken > 0))
    throw new ConfigError('bytesPerToken', bytesPerToken, 'a number > 0');
  const modes: readonly DecisionMode[] = options.modes ?? ['top-k', ...causalRules(model).modes];
  const withAgreement = options.agreement ?? true;
  const nats = new Map<DecisionMode, number>(modes.map((m) => [m, 0]));
  const acc = new Map<number, AgreementAccumulator>();
  let tokens = 0;
  for (const batch of batches(windows, t, batchSize)) {
    tf.tidy(() => {
      for (const mode of modes) {
        const result = model.loss(batch.inputs, batch.targets, { mode });
        nats.set(
          mode,
          (nats.get(mode) as number) + (result.lmLoss.dataSync()[0] as number) * batch.size * t,
        );
        if (mode === 'top-k' && withAgreement) accumulate(acc, model, result.routing);
      }
      if (withAgreement && !modes.includes('top-k'))
        accumulate(acc, model, model.forward(batch.inputs, { mode: 'top-k' }).routing);
      tf.dispose([batch.inputs, batch.targets]);
    });
    tokens += batch.size * t;
  }
  const bits: Partial<Record<DecisionMode, number>> = {};
  for (const [mode, total] of nats) bits[mode] = total / tokens / Math.LN2 / bytesPerToken;
  const relative: Partial<Record<CausalMode, number>> = {};
  const base = bits['top-k'];
  if (base !== undefined && base > 0) {
    for (const mode of ['threshold', 'predictor', 'causal'] as const)
      if (bits[mode] !== undefined) relative[mode] = (bits[mode] as number) / base - 1;
  }
  return {
    agreement: withAgreement ? agreementOf(acc) : [],
    bitsPerByte: bits,
    relativeLossIncrease: relative,
    windows: windows.length,
    tokensPerWindow: t,
  };
}
