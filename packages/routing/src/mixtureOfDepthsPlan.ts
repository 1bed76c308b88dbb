// The Mixture-of-Depths plan of one routing call (Raposo et al. 2024, arXiv 2404.02258): the
// router logit r = x w per token, the selection (top-k per sequence, section 3.2-3.3, or a causal
// rule of section 3.5), the combine weights g(r) gathered with core's gatherRows, the causal
// rules' BCE losses and the statistics the training step folds into the cuts. Axis legend:
// B batch, T tokens, D width, M = B*T, H predictor width, k tokens kept per sequence.
import {
  gatherRows,
  linear,
  tf,
  type Scalar,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { int32, sigmoids } from './common.js';
import { routingCounts } from './counts.js';
import { predictorLogits as predictorLogitsOf, type Predictor } from './depthCuts.js';
import { meanBceWithLogits, rootMeanSquaredError, stopGradient } from './losses.js';
import type { ModCausalMode, ModGate, PredictorTarget } from './mixtureOfDepthsConfig.js';
import type { DecisionMode, MixtureOfDepthsPlan } from './plan.js';
import { topKOf } from './selection.js';
import { topKCutStatistic, type Statistic } from './statistics.js';

/** What one routing call decides with: the router's parameters and cuts, and the call's rule. */
export interface DepthPlanInput {
  /** float32[B, T, D] */
  readonly x: Tensor3D;
  /** float32[D, 1] router weight w. */
  readonly weight: Tensor2D;
  readonly predictor: Predictor | undefined;
  readonly gate: ModGate;
  readonly causalMode: ModCausalMode;
  readonly causalLossCoefficient: number;
  /** What the predictor learns (its loss): the router logit r, or top-k membership. */
  readonly predictorTarget: PredictorTarget;
  /** The selection rule of this call ('top-k' or a causal rule the router has). */
  readonly mode: DecisionMode;
  /** Tokens kept per sequence by top-k. */
  readonly k: number;
  /** 1 for a real token, 0 for padding, per flat token. */
  readonly valid: Uint8Array;
  /** Whether the router keeps the threshold rule's cut (its statistic is then reported). */
  readonly hasThreshold: boolean;
  /** The threshold rule's tau and the predictor rule's cut. */
  readonly thresholdCut: number;
  readonly predictorCut: number;
  readonly training: boolean;
}

/** The plan of one routing call; route() never mutates the router. Call inside a tidy. */
export function depthPlan(input: DepthPlanInput): MixtureOfDepthsPlan {
  const { x, mode, k, valid } = input;
  const [b, t, d] = x.shape;
  const m = b * t;
  // Shape: [B, T, D] -> [M, D] -> [M, 1] -> [M]
  const x2 = tf.reshape(x, [m, d]) as Tensor2D;
  const r = tf.reshape(linear(x2, input.weight), [m]) as Tensor1D;
  const rHost = r.dataSync() as Float32Array;
  let predictorLogits: Tensor1D | undefined;
  let predHost: Float32Array | undefined;
  if (input.predictor !== undefined) {
    predictorLogits = predictorLogitsOf(input.predictor, stopGradient(x2));
    predHost = predictorLogits.dataSync() as Float32Array;
  }

  // Top-k membership per sequence over real tokens, ties to the lower position.
  const member = new Uint8Array(m);
  for (let row = 0; row < b; row++) {
    const candidates: number[] = [];
    for (let tok = row * t; tok < (row + 1) * t; tok++) if (valid[tok]) candidates.push(tok);
    for (const tok of topKOf(candidates, k, (i) => rHost[i] as number)) member[tok] = 1;
  }
  const tau = input.thresholdCut;
  const thresholdDecision = new Uint8Array(m);
  for (let i = 0; i < m; i++) thresholdDecision[i] = valid[i] && (rHost[i] as number) > tau ? 1 : 0;
  let predictorDecision: Uint8Array | undefined;
  if (predHost !== undefined) {
    const cut = input.predictorCut;
    predictorDecision = new Uint8Array(m);
    for (let i = 0; i < m; i++)
      predictorDecision[i] = valid[i] && (predHost[i] as number) > cut ? 1 : 0;
  }
  // What the training step folds into the cuts (foldStatistics); route changes nothing.
  const statistics: Record<string, Statistic> = {};
  if (input.training && mode === 'top-k') {
    if (input.hasThreshold) statistics['thresholdCut'] = topKCutStatistic(rHost, valid, b, t, k);
    if (input.predictor !== undefined && predHost !== undefined)
      statistics['predictorCut'] = topKCutStatistic(predHost, valid, b, t, k);
  }
  const selected =
    mode === 'top-k'
      ? member
      : mode === 'threshold'
        ? thresholdDecision
        : (predictorDecision as Uint8Array);

  // Flat (b, t)-ordered lists: ascending positions within each sequence.
  const tokenList: number[] = [];
  const positionList: number[] = [];
  const rowCounts = new Array<number>(b).fill(0);
  for (let i = 0; i < m; i++) {
    if (!selected[i]) continue;
    tokenList.push(i);
    positionList.push(i % t);
    rowCounts[Math.floor(i / t)]! += 1;
  }
  const tokenIndex = int32(tokenList) as Tensor1D;
  let combineWeights: Tensor1D;
  if (tokenList.length === 0) {
    combineWeights = tf.zeros([0]);
  } else {
    const gathered = gatherRows(r, tokenIndex);
    combineWeights =
      input.gate === 'identity'
        ? gathered
        : input.gate === 'sigmoid'
          ? tf.sigmoid(gathered)
          : tf.tanh(gathered);
  }

  // Section 3.5 auxiliary losses over real tokens: the router's BCE against top-k membership;
  // the predictor's root-mean-square error to r (a constant here, so the loss reaches neither the
  // router nor x), or the paper's BCE against top-k membership.
  const auxLosses: Record<string, Scalar> = {};
  const coefficient = input.causalLossCoefficient;
  if (input.causalMode !== 'none' && coefficient > 0) {
    if (input.causalMode === 'threshold')
      auxLosses['causalBce'] = meanBceWithLogits(r, rHost, member, valid, coefficient);
    else if (input.predictorTarget === 'logit')
      auxLosses['predictorRmse'] = rootMeanSquaredError(
        predictorLogits as Tensor1D,
        predHost as Float32Array,
        rHost,
        valid,
        coefficient,
      );
    else
      auxLosses['predictorBce'] = meanBceWithLogits(
        predictorLogits as Tensor1D,
        predHost as Float32Array,
        member,
        valid,
        coefficient,
      );
  }

  // sigmoid(r) per token, in double precision, for the entropy count.
  const gateProbs = sigmoids(rHost);
  const plan: MixtureOfDepthsPlan = {
    kind: 'mixture-of-depths',
    mode,
    batchSize: b,
    seqLen: t,
    capacity: k,
    rowCounts,
    tokenIndex,
    positions: int32(positionList) as Tensor1D,
    combineWeights,
    // Shape: [M] -> [B, T]
    routerLogits: tf.reshape(r, [b, t]) as Tensor2D,
    ...(predictorLogits !== undefined
      ? { predictorLogits: tf.reshape(predictorLogits, [b, t]) as Tensor2D }
      : {}),
    auxLosses,
    ...(Object.keys(statistics).length > 0 ? { statistics } : {}),
    counts: routingCounts({
      valid,
      numExperts: 1,
      tokenIndex: tokenList,
      entropy: { kind: 'bernoulli', probs: gateProbs },
      causal: {
        target: member,
        threshold: thresholdDecision,
        ...(predictorDecision !== undefined ? { predictor: predictorDecision } : {}),
      },
    }),
  };
  return plan;
}
