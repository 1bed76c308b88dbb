// Training and validation windows over a byte-token buffer.
//
// Axis legend: B batch, T tokens per sequence (seqLen), N tokens in the buffer.
//
// Training: the batch of step s is B windows of T + 1 consecutive tokens whose starts are drawn
// uniformly from [0, N - T - 1] by a mulberry32 stream seeded with deriveSeed(seed, s). It is a
// pure function of (tokens, seed, s, B, T): a run resumed at step s sees exactly the batches an
// uninterrupted run sees, and the data position to save is just the next step (plus the
// settings and the corpus fingerprint, checked on resume).
//
// Validation: windows start at 0, T, 2T, ... (stride T, length T + 1), so each token after the
// first is predicted exactly once; at most maxWindows of them, evenly spaced, in a fixed order.
import { ConfigError, requireInt, tf, type Tensor2D } from '@moderoute/core';
import { DataError } from '../errors.js';
import { Rng, deriveSeed } from './rng.js';

/** Windows of T + 1 token ids: row b is tokens[b*(T+1) .. (b+1)*(T+1)). */
export interface TokenBatch {
  /** B */
  readonly batchSize: number;
  /** T */
  readonly seqLen: number;
  /** int32[B, T+1], row-major. */
  readonly tokens: Int32Array;
  /** Where each window starts in the buffer (int, [B]). */
  readonly starts: readonly number[];
}

/** The tensors a training step consumes. */
export interface BatchTensors {
  /** int32[B, T]: tokens 0..T-1 of each window. */
  readonly inputs: Tensor2D;
  /** int32[B, T]: tokens 1..T of each window (the next-token targets). */
  readonly targets: Tensor2D;
}

/** Everything needed to continue the training data stream exactly; JSON-serialisable. */
export interface DataPosition {
  readonly seed: number;
  /** The step whose batch comes next. */
  readonly step: number;
  readonly batchSize: number;
  readonly seqLen: number;
  /** Corpus.fingerprint of the data the run trains on. */
  readonly fingerprint: string;
}

/** How training windows are drawn: batch size, window length and the seed of their order. */
export interface TrainWindowsConfig {
  /** B, windows per batch. */
  readonly batchSize: number;
  /** T, input tokens per window (each window holds T + 1 tokens). */
  readonly seqLen: number;
  /** Data-order seed (any integer; used as uint32). */
  readonly seed: number;
  /** Corpus.fingerprint, recorded in data positions (default "unknown"). */
  readonly fingerprint?: string;
}

function windowBatch(tokens: Uint8Array, starts: readonly number[], seqLen: number): TokenBatch {
  const width = seqLen + 1;
  const out = new Int32Array(starts.length * width);
  starts.forEach((start, b) => {
    const window = tokens.subarray(start, start + width);
    for (let t = 0; t < width; t++) out[b * width + t] = window[t] as number;
  });
  return { batchSize: starts.length, seqLen, tokens: out, starts };
}

/** Splits a [B, T+1] batch into int32 inputs [B, T] and targets [B, T]. */
export function batchTensors(batch: TokenBatch): BatchTensors {
  return tf.tidy(() => {
    const { batchSize: b, seqLen: t } = batch;
    // Shape: [B*(T+1)] -> [B, T+1]
    const all = tf.tensor2d(batch.tokens, [b, t + 1], 'int32');
    return {
      inputs: tf.slice(all, [0, 0], [b, t]),
      targets: tf.slice(all, [0, 1], [b, t]),
    };
  });
}

/** Seeded random training windows; the batch of a step depends only on (seed, step). */
export class TrainWindows {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly seed: number;
  readonly fingerprint: string;

  constructor(
    readonly tokens: Uint8Array,
    config: TrainWindowsConfig,
  ) {
    this.batchSize = requireInt('batchSize', config.batchSize, { min: 1 });
    this.seqLen = requireInt('seqLen', config.seqLen, { min: 1 });
    this.seed = requireInt('seed', config.seed);
    this.fingerprint = config.fingerprint ?? 'unknown';
    if (tokens.length < this.seqLen + 1) {
      throw new DataError(
        'training split',
        'too-short',
        `has ${tokens.length} tokens, fewer than one window of seqLen + 1 = ${this.seqLen + 1}`,
      );
    }
  }

