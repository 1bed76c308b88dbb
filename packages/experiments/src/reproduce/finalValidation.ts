// The final validation loss of a sweep run with its standard error: the model rebuilt from the
// run's final checkpoint, evaluated (top-k routing, as in training) on `windows` evenly spaced
// validation windows in batches of B; the loss is the mean of the batches' bits per byte and the
// standard error that of the batch means (sample standard deviation / sqrt(batches)).
import { tf } from '@moderoute/core';
import { bitsPerByte, type ModelFactory } from '@moderoute/model';
import { restoreModel, validationWindows } from '@moderoute/train';

/** A run's final validation loss and its uncertainty over the validation windows. */
export interface FinalValidation {
  /** Validation windows evaluated (fewer than asked when the split is short). */
  readonly windows: number;
  /** Batches of B windows: the samples of the standard error. */
  readonly batches: number;
  /** Mean bits per byte over the batches. */
  readonly bitsPerByte: number;
  /** Standard error of that mean (0 with one batch). */
  readonly standardError: number;
}

/** Mean and standard error of a sample (sample standard deviation / sqrt(n)). */
export function meanAndStandardError(values: readonly number[]): { mean: number; se: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, se: 0 };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(variance / n) };
}

/** Evaluates a finished run's final checkpoint (see the file header). */
export function finalValidation(
  runDir: string,
  options: {
    readonly validation: Uint8Array;
    readonly batchSize: number;
    readonly seqLen: number;
    readonly windows: number;
    readonly factory: ModelFactory;
  },
): FinalValidation {
  const { batchSize, seqLen } = options;
  const windows = validationWindows(options.validation, {
    batchSize,
    seqLen,
    maxWindows: options.windows,
  });
  const { model } = restoreModel(runDir, options.factory);
  try {
    const perBatch: number[] = [];
    // Only whole batches: every sample of the standard error has the same number of tokens.
    const whole = Math.max(1, Math.floor(windows.length / batchSize)) * batchSize;
    for (let i = 0; i < Math.min(whole, windows.length); i += batchSize) {
      const batch = windows.slice(i, i + batchSize);
      perBatch.push(tf.tidy(() => bitsPerByte(model, batch, { batchSize })));
    }
    const { mean, se } = meanAndStandardError(perBatch);
    return {
      windows: Math.min(whole, windows.length),
      batches: perBatch.length,
      bitsPerByte: mean,
      standardError: se,
    };
  } finally {
    model.dispose();
  }
}
