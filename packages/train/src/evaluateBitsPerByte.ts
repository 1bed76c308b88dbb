// Validation bits per byte during training (the model's window evaluator on the validation
// split's evenly spaced windows), the causal rules' agreement with top-k at the same evaluation,
// and the windows the causal cuts are calibrated on.
import {
  bitsPerByte as windowBitsPerByte,
  calibrateCausalRouting,
  evaluateCausalRouting,
  hasCalibratableRouting,
  type BlockAgreement,
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

/**
 * The periodic evaluation of a training run: validation bits per byte (top-k, as training
 * decides) and, for a model with calibratable MoD routers, each routed block's causal rules
 * against top-k on the same validation windows, in the same pass. The rules are scored with cuts
 * calibrated first on `calibration` (training windows) with the current weights, as the next
 * checkpoint would decide: the running cuts the training steps' own plans decide with lag r as it
 * drifts (docs/sampling.md), so those per-step scores understate the rules. Calibrating changes
 * no loss or gradient; the running estimate continues from the calibrated cut.
 */
export function evaluateDuringTraining(
  model: LanguageModel,
  validation: Uint8Array,
  calibration: ReturnType<typeof validationWindows>,
  options: { batchSize: number; seqLen: number; maxWindows: number },
): { bitsPerByte: number; causal?: readonly BlockAgreement[] } {
  const { batchSize, seqLen, maxWindows } = options;
  if (calibration.length === 0)
    return { bitsPerByte: evaluateBitsPerByte(model, validation, options) };
  calibrateCausalRouting(model, calibration, { batchSize });
  const windows = validationWindows(validation, { batchSize, seqLen, maxWindows });
  const evaluation = evaluateCausalRouting(model, windows, { batchSize, modes: ['top-k'] });
  return { bitsPerByte: evaluation.bitsPerByte['top-k'] as number, causal: evaluation.agreement };
}
