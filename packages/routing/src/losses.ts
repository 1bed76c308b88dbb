// Auxiliary losses of the routers, as differentiable scalars (the gating losses of noisy top-k
// gating and V-MoE: gatingLosses.ts). Axis legend: M routed tokens (B*T flattened), E experts,
// G groups.
import { tf, type Scalar, type Tensor, type Tensor1D, type Tensor2D } from '@moderoute/core';

/**
 * Coefficients of the Switch load-balancing loss as a constant matrix float32[M, E], so that
 * loss = sum(probs * coefficients) (one multiply, one sum on the device).
 *
 * Switch Transformer (Fedus et al. 2021) eq. 4-6: loss = alpha * E * sum_i f_i * P_i, with f_i the
 * fraction of tokens dispatched to expert i (eq. 5, before capacity) and P_i the mean router
 * probability of expert i (eq. 6). For K > 1, f_i counts (token, choice) pairs and divides by
 * M * K, so sum_i f_i = 1 and uniform routing gives exactly alpha for every K (MegaBlocks' form;
 * flaxformer's top-k form is K times this). Computed per group over real tokens and averaged
 * over the groups that have any: a constant c[m, e] = alpha * E * f_{g(m), e} / (n_g * G').
 * `countedChoices` 1 counts first choices only, f_i = (tokens whose first choice is i) / M: GShard
 * (arXiv 2006.16668) Algorithm 1's c_e / S with m_e the mean gate, as Tutel computes it
 * (tutel/impls/losses.py gshard_loss at 747ab117: E * sum_e me_e * ce_e over top_ids[:, 0]).
 */
export function loadBalancingCoefficients(
  choices: Int32Array,
  valid: Uint8Array,
  numTokens: number,
  numExperts: number,
  topK: number,
  groupSize: number,
  alpha: number,
  countedChoices = topK,
): Float32Array {
  const coefficients = new Float32Array(numTokens * numExperts);
  const numGroups = numTokens / groupSize;
  const perGroup: { real: number; counts: Float64Array }[] = [];
  for (let g = 0; g < numGroups; g++) {
    const counts = new Float64Array(numExperts);
    let real = 0;
    for (let m = g * groupSize; m < (g + 1) * groupSize; m++) {
      if (!valid[m]) continue;
      real++;
      for (let k = 0; k < countedChoices; k++) counts[choices[m * topK + k] as number]! += 1;
    }
    perGroup.push({ real, counts });
  }
  const liveGroups = perGroup.filter((p) => p.real > 0).length;
  if (liveGroups === 0) return coefficients;
  for (let m = 0; m < numTokens; m++) {
    if (!valid[m]) continue;
    const { real, counts } = perGroup[Math.floor(m / groupSize)]!;
    for (let e = 0; e < numExperts; e++) {
      const f = (counts[e] as number) / (real * countedChoices);
      coefficients[m * numExperts + e] = (alpha * numExperts * f) / (real * liveGroups);
    }
  }
  return coefficients;
}

/** loss = sum(probs * coefficients): float32[M, E] x float32[M, E] -> scalar. */
export function loadBalancingLoss(probs: Tensor2D, coefficients: Float32Array): Scalar {
  return tf.sum(tf.mul(probs, tf.tensor2d(coefficients, probs.shape))) as Scalar;
}

/**
 * DeepSeek-V3's sequence-wise balance loss (eq. 17-20): per sequence of T real tokens,
 * alpha * sum_i f_i P_i with f_i = E / (K T) * (tokens of the sequence routed to expert i) and
 * P_i = mean over its tokens of s'_i, the token's scores normalized to sum 1 (`distribution`
 * float32[M, E]: softmax probabilities as they are); averaged over the sequences with real tokens.
 * The count follows the routed experts (with the selection bias, as Megatron-Core's seq_aux_loss
 * does; eq. 18's top-K of the unbiased scores when the bias is 0). This is the load-balancing loss
 * with one group per sequence (loadBalancingCoefficients), whatever the capacity groups are.
 */
export function sequenceBalanceLoss(
  distribution: Tensor2D,
  choices: Int32Array,
  valid: Uint8Array,
  seqLen: number,
  topK: number,
  alpha: number,
): Scalar {
  const [m, e] = distribution.shape;
  const coefficients = loadBalancingCoefficients(choices, valid, m, e, topK, seqLen, alpha);
  return loadBalancingLoss(distribution, coefficients);
}

/**
 * Router z-loss (ST-MoE, Zoph et al. 2022, eq. 5): beta * mean over real tokens of
 * (log sum_j exp(logits_j))^2. logits float32[M, E]; weights float32[M] are 1 / (real tokens)
 * for real tokens and 0 for padding.
 */
