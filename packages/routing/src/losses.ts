// Auxiliary losses of the routers, as differentiable scalars.
// Axis legend: M routed tokens (B*T flattened), E experts, G groups.
import {
  gatherRows,
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
} from '@moderoute/core';

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
 */
export function loadBalancingCoefficients(
  choices: Int32Array,
  valid: Uint8Array,
  numTokens: number,
  numExperts: number,
  topK: number,
  groupSize: number,
  alpha: number,
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
      for (let k = 0; k < topK; k++) counts[choices[m * topK + k] as number]! += 1;
    }
    perGroup.push({ real, counts });
  }
  const liveGroups = perGroup.filter((p) => p.real > 0).length;
  if (liveGroups === 0) return coefficients;
  for (let m = 0; m < numTokens; m++) {
    if (!valid[m]) continue;
    const { real, counts } = perGroup[Math.floor(m / groupSize)]!;
    for (let e = 0; e < numExperts; e++) {
      const f = (counts[e] as number) / (real * topK);
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

/**
 * w * CV(v)^2 over the entries of v float32[E]: population variance / (mean^2 + 1e-10), as
 * tensor2tensor's cv_squared.
 */
function cvSquared(v: Tensor, w: number): Scalar {
  const { mean, variance } = tf.moments(v);
  return tf.mul(tf.div(variance, tf.add(tf.square(mean), 1e-10)), w) as Scalar;
}

/**
 * Importance loss (Shazeer et al. 2017, eq. 6): w * CV(Importance)^2, Importance_e = the sum over
 * real tokens of G(x)_e, the gate of expert e where the token chose it (0 elsewhere): `probs`
 * float32[M, E] masked to the K choices, and with `normalize` divided by their sum over the K
 * choices (the paper's G, a softmax over the kept logits), over the whole batch.
 * choices int32[M * K].
 */
export function importanceLoss(
  probs: Tensor2D,
  choices: Int32Array,
  valid: Uint8Array,
  topK: number,
  w: number,
  normalize = false,
): Scalar {
  const [m, e] = probs.shape;
  const chosen = new Float32Array(m * e);
  for (let tok = 0; tok < m; tok++)
    if (valid[tok])
      for (let r = 0; r < topK; r++) chosen[tok * e + (choices[tok * topK + r] as number)] = 1;
  // Shape: [M, E] masked (and normalized per row) -> importance [E]
  let gates: Tensor = tf.mul(probs, tf.tensor2d(chosen, [m, e]));
  if (normalize) gates = tf.div(gates, tf.maximum(tf.sum(gates, 1, true), 1e-30));
  return cvSquared(tf.sum(gates, 0), w);
}

/**
 * Load loss of noisy top-k gating (Shazeer et al. 2017, eq. 8-10) in training:
 * w * CV(Load)^2, Load_i = sum over real tokens of P(x, i), the probability that expert i stays in
 * the top-K under a new draw of its noise:
 *   P(x, i) = Phi((clean_i - kth_excluding(H, K, i)) / std_i),
 * kth_excluding(H, K, i) the K-th largest of the noisy logits H without H_i (the (K+1)-th largest
 * when i is in the top-K), read from H with its gradient (as tensor2tensor's _prob_in_top_k).
 * With K = E every expert is always kept (P = 1) and the loss is 0. noisy, clean, std float32[M, E].
 */
export function noisyLoadLoss(
  noisy: Tensor2D,
  clean: Tensor2D,
  std: Tensor2D,
  valid: Uint8Array,
  topK: number,
  w: number,
): Scalar {
  const [m, e] = noisy.shape;
  if (topK >= e) return tf.scalar(0);
  const h = noisy.dataSync();
  const thresholdAt = new Int32Array(m * e);
  const mask = new Float32Array(m * e);
  for (let tok = 0; tok < m; tok++) {
    // Descending order of the token's noisy logits, ties to the lower expert.
    const order = Array.from({ length: e }, (_, i) => i).sort((i, j) =>
      h[tok * e + i] === h[tok * e + j]
        ? i - j
        : (h[tok * e + j] as number) - (h[tok * e + i] as number),
    );
    const rank = new Int32Array(e);
    order.forEach((ex, r) => (rank[ex] = r));
    for (let i = 0; i < e; i++) {
      thresholdAt[tok * e + i] =
        tok * e + (order[(rank[i] as number) < topK ? topK : topK - 1] as number);
      mask[tok * e + i] = valid[tok] as number;
    }
  }
  // Shape: H [M, E] -> [M*E], gathered at each entry's threshold -> [M, E]
  const threshold = tf.reshape(
    gatherRows(
      tf.reshape(noisy, [m * e]) as Tensor1D,
      tf.tensor1d(thresholdAt, 'int32') as Tensor1D,
    ),
    [m, e],
  );
  const z = tf.div(tf.sub(clean, threshold), std);
  // Phi(z) = (1 + erf(z / sqrt 2)) / 2
  const p = tf.mul(tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1), 0.5);
  return cvSquared(tf.sum(tf.mul(p, tf.tensor2d(mask, [m, e])), 0), w);
}

/**
 * The load loss outside training, as tensor2tensor computes it there: w * CV(Load)^2 with Load_i
 * the number of real tokens that chose expert i (a constant: no noise, no gradient).
 */
export function countLoadLoss(
  choices: Int32Array,
  valid: Uint8Array,
  numExperts: number,
  topK: number,
  w: number,
): Scalar {
  const load = new Float32Array(numExperts);
  for (let tok = 0; tok < valid.length; tok++)
    if (valid[tok]) for (let r = 0; r < topK; r++) load[choices[tok * topK + r] as number]! += 1;
  return cvSquared(tf.tensor1d(load), w);
}
