// The interleaved passes of `moderoute bench`: in each pass every runner (the matmul peak,
// moderoute's variants on fresh models, the peers' models) takes one measurement in turn, round
// after round, so that a busy host slows all of them alike; each runner's pass figure is the
// median of its timed rounds, and ratios between runners are taken pass by pass, then summarised
// by their median and range over the passes (training.ts).
import { median } from './variant.js';

/** Something measured once per round: a moderoute variant, a peer's model, the matmul peak. */
export interface Runner {
  readonly name: string;
  /** Trains one step (resolves with its wall time in ms), or measures the peak (GFLOP/s). */
  step(): Promise<number>;
}

/** A figure over the passes: the median, and the least and greatest pass. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The spread of pass figures `xs` (one or more). */
export function spreadOf(xs: readonly number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/**
 * Trains every runner `warmup + steps` steps, one step each in turn, in the order given; returns
 * each runner's timed steps (the last `steps`, in round order), by name. The runners of each
 * pair in `swapped` (names) trade places every other round, so that neither always runs right
 * after the same neighbour (a variant and its "(tfjs kernels)" twin).
 */
export async function interleavedSteps(
  runners: readonly Runner[],
  warmup: number,
  steps: number,
  swapped: readonly (readonly [string, string])[] = [],
): Promise<Record<string, number[]>> {
  const times = runners.map(() => [] as number[]);
  const index = new Map(runners.map((runner, r) => [runner.name, r]));
  const odd = runners.map((_, r) => r);
  for (const [a, b] of swapped) {
    const [i, j] = [index.get(a), index.get(b)];
    if (i !== undefined && j !== undefined) [odd[i], odd[j]] = [odd[j]!, odd[i]!];
  }
  for (let i = 0; i < warmup + steps; i++)
    for (const r of i % 2 === 0 ? runners.keys() : odd) {
      const ms = await runners[r]!.step();
      if (i >= warmup) times[r]!.push(ms);
    }
  return Object.fromEntries(runners.map((runner, r) => [runner.name, times[r]!]));
}

/** Each runner's median step, by name, from its steps. */
export function mediansOf(
  times: Readonly<Record<string, readonly number[]>>,
): Record<string, number> {
  return Object.fromEntries(Object.entries(times).map(([name, t]) => [name, median(t)]));
}

/**
 * The median over the rounds of runner a's step over runner b's step in the same round
 * (undefined without both): the two steps ran seconds apart at most, so a host whose load
 * changes from round to round moves both, where the ratio of the pass's medians pairs steps of
 * different rounds.
 */
export function pairedRatio(
  times: Readonly<Record<string, readonly number[]>>,
  a: string,
  b: string,
): number | undefined {
  const [ta, tb] = [times[a], times[b]];
  if (ta === undefined || tb === undefined || ta.length === 0 || ta.length !== tb.length)
    return undefined;
  return median(ta.map((x, i) => x / tb[i]!));
}

/**
 * Ratios taken pass by pass: for each name, `f(pass)` over the passes where it is defined,
 * summarised (names with no defined pass are left out).
 */
export function ratioSpreads(
  passes: readonly Record<string, number>[],
  ratios: Record<string, (pass: Record<string, number>) => number | undefined>,
): Record<string, Spread> {
  const out: Record<string, Spread> = {};
  for (const [name, f] of Object.entries(ratios)) {
    const xs = passes.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
    if (xs.length > 0) out[name] = spreadOf(xs);
  }
  return out;
}
