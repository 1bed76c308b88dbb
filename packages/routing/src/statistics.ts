// Statistics a router learns from training batches, as additive sums and counts. A router's
// `route` never changes its own state: it returns what it observed in `plan.statistics`, and
// the training step folds the statistics of every replica's plans into the router once per step
// (Router.foldStatistics), on the thread that owns the parameters. Sums and counts concatenate
// across replicas, so a step on many replicas folds exactly what a step on one would.

import { largestValues } from './selection.js';

/** One additive statistic: a sum of observations and how many there were. */
export interface Statistic {
  readonly sum: number;
  readonly count: number;
}

/** Named additive statistics of one routing call (MoD: `thresholdCut`, `predictorCut`). */
export type RouterStatistics = Readonly<Record<string, Statistic>>;

/** The statistics of many calls (one step's plans, from every replica), summed name by name. */
export function sumStatistics(list: readonly RouterStatistics[]): Record<string, Statistic> {
  const total: Record<string, Statistic> = {};
  for (const statistics of list) {
    for (const [name, { sum, count }] of Object.entries(statistics)) {
      const seen = total[name];
      total[name] = seen ? { sum: seen.sum + sum, count: seen.count + count } : { sum, count };
    }
  }
  return total;
}

/**
 * Weight of a training step in a running estimate (the MoD cuts): the plain mean of the first
 * 1 / THRESHOLD_RATE steps' values, then an exponential moving average with this rate (it
 * follows r as training moves it, over about 100 steps).
 */
export const THRESHOLD_RATE = 0.01;

/**
 * A running estimate [value, steps] moved towards this step's mean `statistic.sum /
 * statistic.count` (see THRESHOLD_RATE); unchanged when the step observed nothing (count 0).
 */
export function foldRunningMean(
  state: readonly [number, number],
  statistic: Statistic | undefined,
): readonly [number, number] {
  if (statistic === undefined || statistic.count === 0) return state;
  const [current, steps] = state;
  const seen = steps + 1;
  const rate = Math.max(1 / seen, THRESHOLD_RATE);
  return [current + rate * (statistic.sum / statistic.count - current), seen];
}

/**
 * The top-k cuts of one batch, additive: per sequence with more real tokens than k, the midpoint
 * between its k-th and (k+1)-th largest value; their sum and how many sequences had one.
 */
export function topKCutStatistic(
  values: Float32Array,
  valid: Uint8Array,
  batch: number,
  seqLen: number,
  k: number,
): Statistic {
  let sum = 0;
  let count = 0;
  for (let row = 0; row < batch; row++) {
    const real: number[] = [];
    for (let tok = row * seqLen; tok < (row + 1) * seqLen; tok++)
      if (valid[tok]) real.push(values[tok] as number);
    if (real.length <= k) continue;
    const top = largestValues(real, k + 1);
    sum += ((top[k - 1] as number) + (top[k] as number)) / 2;
    count++;
  }
  return { sum, count };
}
