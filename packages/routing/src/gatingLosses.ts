// The gating losses of noisy top-k gating (Shazeer et al. 2017) and V-MoE (Riquelme et al. 2021,
// appendix A.2): importance and load, each a coefficient times the squared coefficient of
// variation of a per-expert quantity. Axis legend: M routed tokens, E experts, K experts per token.
import {
  gatherRows,
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
} from '@moderoute/core';

/**
 * w * CV(v)^2 over the entries of v float32[E]: population variance / (mean^2 + 1e-10), as
 * tensor2tensor's cv_squared.
 */
export function cvSquared(v: Tensor, w: number): Scalar {
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

/**
 * V-MoE's load loss (google-research/vmoe vmoe/nn/routing.py at fc7b61a6,
 * NoisyTopExpertsPerItemRouter._load_auxiliary_loss): with noise of fixed standard deviation
 * `std` on the logits, w * CV(Load)^2, Load_i = sum over real tokens of
 * P(x, i) = 1 - Phi((threshold - clean_i) / std), threshold the K-th largest noisy logit of the
 * token (i included, unlike Shazeer et al.'s kth_excluding), read from `noisy` with its gradient.
 * noisy, clean float32[M, E].
 */
export function fixedNoiseLoadLoss(
  noisy: Tensor2D,
  clean: Tensor2D,
  std: number,
  valid: Uint8Array,
  topK: number,
  w: number,
): Scalar {
  const [m, e] = noisy.shape;
  const h = noisy.dataSync();
  const thresholdAt = new Int32Array(m);
  const mask = new Float32Array(m);
  for (let tok = 0; tok < m; tok++) {
    const order = Array.from({ length: e }, (_, i) => i).sort((i, j) =>
      h[tok * e + i] === h[tok * e + j]
        ? i - j
        : (h[tok * e + j] as number) - (h[tok * e + i] as number),
    );
    thresholdAt[tok] = tok * e + (order[topK - 1] as number);
    mask[tok] = valid[tok] as number;
  }
  // Shape: H [M, E] -> [M*E], gathered at each token's threshold -> [M, 1]
  const threshold = tf.reshape(
    gatherRows(
      tf.reshape(noisy, [m * e]) as Tensor1D,
      tf.tensor1d(thresholdAt, 'int32') as Tensor1D,
    ),
    [m, 1],
  );
  // 1 - Phi(z) = (1 - erf(z / sqrt 2)) / 2
  const z = tf.div(tf.sub(threshold, clean), std);
  const p = tf.mul(tf.sub(1, tf.erf(tf.mul(z, Math.SQRT1_2))), 0.5);
  return cvSquared(tf.sum(tf.mul(p, tf.reshape(tf.tensor1d(mask), [m, 1])), 0), w);
}

/**
 * V-MoE's importance loss (vmoe/nn/routing.py, _importance_auxiliary_loss): w * CV(Importance)^2,
 * Importance_e = the sum over real tokens of the clean softmax probability of e (every expert,
 * chosen or not). probs float32[M, E].
 */
export function allGatesImportanceLoss(probs: Tensor2D, valid: Uint8Array, w: number): Scalar {
  const [m] = probs.shape;
  // Shape: mask [M] -> [M, 1]
  const mask = tf.reshape(tf.tensor1d(Float32Array.from(valid)), [m, 1]);
  return cvSquared(tf.sum(tf.mul(probs, mask), 0), w);
}
