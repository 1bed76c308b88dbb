// A bank of E expert MLPs and the dispatch of routed rows through them.
// Axis legend: N routed assignments, D model width, F expert hidden width, E experts.
import { tf, type Primitives, type Tensor2D } from '@moderoute/core';
import { MlpLayer } from './layers.js';
import type { ScopedStore } from './ParameterStore.js';

/** Builds expert e's MLP; what blocks receive to make their experts (the "expert factory"). */
export type ExpertFactory = (store: ScopedStore, index: number) => MlpLayer;

/** The default expert factory: a GELU MLP of the given widths. */
export function mlpExperts(
  width: number,
  hidden: number,
  residualStd: number,
  ops: Primitives,
): ExpertFactory {
  return (store, index) =>
    new MlpLayer(store.scope(String(index)), width, hidden, residualStd, ops);
}

/** E expert MLPs and the dispatch of routed rows through them, each expert on its own rows. */
export class ExpertBank {
  readonly experts: readonly MlpLayer[];

  constructor(store: ScopedStore, numExperts: number, factory: ExpertFactory) {
    this.experts = Array.from({ length: numExperts }, (_, e) => factory(store, e));
  }

  get size(): number {
    return this.experts.length;
  }

  /**
   * Runs expert-major rows through their experts: rows float32[N, D] whose first counts[0] rows
   * belong to expert 0, the next counts[1] to expert 1, ... -> float32[N, D] in the same order.
   * Experts with no rows do no work. `counts` may be shorter than E (trailing experts idle) and
   * its entries past E (no-op experts) must be zero.
   */
  apply(rows: Tensor2D, counts: readonly number[]): Tensor2D {
    const parts: { expert: number; count: number }[] = [];
    counts.forEach((count, expert) => {
      if (count > 0) parts.push({ expert, count });
    });
    if (parts.length === 0) return rows;
    // Shape: [N, D] -> one [count_e, D] piece per busy expert (split's gradient is a concat).
    const pieces =
      parts.length === 1
        ? [rows]
        : tf.split(
            rows,
            parts.map((p) => p.count),
            0,
          );
    const outs = parts.map((p, i) =>
      (this.experts[p.expert] as MlpLayer).apply(pieces[i] as Tensor2D),
    );
    return (outs.length === 1 ? outs[0] : tf.concat(outs, 0)) as Tensor2D;
  }

  /**
   * Every expert on every row, summed: rows float32[N, D] -> sum_e Expert_e(rows) float32[N, D]
   * (DeepSeekMoE's shared experts, always on; Dai et al. 2024, eq. 9).
   */
  applyAll(rows: Tensor2D): Tensor2D {
    const outs = this.experts.map((expert) => expert.apply(rows));
    return (outs.length === 1 ? outs[0] : tf.addN(outs)) as Tensor2D;
  }
}
