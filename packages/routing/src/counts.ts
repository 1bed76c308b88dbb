// Routing metrics as integer counts. Every router (and every causal session, and the stacking
// of per-sequence plans) computes them with the one pure function below, from what it decided;
// whatever aggregates routing over batches, replicas or sequences adds counts, and only
// `metricsOf` turns them into the ratios shown to people (RoutingMetrics). Ratios averaged
// with the wrong weights (batch * T tokens where a mask left fewer real ones) cannot happen.
import type { CausalScores, RoutingMetrics } from './plan.js';

/** Agreement counts of a causal decision rule with top-k over real tokens. */
export interface RuleCounts {
  /** Real tokens both select. */
  readonly truePositives: number;
  /** Real tokens the rule selects and top-k does not. */
  readonly falsePositives: number;
  /** Real tokens top-k selects and the rule does not. */
  readonly falseNegatives: number;
  /** Real tokens on which they agree (selected by both or by neither). */
  readonly agree: number;
}

/**
 * Integer counts of one plan: tokens, per-expert load, drops, experts per token, causal-rule
 * agreement.
 */
export interface RoutingCounts {
  /** Real (not padding) tokens routed. */
  readonly realTokens: number;
  /** Assignments per expert (MoD: [selected tokens]). */
  readonly load: readonly number[];
  /**
   * Token-choice: real (token, choice) pairs dropped for capacity, of `droppable` = realTokens *
   * K. Expert-choice and MoD: real tokens with no assignment, of `droppable` = realTokens.
   */
  readonly dropped: number;
  readonly droppable: number;
  /** Expert-choice: real tokens that got j experts, j = 0..E (absent for other routers). */
  readonly expertsPerToken?: readonly number[];
  /** Sum over real tokens of the router distribution's entropy, in nats (MoD: of sigmoid(r)). */
  readonly entropySum: number;
  /** MoD: agreement of the causal rules with top-k. */
  readonly causal?: { readonly threshold?: RuleCounts; readonly predictor?: RuleCounts };
}

/** What routingCounts reads: host arrays of one routing decision. */
export interface CountsInput {
  /** 1 (or non-zero) for a real token, per flat token b * T + t. */
  readonly valid: ArrayLike<number>;
  readonly numExperts: number;
  /** Token of each assignment (only real tokens are ever assigned). */
  readonly tokenIndex: ArrayLike<number>;
  /** Expert of each assignment (absent: expert 0, as for MoD). */
  readonly expertIndex?: ArrayLike<number>;
  /** Token-choice: K choices per token, so drops count (token, choice) pairs. */
  readonly choicesPerToken?: number;
  /** Expert-choice: keep the histogram of experts per real token. */
  readonly histogram?: boolean;
  /**
   * The router distribution per token: `categorical` probabilities [M, width] (entropy
   * -sum p log p), or `bernoulli` p [M] (entropy of a coin with p, MoD's sigmoid(r)).
   */
  readonly entropy?: {
    readonly kind: 'categorical' | 'bernoulli';
    readonly probs: ArrayLike<number>;
    readonly width?: number;
  };
  /** MoD: each rule's decisions and top-k's, per flat token (1 selected). */
  readonly causal?: {
    readonly target: ArrayLike<number>;
    readonly threshold?: ArrayLike<number>;
    readonly predictor?: ArrayLike<number>;
  };
}

function ruleCounts(
  decided: ArrayLike<number>,
  target: ArrayLike<number>,
  valid: ArrayLike<number>,
): RuleCounts {
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  let agree = 0;
  for (let i = 0; i < valid.length; i++) {
    if (!valid[i]) continue;
    const d = decided[i] ? 1 : 0;
    const t = target[i] ? 1 : 0;
    if (d === t) agree++;
    if (d && t) truePositives++;
    else if (d) falsePositives++;
    else if (t) falseNegatives++;
  }
  return { truePositives, falsePositives, falseNegatives, agree };
}

