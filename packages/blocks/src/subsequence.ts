// Packing the tokens a Mixture-of-Depths plan selected into a dense subsequence batch, so that
// attention runs among the selected tokens only (Raposo et al. 2024, section 3.1: skipped tokens
// produce no keys or values), and unpacking the per-token updates back to plan order.
// Axis legend: B batch, T tokens, D width, N selected tokens in all, S = max selected per sequence.
import {
  tf,
  gatherRows,
  scatterAddRows,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { dispatchRows, type MixtureOfDepthsPlan } from '@moderoute/routing';

/** The tokens a Mixture-of-Depths plan selected, packed into a dense batch of subsequences. */
export interface Subsequence {
  /** float32[B, S, D]: selected tokens of each sequence, in ascending position order. */
  readonly x: Tensor3D;
  /** float32[B, S] (only when sequences selected different numbers): 1 for a real slot. */
  readonly mask?: Tensor;
  /** Unpacks float32[B, S, D] per-slot values to float32[N, D] in plan order. */
  unpack(values: Tensor3D): Tensor2D;
}

/**
 * Packs the selected tokens of `x` float32[B, T, D] into float32[B, S, D]. When every sequence
 * selected the same number (training top-k), the packing is one gather; otherwise (causal
 * decisions, padding) slots past a sequence's count are zero and masked out as keys.
 */
export function packSubsequence(plan: MixtureOfDepthsPlan, x: Tensor3D): Subsequence {
  const [b, , d] = x.shape;
  const counts = plan.rowCounts;
  const s = Math.max(0, ...counts);
  // Shape: [B, T, D] -> [N, D], plan order (sequence-major, ascending positions)
  const rows = dispatchRows(plan, x);
  if (counts.every((c) => c === s)) {
    return {
      // Shape: [N, D] = [B*S, D] -> [B, S, D]
      x: tf.reshape(rows, [b, s, d]),
      unpack: (values) => tf.reshape(values, [b * s, d]) as Tensor2D,
    };
  }
  // Slot of each assignment in the [B*S, D] buffer: b * S + j for the j-th of sequence b.
  const slots = new Int32Array(plan.tokenIndex.shape[0]);
  const valid = new Float32Array(b * s);
  let n = 0;
  counts.forEach((count, seq) => {
    for (let j = 0; j < count; j++) {
      slots[n++] = seq * s + j;
      valid[seq * s + j] = 1;
    }
  });
  const slotIndex = tf.tensor1d(slots, 'int32') as Tensor1D;
  return {
    // Shape: scatter [N, D] into [B*S, D] -> [B, S, D]
    x: tf.reshape(scatterAddRows(rows, slotIndex, b * s), [b, s, d]),
    mask: tf.tensor2d(valid, [b, s]),
    // Shape: [B, S, D] -> [B*S, D] -> gather at slots -> [N, D]
    unpack: (values) => gatherRows(tf.reshape(values, [b * s, d]) as Tensor2D, slotIndex),
  };
}
