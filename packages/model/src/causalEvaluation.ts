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
import { ConfigError, requireInt, tf, type Tensor2D } from '@moderoute/core';
import type { BlockKind } from '@moderoute/blocks';
import type {
  CapacityPolicy,
  CausalMode,
  CausalScores,
  RuleCounts,
  DecisionMode,
  Router,
  RoutingPlan,
} from '@moderoute/routing';
import { causalRules } from './causalRules.js';
import type { LanguageModel } from './LanguageModel.js';

/**
 * Token windows of one length L = T + 1 with 2 <= L <= contextLength + 1: the inputs are a
 * window's first T tokens, the targets its last T. (Agreement uses the inputs only.)
 */
export type TokenWindows = readonly ArrayLike<number>[];

export interface EvaluationOptions {
  /** Windows per forward pass (default 8). */
  readonly batchSize?: number;
}

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

export interface CausalEvaluation {
  readonly agreement: readonly BlockAgreement[];
  /** Validation bits per byte by decision rule: 'top-k', and each causal rule every MoD router supports. */
  readonly bitsPerByte: Readonly<Partial<Record<DecisionMode, number>>>;
  /** (causal - top-k) / top-k of the loss, per causal rule. */
  readonly relativeLossIncrease: Readonly<Partial<Record<CausalMode, number>>>;
  readonly windows: number;
  readonly tokensPerWindow: number;
}

function checkWindows(model: LanguageModel, windows: TokenWindows): number {
  if (!isList(windows) || windows.length === 0)
    throw new ConfigError('windows', windows, 'a non-empty list of token windows');
  const length = windows[0]!.length;
  const max = model.config.contextLength + 1;
  if (!Number.isInteger(length) || length < 2 || length > max)
    throw new ConfigError('windows[0].length', length, `in [2, contextLength + 1 (${max})]`);
  windows.forEach((w, i) => {
    if (w.length !== length)
      throw new ConfigError(
        `windows[${i}].length`,
        w.length,
        `${length}, the length of windows[0]`,
      );
  });
  return length - 1;
}

/** Whether `value` is an array (without narrowing a readonly list to `any[]`, as Array.isArray does). */
function isList(value: unknown): boolean {
  return Array.isArray(value);
}

