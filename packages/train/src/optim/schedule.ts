// Learning-rate schedule: linear warmup, then cosine decay to a floor (Loshchilov & Hutter 2017,
// SGDR, without restarts; the GPT-3 / Chinchilla recipe). A pure function of the step.
//
//   lr(s) = peak * (s + 1) / W                                      for s < W
//   lr(s) = floor + (peak - floor) * (1 + cos(pi * p)) / 2,
//           p = (s - W) / max(1, S - W)                             for W <= s <= S
//   lr(s) = floor                                                   for s > S
//
// with W = warmupSteps, S = totalSteps, floor = minRatio * peak. Step s is 0-based: the first
// update uses lr(0) = peak / W, the update of step W - 1 uses the peak.
import { ConfigError, requireInt, requireNumber } from '@moderoute/core';

/** A learning-rate schedule: linear warmup to the peak, then cosine decay. */
export interface CosineScheduleConfig {
  /** Peak learning rate, reached at the end of warmup. */
  readonly peak: number;
  /** W: steps of linear warmup (0 for none). */
  readonly warmupSteps: number;
  /** S: the step at which the cosine reaches the floor (usually the run's total steps). */
  readonly totalSteps: number;
  /** floor / peak, in [0, 1]; default 0.1. */
  readonly minRatio?: number;
}

/** Validates a schedule config; returns it with defaults filled in. */
export function resolveSchedule(config: CosineScheduleConfig): Required<CosineScheduleConfig> {
  const peak = requireNumber('peak', config.peak, { min: 0 });
  const warmupSteps = requireInt('warmupSteps', config.warmupSteps, { min: 0 });
  const totalSteps = requireInt('totalSteps', config.totalSteps, { min: 1 });
  if (warmupSteps > totalSteps)
    throw new ConfigError('warmupSteps', warmupSteps, `<= totalSteps (${totalSteps})`);
  const minRatio = requireNumber('minRatio', config.minRatio ?? 0.1, { min: 0, max: 1 });
  return { peak, warmupSteps, totalSteps, minRatio };
}

/** The learning rate of (0-based) step `step`; see the equations in this file's header. */
export function cosineLearningRate(config: CosineScheduleConfig, step: number): number {
  const { peak, warmupSteps: w, totalSteps: s, minRatio } = resolveSchedule(config);
  requireInt('step', step, { min: 0 });
  const floor = minRatio * peak;
  if (step < w) return (peak * (step + 1)) / w;
  if (step > s) return floor;
  const p = (step - w) / Math.max(1, s - w);
  return floor + ((peak - floor) * (1 + Math.cos(Math.PI * p))) / 2;
}

/** A schedule as a function of the step, validated once. */
export function cosineSchedule(config: CosineScheduleConfig): (step: number) => number {
  const resolved = resolveSchedule(config);
  return (step) => cosineLearningRate(resolved, step);
}