/** The counts of one routing decision (see RoutingCounts). */
export function routingCounts(input: CountsInput): RoutingCounts {
  const { valid, numExperts, tokenIndex, expertIndex } = input;
  let realTokens = 0;
  for (let i = 0; i < valid.length; i++) if (valid[i]) realTokens++;
  const load = new Array<number>(numExperts).fill(0);
  const perToken = new Uint32Array(valid.length);
  for (let n = 0; n < tokenIndex.length; n++) {
    load[expertIndex ? (expertIndex[n] as number) : 0]! += 1;
    perToken[tokenIndex[n] as number]! += 1;
  }
  const histogram = new Array<number>(numExperts + 1).fill(0);
  for (let i = 0; i < valid.length; i++)
    if (valid[i]) histogram[Math.min(perToken[i]!, numExperts)]! += 1;
  const k = input.choicesPerToken;
  const droppable = k === undefined ? realTokens : realTokens * k;
  const dropped = k === undefined ? histogram[0]! : droppable - tokenIndex.length;
  let entropySum = 0;
  const dist = input.entropy;
  if (dist !== undefined) {
    const width = dist.width ?? 1;
    for (let i = 0; i < valid.length; i++) {
      if (!valid[i]) continue;
      if (dist.kind === 'bernoulli') {
        const p = dist.probs[i] as number;
        if (p > 0 && p < 1) entropySum -= p * Math.log(p) + (1 - p) * Math.log(1 - p);
      } else {
        for (let e = 0; e < width; e++) {
          const p = dist.probs[i * width + e] as number;
          if (p > 0) entropySum -= p * Math.log(p);
        }
      }
    }
  }
  const causal = input.causal;
  return {
    realTokens,
    load,
    dropped,
    droppable,
    ...(input.histogram ? { expertsPerToken: histogram } : {}),
    entropySum,
    ...(causal
      ? {
          causal: {
            ...(causal.threshold
              ? { threshold: ruleCounts(causal.threshold, causal.target, valid) }
              : {}),
            ...(causal.predictor
              ? { predictor: ruleCounts(causal.predictor, causal.target, valid) }
              : {}),
          },
        }
      : {}),
  };
}

function addRules(a: RuleCounts | undefined, b: RuleCounts | undefined): RuleCounts | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return {
    truePositives: a.truePositives + b.truePositives,
    falsePositives: a.falsePositives + b.falsePositives,
    falseNegatives: a.falseNegatives + b.falseNegatives,
    agree: a.agree + b.agree,
  };
}

const addArrays = (a: readonly number[], b: readonly number[]): number[] =>
  Array.from({ length: Math.max(a.length, b.length) }, (_, i) => (a[i] ?? 0) + (b[i] ?? 0));

/** The counts of many routing decisions (sequences, batches, replicas) together. */
export function sumCounts(list: readonly RoutingCounts[]): RoutingCounts {
  return list.reduce((a, b) => {
    const threshold = addRules(a.causal?.threshold, b.causal?.threshold);
    const predictor = addRules(a.causal?.predictor, b.causal?.predictor);
    const histogram =
      a.expertsPerToken || b.expertsPerToken
        ? addArrays(a.expertsPerToken ?? [], b.expertsPerToken ?? [])
        : undefined;
    return {
      realTokens: a.realTokens + b.realTokens,
      load: addArrays(a.load, b.load),
      dropped: a.dropped + b.dropped,
      droppable: a.droppable + b.droppable,
      ...(histogram ? { expertsPerToken: histogram } : {}),
      entropySum: a.entropySum + b.entropySum,
      ...(threshold || predictor
        ? { causal: { ...(threshold ? { threshold } : {}), ...(predictor ? { predictor } : {}) } }
        : {}),
    };
  }, EMPTY_COUNTS);
}

const EMPTY_COUNTS: RoutingCounts = {
  realTokens: 0,
  load: [],
  dropped: 0,
  droppable: 0,
  entropySum: 0,
};

/** Accuracy, precision and recall of a rule against top-k, from its counts over `real` tokens. */
export function scoresOfRule(c: RuleCounts, real: number): CausalScores {
  const { truePositives: tp, falsePositives: fp, falseNegatives: fn } = c;
  return {
    accuracy: real > 0 ? c.agree / real : 0,
    precision: tp + fp > 0 ? tp / (tp + fp) : 0,
    recall: tp + fn > 0 ? tp / (tp + fn) : 0,
  };
}

/** The ratios shown to people (RoutingMetrics), from counts. */
export function metricsOf(counts: RoutingCounts): RoutingMetrics {
  const real = counts.realTokens;
  const histogram = counts.expertsPerToken;
  const causal = counts.causal;
  return {
    load: counts.load,
    droppedFraction: counts.droppable > 0 ? counts.dropped / counts.droppable : 0,
    entropy: real > 0 ? counts.entropySum / real : 0,
    ...(histogram
      ? {
          expertsPerToken: histogram.map((c) => (real > 0 ? c / real : 0)),
          meanExpertsPerToken: real > 0 ? histogram.reduce((s, c, j) => s + c * j, 0) / real : 0,
        }
      : {}),
    ...(causal
      ? {
          causal: {
            ...(causal.threshold ? { threshold: scoresOfRule(causal.threshold, real) } : {}),
            ...(causal.predictor ? { predictor: scoresOfRule(causal.predictor, real) } : {}),
          },
        }
      : {}),
  };
}
