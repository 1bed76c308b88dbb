// Token windows, the input of the causal-routing measurements (causalEvaluation.ts) and of the
// cut calibration (causalCalibration.ts): their validation and their batching into tensors.
// Axis legend: B windows per batch, T = L - 1 input tokens per window.
import { ConfigError, tf, type Tensor2D } from '@moderoute/core';
import type { LanguageModel } from './LanguageModel.js';

/**
 * Token windows of one length L = T + 1 with 2 <= L <= contextLength + 1: the inputs are a
 * window's first T tokens, the targets its last T. (Agreement uses the inputs only.)
 */
export type TokenWindows = readonly ArrayLike<number>[];

/** Options of a validation pass over token windows. */
export interface EvaluationOptions {
  /** Windows per forward pass (default 8). */
  readonly batchSize?: number;
}

/** The windows' input length T, after checking they are a non-empty list of one length in [2, contextLength + 1]. */
export function checkWindows(model: LanguageModel, windows: TokenWindows): number {
  if (!isList(windows) || windows.length === 0)
    throw new ConfigError('windows', windows, 'a non-empty list of token windows');
  const length = windows[0]!.length;
  const max = model.config.contextLength + 1;
  if (!Number.isInteger(length) || length < 2 || length > max)
    throw new ConfigError('windows[0].length', length, `in [2, contextLength + 1 (${max})]`);
  windows.forEach((w, i) => {
    if (w.length !== length)
      throw new ConfigError(
        `windows[${i}].length`,
        w.length,
        `${length}, the length of windows[0]`,
      );
  });
  return length - 1;
}

/** Whether `value` is an array (without narrowing a readonly list to `any[]`, as Array.isArray does). */
function isList(value: unknown): boolean {
  return Array.isArray(value);
}

/** Batches of [inputs, targets] int32[B, T], disposed by the caller's tidy. */
export function* batches(
  windows: TokenWindows,
  t: number,
  batchSize: number,
): Generator<{ inputs: Tensor2D; targets: Tensor2D; size: number }> {
  for (let start = 0; start < windows.length; start += batchSize) {
    const chunk = windows.slice(start, start + batchSize);
    const b = chunk.length;
    const inputs = new Int32Array(b * t);
    const targets = new Int32Array(b * t);
    chunk.forEach((w, row) => {
      for (let j = 0; j < t; j++) {
        inputs[row * t + j] = w[j] as number;
        targets[row * t + j] = w[j + 1] as number;
      }
    });
    yield {
      inputs: tf.tensor2d(inputs, [b, t], 'int32'),
      targets: tf.tensor2d(targets, [b, t], 'int32'),
      size: b,
    };
  }
}
