// The causal sessions of the built-in routers (Router.causal): the decisions of one sequence,
// token block by token block, each token decided from itself and the tokens before it.
// Raposo et al. 2024, section 3.5 (Mixture-of-Depths' threshold and predictor rules); token-choice
// with running per-expert loads, so that a token is dropped exactly when the full-sequence
// forward of `capacityLength` tokens (token-major placement, position priority) drops it.
// Axis legend: n new tokens, D width, E experts, K experts per token, H predictor width,
// s selected tokens, N kept assignments.
import {
  gatherRows,
  linear,
  tf,
  type Tensor2D,
  type Tensor1D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { layoutAssignments, type Assignment, layoutIndexTensors } from './assignmentLayout.js';
import { int32, sigmoids } from './common.js';
import { predictorLogits as predictorLogitsOf, type Predictor } from './depthCuts.js';
import { routingCounts } from './counts.js';
import { biasedSelection } from './selectionBias.js';
import type { MixtureOfDepthsPlan, TokenChoicePlan } from './plan.js';
import type { CausalSession } from './Router.js';
import { chooseExperts, type ExpertGroupRule, type Normalization } from './tokenChoiceRules.js';

/** What a Mixture-of-Depths session decides with. */
export interface DepthRule {
  readonly mode: 'threshold' | 'predictor';
  /** float32[D, 1] router weight w: r = x w. */
  readonly weight: Variable;
  /** The predictor MLP (predictor rule only). */
  readonly predictor?: Omit<Predictor, 'threshold'> | undefined;
  /** g(r), the combine weight. */
  readonly gate: 'identity' | 'sigmoid' | 'tanh';
  /** The rule's cut: r > cut (threshold) or the predictor's logit > cut. */
  readonly cut: number;
  readonly dModel: number;
}

function gateOf(gate: DepthRule['gate'], r: Tensor1D): Tensor1D {
  return gate === 'identity' ? r : gate === 'sigmoid' ? tf.sigmoid(r) : tf.tanh(r);
}

/**
 * Mixture-of-Depths decisions: token i of x float32[1, n, D] goes through the block when its
 * decision value exceeds the cut. The plan's combine weights are g(r) of the selected tokens.
 */
export function depthSession(rule: DepthRule): CausalSession<MixtureOfDepthsPlan> {
  return {
    step(x: Tensor3D): MixtureOfDepthsPlan {
      return tf.tidy(() => {
        const [, n, d] = x.shape;
        // Shape: [1, n, D] -> [n, D] -> [n, 1] -> [n]
        const x2 = tf.reshape(x, [n, d]) as Tensor2D;
        const r = tf.reshape(linear(x2, rule.weight as Tensor2D), [n]) as Tensor1D;
        let predictorLogits: Tensor1D | undefined;
        if (rule.mode === 'predictor' && rule.predictor !== undefined) {
          predictorLogits = predictorLogitsOf(rule.predictor, x2);
        }
        const host = (predictorLogits ?? r).dataSync();
        const selected: number[] = [];
        for (let i = 0; i < n; i++) if ((host[i] as number) > rule.cut) selected.push(i);
        const s = selected.length;
        const tokenIndex = int32(selected) as Tensor1D;
        // Shape: [n] -> [s] (no gather when every token or none is selected)
        const weights =
          s === 0
            ? (tf.zeros([0]) as Tensor1D)
            : gateOf(rule.gate, s === n ? r : gatherRows(r, tokenIndex));
        // Entropy of sigmoid(r), read back under the threshold rule only (0 under the predictor's).
        const gateProbs = predictorLogits === undefined ? sigmoids(host) : undefined;
        const plan: MixtureOfDepthsPlan = {
          kind: 'mixture-of-depths',
          mode: rule.mode,
          batchSize: 1,
          seqLen: n,
          capacity: s,
          rowCounts: [s],
          tokenIndex,
          positions: int32(selected) as Tensor1D,
          combineWeights: weights,
          // Shape: [n] -> [1, n]
          routerLogits: tf.reshape(r, [1, n]) as Tensor2D,
          ...(predictorLogits !== undefined
            ? { predictorLogits: tf.reshape(predictorLogits, [1, n]) as Tensor2D }
            : {}),
          auxLosses: {},
          counts: routingCounts({
            valid: new Uint8Array(n).fill(1),
            numExperts: 1,
            tokenIndex: selected,
            ...(gateProbs ? { entropy: { kind: 'bernoulli' as const, probs: gateProbs } } : {}),
          }),
        };
        return plan as never;
      }) as MixtureOfDepthsPlan;
    },
  };
}

/** What a token-choice session decides with. */
export interface TokenChoiceRule {
  /** Scores float32[n, E] of x float32[1, n, D] as route() computes them in evaluation. */
  readonly scores: (x: Tensor3D) => Tensor2D;
  readonly numExperts: number;
  readonly topK: number;
  readonly expertGroups: ExpertGroupRule | undefined;
  /** float32[E]: DeepSeek-V3's selection bias, added to the scores for the selection only. */
  readonly selectionBias?: Float32Array | undefined;
  readonly renormalize: Normalization;
  readonly routedScale: number;
  /** Per-expert capacity over the whole sequence (Infinity: dropless). */
  readonly capacity: number;
}

/**
 * Token-choice decisions with running per-expert loads: token by token in position order, each
 * choice in its preference order (token-major placement), kept while its expert has taken fewer
 * than `capacity` tokens of the sequence. Weights are the scores of the kept experts, normalized
 * as the router's `renormalize` says, times routedScale. Host numbers, no gradient: a session
 * serves evaluation and decoding.
 */
export function tokenChoiceSession(rule: TokenChoiceRule): CausalSession<TokenChoicePlan> {
  const { numExperts: e, topK: k, capacity } = rule;
  const loads = new Int32Array(e);
  return {
    step(x: Tensor3D): TokenChoicePlan {
      return tf.tidy(() => {
        const n = x.shape[1];
        const scores = rule.scores(x);
        const p = scores.dataSync() as Float32Array;
        const selection = rule.selectionBias ? biasedSelection(p, rule.selectionBias) : p;
        const choices = chooseExperts(selection, n, e, k, rule.expertGroups);
        const kept = new Int32Array(n * k);
        const assignments: Assignment[] = [];
        const weights: number[] = [];
        for (let t = 0; t < n; t++) {
          const mine: number[] = [];
          for (let c = 0; c < k; c++) {
            const ex = choices[t * k + c] as number;
            if ((loads[ex] as number) >= capacity) continue;
            kept[t * k + c] = 1;
            mine.push(ex);
          }
          const normOver =
            rule.renormalize === 'before-drops'
              ? Array.from({ length: k }, (_, c) => choices[t * k + c] as number)
              : mine;
          const norm =
            rule.renormalize === 'none'
              ? 1
              : Math.max(
                  normOver.reduce((sum, ex) => sum + (p[t * e + ex] as number), 0),
                  rule.renormalize === 'after-drops' ? 1.1920929e-7 : 0,
                );
          for (const ex of mine) {
            assignments.push({ token: t, expert: ex, group: 0, slot: loads[ex] as number });
            weights.push((rule.routedScale * (p[t * e + ex] as number)) / norm);
            loads[ex] = (loads[ex] as number) + 1;
          }
        }
        const planCapacity = Number.isFinite(capacity) ? capacity : Math.max(1, ...loads);
        const rows = layoutAssignments(assignments, {
          numExperts: e,
          numGroups: 1,
          capacity: planCapacity,
        });
        const valid = new Uint8Array(n).fill(1);
        const plan: TokenChoicePlan = {
          kind: 'token-choice',
          batchSize: 1,
          seqLen: n,
          numExperts: e,
          topK: k,
          numGroups: 1,
          groupSize: n,
          capacity: planCapacity,
          ...layoutIndexTensors(rows),
          combineWeights: tf.tensor1d(Float32Array.from(rows.sources, (i) => weights[i] as number)),
          // Shape: [n, E] -> [1, n, E]
          routerProbs: tf.reshape(scores, [1, n, e]) as Tensor3D,
          choices: int32(choices, [1, n, k]) as Tensor3D,
          choiceKept: int32(kept, [1, n, k]) as Tensor3D,
          auxLosses: {},
          counts: routingCounts({
            valid,
            numExperts: e,
            tokenIndex: rows.tokenIndex,
            expertIndex: rows.expertIndex,
            choicesPerToken: k,
            entropy: { kind: 'categorical', probs: p, width: e },
          }),
        };
        return plan as never;
      }) as TokenChoicePlan;
    },
  };
}