  /** Continues the stream saved in `position` over `tokens`; settings and data must match. */
  static resume(tokens: Uint8Array, position: DataPosition, fingerprint: string): TrainWindows {
    if (position.fingerprint !== fingerprint) {
      throw new ConfigError(
        'dataPosition.fingerprint',
        position.fingerprint,
        `the fingerprint of the data being loaded (${fingerprint}); the run was trained on other data`,
      );
    }
    return new TrainWindows(tokens, position);
  }

  /** Window starts of `step` (int, [B]). */
  starts(step: number): number[] {
    requireInt('step', step, { min: 0, max: 0xffffffff });
    const rng = new Rng(deriveSeed(this.seed, step));
    const span = this.tokens.length - this.seqLen; // starts in [0, N - T - 1]
    return Array.from({ length: this.batchSize }, () => rng.nextBelow(span));
  }

  /** The batch of `step` as int32[B, T+1]. */
  batch(step: number): TokenBatch {
    return windowBatch(this.tokens, this.starts(step), this.seqLen);
  }

  /** The batch of `step` as input and target tensors (the caller disposes them). */
  tensors(step: number): BatchTensors {
    return batchTensors(this.batch(step));
  }

  /** The position to save when `nextStep` is the next step to run. */
  position(nextStep: number): DataPosition {
    requireInt('nextStep', nextStep, { min: 0 });
    return {
      seed: this.seed,
      step: nextStep,
      batchSize: this.batchSize,
      seqLen: this.seqLen,
      fingerprint: this.fingerprint,
    };
  }
}

/** How validation windows are cut: batch size, window length, at most how many. */
export interface ValidationOptions {
  /** B, windows per batch (the last batch may be smaller). */
  readonly batchSize: number;
  /** T, input tokens per window. */
  readonly seqLen: number;
  /** Evaluate at most this many windows, evenly spaced over the split (default: all). */
  readonly maxWindows?: number;
}

/** Number of stride-T windows of T + 1 tokens in a buffer of N tokens: floor((N - 1) / T). */
export function validationWindowCount(length: number, seqLen: number): number {
  return length < seqLen + 1 ? 0 : Math.floor((length - 1) / seqLen);
}

/** Starts of the validation windows that `validationBatches` visits, in order. */
export function validationStarts(length: number, options: ValidationOptions): number[] {
  const seqLen = requireInt('seqLen', options.seqLen, { min: 1 });
  const total = validationWindowCount(length, seqLen);
  const limit =
    options.maxWindows === undefined
      ? total
      : Math.min(total, requireInt('maxWindows', options.maxWindows, { min: 1 }));
  // Window i of `limit` is window floor(i * total / limit) of all: evenly spread, no repeats.
  return Array.from({ length: limit }, (_, i) => Math.floor((i * total) / limit) * seqLen);
}

/**
 * The validation windows of T + 1 tokens (views into `tokens`), evenly spaced as
 * validationStarts gives them; a split too short for one window is a DataError.
 */
export function validationWindows(tokens: Uint8Array, options: ValidationOptions): Uint8Array[] {
  const starts = validationStarts(tokens.length, options);
  if (starts.length === 0) {
    throw new DataError(
      'validation split',
      'too-short',
      `has ${tokens.length} tokens, fewer than one window of seqLen + 1 = ${options.seqLen + 1}`,
    );
  }
  return starts.map((start) => tokens.subarray(start, start + options.seqLen + 1));
}

/** Deterministic sequential validation batches (plain arrays; see batchTensors). */
export function* validationBatches(
  tokens: Uint8Array,
  options: ValidationOptions,
): Generator<TokenBatch> {
  const batchSize = requireInt('batchSize', options.batchSize, { min: 1 });
  const starts = validationStarts(tokens.length, options);
  if (starts.length === 0) {
    throw new DataError(
      'validation split',
      'too-short',
      `has ${tokens.length} tokens, fewer than one window of seqLen + 1 = ${options.seqLen + 1}`,
    );
  }
  for (let i = 0; i < starts.length; i += batchSize)
    yield windowBatch(tokens, starts.slice(i, i + batchSize), options.seqLen);
}
