// Analytic forward FLOPs of the pieces of a block, for one sequence. Convention (Kaplan et al.
// 2020, section 2.1; Hoffmann et al. 2022, appendix F): 2 FLOPs per multiply-accumulate of every
// matrix product; elementwise work (layer norm, GELU, softmax, residual adds) is not counted.
// Attention scores are counted over the full square of the (routed) sequence, as executed: the
// causal mask does not skip work. Training = 3 x forward (backward = 2 x forward).

/** Q, K, V and output projections of `tokens` tokens: 2 * n * D * 4D. */
export function attentionProjectionFlops(tokens: number, width: number): number {
  return 2 * tokens * width * 4 * width;
}

/** Scores Q K^T and weighted values P V over a sequence of `tokens`: 2 * (2 * n^2 * D). */
export function attentionCoreFlops(tokens: number, width: number): number {
  return 2 * 2 * tokens * tokens * width;
}

/** Two-layer MLP of hidden width F on `tokens` tokens: 2 * (2 * n * D * F). */
export function mlpFlops(tokens: number, width: number, hidden: number): number {
  return 2 * 2 * tokens * width * hidden;
}

/** A linear router with `outputs` logits per token: 2 * n * D * outputs. */
export function routerFlops(tokens: number, width: number, outputs: number): number {
  return 2 * tokens * width * outputs;
}