/** Batches of [inputs, targets] int32[B, T], disposed by the caller's tidy. */
function* batches(
  windows: TokenWindows,
  t: number,
  batchSize: number,
): Generator<{ inputs: Tensor2D; targets: Tensor2D; size: number }> {
  for (let start = 0; start < windows.length; start += batchSize) {
    const chunk = windows.slice(start, start + batchSize);
    const b = chunk.length;
    const inputs = new Int32Array(b * t);
    const targets = new Int32Array(b * t);
    chunk.forEach((w, row) => {
      for (let j = 0; j < t; j++) {
        inputs[row * t + j] = w[j] as number;
        targets[row * t + j] = w[j + 1] as number;
      }
    });
    yield {
      inputs: tf.tensor2d(inputs, [b, t], 'int32'),
      targets: tf.tensor2d(targets, [b, t], 'int32'),
      size: b,
    };
  }
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

/** A routed block's causal cuts before and after calibration. */
export interface CutCalibration {
  readonly block: number;
  readonly kind: BlockKind;
  /** The threshold rule's tau: [before, after]. */
  readonly threshold?: readonly [number, number];
  /** The predictor rule's cut: [before, after]. */
  readonly predictor?: readonly [number, number];
}

/**
 * The Mixture-of-Depths stage of each block whose router can calibrate its causal cuts
 * (Router.calibrateCausalCuts), with the block's capacity for it.
 */
function calibratableRouters(
  model: LanguageModel,
): Map<number, { router: Router; capacity: CapacityPolicy }> {
  const routers = new Map<number, { router: Router; capacity: CapacityPolicy }>();
  model.blocks.forEach((block, i) => {
    const stage = block
      .stages()
      .find(
        (s) => s.router.kind === 'mixture-of-depths' && s.router.calibrateCausalCuts !== undefined,
      );
    if (stage !== undefined) routers.set(i, stage);
  });
  return routers;
}

/**
 * The rules' current cuts, read from the router's saved state in the model's store
 * (`blocks.<i>.routers.<r>.threshold`, `....predictor.threshold`).
 */
function cutsOf(
  model: LanguageModel,
  block: number,
  router: Router,
): { threshold?: number; predictor?: number } {
  const r = model.blocks[block]!.routers().indexOf(router);
  const params = model.namedParameters();
  const read = (name: string) =>
    params.get(`blocks.${block}.routers.${r}.${name}`)?.dataSync()[0] as number | undefined;
  const threshold = read('threshold');
  const predictor = read('predictor.threshold');
  return {
    ...(threshold !== undefined ? { threshold } : {}),
    ...(predictor !== undefined ? { predictor } : {}),
  };
}

/** Whether any block's MoD router can calibrate its causal cuts (else calibrateCausalRouting does nothing). */
export function hasCalibratableRouting(model: LanguageModel): boolean {
  return calibratableRouters(model).size > 0;
}

/**
 * Calibrates every MoD router's causal cuts with the model's current weights (Raposo et al. 2024,
 * section 3.5): runs the top-k forward pass over the windows' inputs, pools each routed block's
 * decision values (router logits r; predictor logits) over all their tokens, and sets each rule's
 * cut to the exact quantile at top-k's fraction (Router.calibrateCausalCuts), so that the causal
 * rule selects what top-k selects on these tokens. Later blocks see the top-k pass's inputs, as
 * in training. Use training windows (the Trainer does, before each checkpoint); evaluate on
 * others. Returns the cuts before and after, per calibrated block.
 */
export function calibrateCausalRouting(
  model: LanguageModel,
  windows: TokenWindows,
  options: EvaluationOptions = {},
): CutCalibration[] {
  const t = checkWindows(model, windows);
  const batchSize = requireInt('batchSize', options.batchSize ?? 8, { min: 1 });
  const routers = calibratableRouters(model);
  if (routers.size === 0) return [];
  const samples = new Map<number, { threshold: Float32Array[]; predictor: Float32Array[] }>(
    [...routers.keys()].map((i) => [i, { threshold: [], predictor: [] }]),
  );
  for (const batch of batches(windows, t, batchSize)) {
    tf.tidy(() => {
      model.forward(batch.inputs, { mode: 'top-k' }).routing.forEach((plans, block) => {
        const plan = plans['mod'];
        const sink = samples.get(block);
        if (plan === undefined || plan.kind !== 'mixture-of-depths' || sink === undefined) return;
        sink.threshold.push(plan.routerLogits.dataSync() as Float32Array);
        if (plan.predictorLogits !== undefined)
          sink.predictor.push(plan.predictorLogits.dataSync() as Float32Array);
      });
      tf.dispose([batch.inputs, batch.targets]);
    });
  }
  const concat = (parts: Float32Array[]): Float32Array | undefined => {
    if (parts.length === 0) return undefined;
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  };
  return [...routers.entries()].map(([block, { router, capacity }]) => {
    const before = cutsOf(model, block, router);
    const sink = samples.get(block)!;
    const threshold = concat(sink.threshold);
    const predictor = concat(sink.predictor);
    router.calibrateCausalCuts!({
      seqLen: t,
      capacity,
      ...(threshold ? { threshold } : {}),
      ...(predictor ? { predictor } : {}),
    });
    const after = cutsOf(model, block, router);
    return {
      block,
      kind: model.blocks[block]!.kind,
      ...(before.threshold !== undefined
        ? { threshold: [before.threshold, after.threshold as number] as const }
        : {}),
      ...(before.predictor !== undefined
        ? { predictor: [before.predictor, after.predictor as number] as const }
        : {}),
    };
  });
}
