// The cuts of Mixture-of-Depths' causal rules (Raposo et al. 2024 section 3.5): the [cut, steps]
// buffers the threshold and predictor rules decide by, how a training step's top-k cut statistic
// folds into them (statistics.ts), the exact quantile cut calibration sets, and the predictor.
// Axis legend: M tokens, D width, H predictor width.
import { gelu, linear, tf, type Tensor1D, type Tensor2D, type Variable } from '@moderoute/core';
import { seededVariable } from './common.js';
import type { ParameterScope } from './ParameterScope.js';
import { foldRunningMean, type Statistic } from './statistics.js';

/**
 * The cut that sends the `fraction` largest of `values` through the block: with the values sorted
 * descending and K = round(fraction * n) (at least 1, at most n - 1), the midpoint between the
 * K-th and (K+1)-th largest, so `value > cut` holds for exactly K of them (barring ties at the
 * cut). Undefined for fewer than two values.
 */
export function quantileCut(values: Float32Array, fraction: number): number | undefined {
  const n = values.length;
  if (n < 2) return undefined;
  const sorted = Float64Array.from(values).sort().reverse();
  const k = Math.min(n - 1, Math.max(1, Math.round(fraction * n)));
  return ((sorted[k - 1] as number) + (sorted[k] as number)) / 2;
}

export interface Predictor {
  /** float32[D, 1]: the linear path v (zero at first, and in a checkpoint written before it). */
  readonly linear: Variable;
  readonly w1: Variable;
  readonly b1: Variable;
  readonly w2: Variable;
  readonly b2: Variable;
  /** float32[2] [cut, steps], not trainable: the predictor logits' top-k cut, as `threshold`. */
  readonly threshold: Variable;
}

/** A [cut, steps] buffer `name` of `scope`, starting at 0 (the paper's rule: logit > 0). */
export function cutBuffer(scope: ParameterScope, name: string): Variable {
  return scope.variable(name, [2], () => tf.zeros([2]), false);
}

/** Folds one step's top-k cut statistic into a [cut, steps] buffer (statistics.ts). */
export function foldCut(state: Variable, statistic: Statistic | undefined): void {
  const [cut, steps] = state.dataSync() as Float32Array;
  const next = foldRunningMean([cut as number, steps as number], statistic);
  if (next[1] !== steps) tf.tidy(() => state.assign(tf.tensor1d([...next])));
}

/**
 * The linear path's rate: the predictor's logit uses PREDICTOR_LINEAR_RATE x v, so that v learns
 * that many times as fast as the model's parameters under Adam-style optimizers (whose step is
 * about the learning rate whatever the gradient's scale): r, which it tracks, drifts until the
 * last step (docs/sampling.md, "The predictor rule"). Checkpoints store v.
 */
export const PREDICTOR_LINEAR_RATE = 10;

/**
 * The predictor (Raposo et al. 2024 section 3.5: "a small auxiliary MLP predictor (akin to a second
 * router) that receives the same inputs as the router (with a stop gradient)"): logit =
 * w2 . gelu(W1 x + b1) + b2 + PREDICTOR_LINEAR_RATE v . x, H hidden units, in `scope` as
 * `predictor.linear` (v) [D, 1], `predictor.w1` [D, H], `.b1` [H], `.w2` [H, 1], `.b2` [1] and its
 * cut `predictor.threshold`. The linear path (zero at first) is there because the predictor
 * tracks r = w . x, a linear function of x, which the MLP alone ranked tokens by poorly
 * (docs/sampling.md). A checkpoint written before v existed loads with v = 0 (train's
 * laterParameters.ts): the MLP alone, as it was trained.
 */
export function createPredictor(
  scope: ParameterScope,
  dModel: number,
  hidden: number,
  seed: number,
): Predictor {
  const h = hidden;
  return {
    linear: seededVariable(scope, 'predictor.linear', [dModel, 1], 0, seed + 5),
    w1: seededVariable(scope, 'predictor.w1', [dModel, h], Math.sqrt(1 / dModel), seed + 1),
    b1: seededVariable(scope, 'predictor.b1', [h], 0, seed + 2),
    w2: seededVariable(scope, 'predictor.w2', [h, 1], Math.sqrt(1 / h), seed + 3),
    b2: seededVariable(scope, 'predictor.b2', [1], 0, seed + 4),
    threshold: cutBuffer(scope, 'predictor.threshold'),
  };
}

/** The predictor's logits float32[M] of x float32[M, D] (the caller stops x's gradient in training). */
export function predictorLogits(predictor: Omit<Predictor, 'threshold'>, x: Tensor2D): Tensor1D {
  const { linear: v, w1, b1, w2, b2 } = predictor;
  // Shape: [M, D] -> [M, H] -> [M, 1], plus [M, D] -> [M, 1]; -> [M]
  const hidden = gelu(linear(x, w1 as Tensor2D, b1 as Tensor1D));
  const path = tf.mul(linear(x, v as Tensor2D), PREDICTOR_LINEAR_RATE);
  const out = tf.add(linear(hidden, w2 as Tensor2D, b2 as Tensor1D), path);
  return tf.reshape(out, [x.shape[0]]) as Tensor1D;
}
