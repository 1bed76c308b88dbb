// What example 5 measures: decode timings, per-block decode statistics, and the result of a
// whole run (causalSampling.ts).
import type { BlockDecodeStats, CausalEvaluation, GenerateResult } from '@moderoute/model';
import type { TrainResult } from '@moderoute/train';
import type { Size } from './causalSampling.js';

/** One model's timed decoding. */
export interface DecodeTiming {
  readonly tokens: number;
  /** Wall time of each timed run (prompt prefill and every decode step), in ms. */
  readonly runsMs: readonly number[];
  /** Generated tokens per second at the median run. */
  readonly tokensPerSecond: number;
}

/** Per block, what decoding one sequence did (from the GenerateResult's statistics). */
export interface BlockDecodeSummary extends BlockDecodeStats {
  readonly block: number;
  /** computed / seen: the fraction of the tokens the block's attention and MLP processed. */
  readonly processedFraction: number;
}

export interface Measurement {
  /** Predictor (and threshold) agreement with top-k per MoD block, bits per byte per rule. */
  readonly evaluation: CausalEvaluation;
  /** The sampled continuation (temperature 0.8, top-k 40, seeded). */
  readonly sample: GenerateResult;
  readonly dense: DecodeTiming;
  /** The MoD model decoding with its predictor. */
  readonly mod: DecodeTiming;
  /** The MoD model decoding with the threshold rule (r > 0) instead. */
  readonly modThreshold: DecodeTiming;
  /** mod tokens/s over dense tokens/s. */
  readonly speedup: number;
  /** modThreshold tokens/s over dense tokens/s. */
  readonly thresholdSpeedup: number;
  /** The MoD model's blocks during a timed (greedy) run with the predictor. */
  readonly modBlocks: readonly BlockDecodeSummary[];
  /** The same with the threshold rule. */
  readonly modThresholdBlocks: readonly BlockDecodeSummary[];
  /** The dense model's blocks during a timed run. */
  readonly denseBlocks: readonly BlockDecodeSummary[];
}

export interface CausalSamplingResult extends Measurement {
  readonly size: Size;
  readonly training: { readonly mod: TrainResult; readonly dense: TrainResult };
}

export interface MeasureOptions {
  readonly size: Size;
  /** Validation split (bytes) the evaluation windows come from. */
  readonly validation: Uint8Array;
  readonly seed?: number;
  /** Called with each streamed sample token's text (e.g. to print it as it comes). */
  readonly onSampleText?: (text: string) => void;
}
