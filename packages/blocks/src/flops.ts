// Analytic forward FLOPs of the pieces of a block, for one sequence. Convention (Kaplan et al.
// 2020, section 2.1; Hoffmann et al. 2022, appendix F): 2 FLOPs per multiply-accumulate of every
// matrix product; elementwise work (layer norm, GELU, softmax, residual adds) is not counted.
// Attention scores are counted over the full square of the (routed) sequence, as the usual
// model-FLOP count does (Chowdhery et al. 2022, appendix B) and as tfjs's kernels execute them.
// Core's own wasm attention kernel skips the keys after each query under the exact causal bias,
// so there it executes about half of that square (T(T + 1) / 2 pairs); at the bench config that
// makes the MoD/dense ratio of executed FLOPs 0.575 against this count's 0.570
// (docs/performance.md, round 10). Training = 3 x forward (backward = 2 x forward).
import type { CapacityPolicy, Router } from '@moderoute/routing';

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

/** Tokens a Mixture-of-Depths stage selects from a sequence of T, at the training capacity. */
export function depthTokens(capacity: CapacityPolicy, seqLen: number): number {
  return Math.min(seqLen, capacity.capacity({ groupSize: seqLen, numExperts: 1, training: true }));
}

/**
 * Expert assignments (to the first `realExperts` experts) an expert router processes for a
 * sequence of T tokens at the training capacity, from its description and the block's capacity:
 * expert-choice, each expert takes min(C, T) tokens; token-choice, at most K per token.
 */
export function expertAssignments(
  router: Router,
  capacity: CapacityPolicy,
  realExperts: number,
  seqLen: number,
): number {
  const { numExperts, topK } = router.describe();
  const t = seqLen;
  if (capacity.config.dropless) return Math.min(t * topK, t * realExperts);
  const c = capacity.capacity({ groupSize: t, numExperts, topK, training: true });
  const perExpert = Math.min(c, t);
  return router.kind === 'expert-choice'
    ? realExperts * perExpert
    : Math.min(realExperts * perExpert, t * topK);
}
