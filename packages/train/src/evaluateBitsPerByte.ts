// Validation bits per byte during training (the model's window evaluator on the validation
// split's evenly spaced windows), and the windows the causal cuts are calibrated on.
import {
  bitsPerByte as windowBitsPerByte,
  hasCalibratableRouting,
  type LanguageModel,
} from '@moderoute/model';
import { validationWindows } from './data/batches.js';

/**
 * Validation bits per byte of `model` over evenly spaced windows of `tokens` (the model's
 * window evaluator, on the split's validation windows).
 */
export function evaluateBitsPerByte(
  model: LanguageModel,
  tokens: Uint8Array,
  options: {
    batchSize: number;
    seqLen: number;
    maxWindows: number;
    mode?: 'top-k' | 'threshold' | 'predictor';
  },
): number {
  const windows = validationWindows(tokens, {
    batchSize: options.batchSize,
    seqLen: options.seqLen,
    maxWindows: options.maxWindows,
  });
  return windowBitsPerByte(model, windows, {
    batchSize: options.batchSize,
    ...(options.mode ? { mode: options.mode } : {}),
  });
}

/**
 * Training windows (evenly spaced over the training split) over which the Mixture-of-Depths
 * routers' causal cuts are calibrated before each checkpoint: 32 windows of T tokens, whose
 * pooled router logits give the exact top-k quantile (k / T of 32 T tokens).
 */
export const CALIBRATION_WINDOWS = 32;

/** The calibration windows of a run (none for a model without calibratable routing). */
export function calibrationWindows(
  model: LanguageModel,
  train: Uint8Array,
  options: { readonly batchSize: number; readonly seqLen: number },
): ReturnType<typeof validationWindows> {
  if (!hasCalibratableRouting(model)) return [];
  const { batchSize, seqLen } = options;
  return validationWindows(train, { batchSize, seqLen, maxWindows: CALIBRATION_WINDOWS });
}