export function routerZLoss(logits: Tensor2D, tokenWeights: Tensor1D, beta: number): Scalar {
  const lse = tf.logSumExp(logits, 1);
  return tf.mul(tf.sum(tf.mul(tf.square(lse), tokenWeights)), beta) as Scalar;
}

/**
 * Binary cross-entropy on logits, elementwise and numerically stable:
 * max(z, 0) - z * y + log(1 + exp(-|z|)).
 */
export function bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
  return tf.add(
    tf.sub(tf.relu(logits), tf.mul(logits, targets)),
    tf.softplus(tf.neg(tf.abs(logits))),
  );
}

/**
 * coefficient * mean over real tokens of bceWithLogits(z, y), for logits z float32[M] already
 * read to the host (`host`, their values) and 0/1 targets y. The value and its gradient
 * dL/dz_i = coefficient * (sigmoid(z_i) - y_i) / (real tokens), 0 for padding, are computed on
 * the host, where the router has z anyway: one small op in the step instead of about 25 kernels
 * forward and backward on M-long vectors (the MoD router's causal loss, twice per MoD model).
 */
export function meanBceWithLogits(
  logits: Tensor1D,
  host: Float32Array,
  targets: Uint8Array,
  valid: Uint8Array,
  coefficient: number,
): Scalar {
  let real = 0;
  for (const v of valid) real += v;
  const scale = real > 0 ? coefficient / real : 0;
  let loss = 0;
  const grad = new Float32Array(host.length);
  for (let i = 0; i < host.length; i++) {
    if (!valid[i]) continue;
    const z = host[i] as number;
    const y = targets[i] as number;
    loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    grad[i] = scale * (1 / (1 + Math.exp(-z)) - y);
  }
  const value = loss * scale;
  // gradFunc in a tidy: tfjs runs a customGrad's gradFunc outside any per-node scope.
  const op = tf.customGrad<Scalar>(() => ({
    value: tf.scalar(value),
    gradFunc: (dy: Scalar) => tf.tidy(() => tf.mul(dy, tf.tensor1d(grad))),
  }));
  return op(logits);
}

/**
 * coefficient * sqrt(mean over real tokens of (z_i - y_i)^2): the root-mean-square error of logits
 * z float32[M] (their values `host`) to constant targets y. Its minimiser is least squares'; its
 * gradient dL/dz_i = coefficient (z_i - y_i) / (n RMSE) (0 for padding; 0 when the error is 0) has
 * norm coefficient / sqrt(n) whatever the error's scale, so the loss cannot swamp a global
 * gradient norm it shares with the model (AdamW's clipping). Computed on the host, as
 * meanBceWithLogits.
 */
export function rootMeanSquaredError(
  logits: Tensor1D,
  host: Float32Array,
  targets: Float32Array,
  valid: Uint8Array,
  coefficient: number,
): Scalar {
  let real = 0;
  let sum = 0;
  for (let i = 0; i < host.length; i++) {
    if (!valid[i]) continue;
    real++;
    sum += ((host[i] as number) - (targets[i] as number)) ** 2;
  }
  const rmse = real > 0 ? Math.sqrt(sum / real) : 0;
  const scale = rmse > 0 ? coefficient / (real * rmse) : 0;
  const grad = new Float32Array(host.length);
  for (let i = 0; i < host.length; i++)
    if (valid[i]) grad[i] = scale * ((host[i] as number) - (targets[i] as number));
  const value = coefficient * rmse;
  const op = tf.customGrad<Scalar>(() => ({
    value: tf.scalar(value),
    gradFunc: (dy: Scalar) => tf.tidy(() => tf.mul(dy, tf.tensor1d(grad))),
  }));
  return op(logits);
}

/** Weights float32[M]: 1 / (number of real tokens) for real tokens, 0 for padding. */
export function meanWeights(valid: Uint8Array): Tensor1D {
  let real = 0;
  for (const v of valid) real += v;
  const w = new Float32Array(valid.length);
  if (real > 0) for (let i = 0; i < valid.length; i++) w[i] = valid[i] ? 1 / real : 0;
  return tf.tensor1d(w);
}

/** Identity forward, zero gradient backward: the predictor learns on stop-gradient(x). */
export const stopGradient: <T extends Tensor>(x: T) => T = tf.customGrad(((x: Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: Tensor) => tf.zerosLike(dy),
})) as never) as never;

/** Mean entropy in nats of the rows of a probability table [M, E] over real rows. */
export function meanEntropy(probs: Float32Array, valid: Uint8Array, numExperts: number): number {
  let total = 0;
  let real = 0;
  for (let m = 0; m < valid.length; m++) {
    if (!valid[m]) continue;
    real++;
    for (let e = 0; e < numExperts; e++) {
      const p = probs[m * numExperts + e] as number;
      if (p > 0) total -= p * Math.log(p);
    }
  }
  return real > 0 ? total / real : 0;
}
