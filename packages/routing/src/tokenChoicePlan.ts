// The token-choice plan (tokenChoiceRules.ts's selection and placement, then the differentiable
// combine weights and the auxiliary losses) from a router's scores float32[M, E]. Axis legend:
// B batch, T tokens, M = B*T, E experts, K experts per token, G groups, n tokens per group,
// C capacity. Selection and placement run on the host over detached scores; the combine weights
// are the scores gathered at the kept (token, expert) pairs with core's gatherRows.
import {
  ConfigError,
  gatherRows,
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { int32, readValidity } from './common.js';
import { routingCounts } from './counts.js';
import { flattenSlots, gatherWeights } from './expertAssignments.js';
import {
  allGatesImportanceLoss,
  countLoadLoss,
  fixedNoiseLoadLoss,
  importanceLoss,
  noisyLoadLoss,
} from './gatingLosses.js';
import {
  loadBalancingCoefficients,
  loadBalancingLoss,
  meanWeights,
  routerZLoss,
  sequenceBalanceLoss,
} from './losses.js';
import { biasedSelection, selectionLoadStatistics } from './selectionBias.js';
import type { TokenChoicePlan } from './plan.js';
import type { RouteContext } from './Router.js';
import type { TokenChoiceSetup } from './tokenChoiceConfig.js';
import { sampleSecondExperts, secondExpertSkips } from './tokenChoiceDraws.js';
import {
  chooseExperts,
  normalizedChoiceScores,
  placeChoices,
  type ScoreFunction,
} from './tokenChoiceRules.js';
import { layoutIndexTensors } from './assignmentLayout.js';

/** Scores float32[M, E] from logits: softmax over experts, or elementwise sigmoid. */
export function scoresOf(scoreFunction: ScoreFunction, logits: Tensor2D): Tensor2D {
  return scoreFunction === 'softmax' ? tf.softmax(logits) : tf.sigmoid(logits);
}

/** What a routing call adds to the scores: noise, the selection bias, random draws. */
export interface PlanExtras {
  /**
   * Noisy gating: the clean logits float32[M, E], and the learned noise's standard deviation
   * float32[M, E] (Shazeer et al.; absent with V-MoE's fixed noise).
   */
  readonly noise?: { clean: Tensor2D; std?: Tensor2D | undefined } | undefined;
  /** float32[E]: DeepSeek-V3's selection bias (selectionBias.ts), absent when off. */
  readonly selectionBias?: Float32Array | undefined;
  /** float32[M]: U(0, 1) draws of GShard's random second-expert dispatch. */
  readonly secondDraws?: Float32Array | undefined;
  /**
   * float32[M * E]: standard Gumbel draws of DeepSpeed's sampled second expert
   * (top2_2nd_expert_sampling).
   */
  readonly secondGumbel?: Float32Array | undefined;
  /** float32[M * K]: U(0, 1) draws of 'random' priority (DeepSpeed's use_rts). */
  readonly priorityDraws?: Float32Array | undefined;
}

/**
 * The plan from logits (absent when scores were given) and scores float32[M, E]; `setup` is the
 * router's validated config (tokenChoiceConfig.ts). Call inside a tidy.
 */
export function tokenChoicePlan(
  setup: TokenChoiceSetup,
  logits: Tensor2D | undefined,
  scores: Tensor2D,
  b: number,
  t: number,
  options: Partial<RouteContext>,
  extras: PlanExtras = {},
): TokenChoicePlan {
  const noise = extras.noise;
  const config = setup.config;
  const { numExperts: e, topK: k, priority, placement, renormalize, routedScale } = config;
  const capacityPolicy = options.capacity ?? setup.defaultCapacity;
  const policy = capacityPolicy.config;
  const training = options.training ?? false;
  const m = b * t;
  const n = capacityPolicy.groupSize(b, t, e);
  const groups = m / n;
  const valid = readValidity(options.mask, m);
  const p = scores.dataSync() as Float32Array;
  // DeepSeek-V3 eq. 16: the bias enters the selection only; the weights are read from p.
  const selection = extras.selectionBias ? biasedSelection(p, extras.selectionBias) : p;
  const choices = chooseExperts(selection, m, e, k, setup.expertGroups);
  if (extras.secondGumbel) sampleSecondExperts(p, choices, extras.secondGumbel, e);
  const skip = extras.secondDraws
    ? secondExpertSkips(p, choices, extras.secondDraws, e)
    : undefined;

  // Capacity: the policy's formula (at most n: a token takes an expert once), or the
  // largest load of any expert in any group when dropless.
  let capacity: number;
  if (policy.dropless) {
    const load = new Int32Array(groups * e);
    for (let tok = 0; tok < m; tok++) {
      if (!valid[tok]) continue;
      for (let r = 0; r < k; r++)
        if (!skip?.[tok * k + r])
          load[Math.floor(tok / n) * e + (choices[tok * k + r] as number)]! += 1;
    }
    capacity = load.reduce((a, v) => Math.max(a, v), 0);
  } else {
    capacity = Math.min(
      capacityPolicy.capacity({ groupSize: n, numExperts: e, topK: k, training }),
      n,
    );
  }
  const placed = placeChoices({
    choices,
    valid,
    gates: p,
    numExperts: e,
    topK: k,
    groupSize: n,
    capacity,
    placement,
    priority,
    skip,
    rank:
      priority === 'random'
        ? extras.priorityDraws
        : priority === 'probs' && config.probsRanking === 'weights'
          ? normalizedChoiceScores(p, choices, e, k)
          : undefined,
  });
  // Without normalization a slot's weight is scores[token, expert] (one gather from [M*E]);
  // with it, scores at the K choices [M*K] normalized, gathered at the slot's choice.
  const assignments = flattenSlots(placed.slots, groups, capacity);
  if (renormalize === 'none')
    assignments.sources.forEach(
      (c, i) => (assignments.sources[i] = Math.floor(c / k) * e + (choices[c] as number)),
    );

  // Shape: scores [M, E] -> [M*E]
  const flatScores = tf.reshape(scores, [m * e]) as Tensor1D;
  let table = flatScores;
  if (renormalize !== 'none') {
    const choiceSources = new Int32Array(m * k);
    for (let c = 0; c < m * k; c++)
      choiceSources[c] = Math.floor(c / k) * e + (choices[c] as number);
    // Shape: gather [M*K] -> [M, K], normalized over K (the kept ones after drops) -> [M*K]
    let top: Tensor = tf.reshape(gatherRows(flatScores, int32(choiceSources) as Tensor1D), [m, k]);
    if (renormalize === 'after-drops')
      top = tf.mul(top, tf.tensor2d(Float32Array.from(placed.kept), [m, k]));
    const denominator =
      renormalize === 'after-drops'
        ? tf.maximum(tf.sum(top, 1, true), 1.1920929e-7)
        : tf.sum(top, 1, true);
    table = tf.reshape(tf.div(top, denominator), [m * k]) as Tensor1D;
  }
  if (routedScale !== 1) table = tf.mul(table, routedScale) as Tensor1D;
  const combineWeights = gatherWeights(table, assignments.sources, gatherRows);

  // The distribution the balancing losses read: the softmax probabilities, or the sigmoid
  // scores normalized per token (DeepSeek-V3 eq. 19-20).
  const distribution =
    config.scoreFunction === 'softmax'
      ? scores
      : (tf.div(scores, tf.sum(scores, 1, true)) as Tensor2D);
  const auxLosses: Record<string, Scalar> = {};
  if (config.loadBalancingCoefficient > 0) {
    const coefficients = loadBalancingCoefficients(
      choices,
      valid,
      m,
      e,
      k,
      n,
      config.loadBalancingCoefficient,
      config.loadBalancingChoices === 'first' ? 1 : k,
    );
    auxLosses['loadBalancing'] = loadBalancingLoss(distribution, coefficients);
  }
  if (config.zLossCoefficient > 0)
    auxLosses['zLoss'] = routerZLoss(logits!, meanWeights(valid), config.zLossCoefficient);
  if (config.importanceCoefficient > 0 && config.importanceGates === 'all')
    auxLosses['importance'] = allGatesImportanceLoss(
      noise ? scoresOf(config.scoreFunction, noise.clean) : scores,
      valid,
      config.importanceCoefficient,
    );
  else if (config.importanceCoefficient > 0)
    auxLosses['importance'] = importanceLoss(
      scores,
      choices,
      valid,
      k,
      config.importanceCoefficient,
      renormalize !== 'none',
    );
  if (config.sequenceBalanceCoefficient > 0)
    auxLosses['sequenceBalance'] = sequenceBalanceLoss(
      distribution,
      choices,
      valid,
      t,
      k,
      config.sequenceBalanceCoefficient,
    );
  if (config.loadCoefficient > 0) {
    if (noise === undefined)
      throw new ConfigError(
        'loadCoefficient',
        config.loadCoefficient,
        "0 when routing given scores (the load loss needs the router's own noisy gating)",
      );
    const w = config.loadCoefficient;
    if (config.noiseStd > 0) {
      // V-MoE: the load loss exists only with the noise (training).
      if (training)
        auxLosses['load'] = fixedNoiseLoadLoss(
          logits!,
          noise.clean,
          config.noiseStd / e,
          valid,
          k,
          w,
        );
    } else {
      auxLosses['load'] = training
        ? noisyLoadLoss(logits!, noise.clean, noise.std!, valid, k, w)
        : countLoadLoss(choices, valid, e, k, w);
    }
  }

  const entropyOf =
    config.scoreFunction === 'softmax' ? p : (distribution.dataSync() as Float32Array);
  return {
    kind: 'token-choice',
    batchSize: b,
    seqLen: t,
    numExperts: e,
    topK: k,
    numGroups: groups,
    groupSize: n,
    capacity,
    ...layoutIndexTensors(assignments),
    combineWeights,
    // Shape: [M, E] -> [B, T, E]; [M*K] -> [B, T, K]
    ...(logits ? { routerLogits: tf.reshape(logits, [b, t, e]) as Tensor3D } : {}),
    routerProbs: tf.reshape(scores, [b, t, e]) as Tensor3D,
    choices: int32(choices, [b, t, k]) as Tensor3D,
    choiceKept: int32(placed.kept, [b, t, k]) as Tensor3D,
    auxLosses,
    ...(training && config.biasUpdateRate > 0
      ? { statistics: selectionLoadStatistics(choices, valid, e, k) }
      : {}),
    counts: routingCounts({
      valid,
      numExperts: e,
      tokenIndex: assignments.tokenIndex,
      expertIndex: assignments.expertIndex,
      choicesPerToken: k,
      entropy: { kind: 'categorical', probs: entropyOf, width: e },
    }),
  };
}
