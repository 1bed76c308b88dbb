// Incremental decoding of one sequence with a key/value cache per block (batch 1): feed tokens,
// get their next-token logits, equal (within float rounding) to those of one full-sequence
// forward pass that uses the same causal routing decisions (Raposo et al. 2024, section 3.5).
// Axis legend: n new tokens, D width, V vocabulary.
import {
  ConfigError,
  ShapeError,
  requireInt,
  requireOneOf,
  tf,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import type { BlockDecodeStats, BlockDecoder } from '@moderoute/blocks';
import { CAUSAL_RULES, type CausalMode } from '@moderoute/routing';
import type { LanguageModel } from './LanguageModel.js';

/**
 * How token-choice capacity applies while decoding: 'router' (the block's capacity for the stage,
 * evaluated for a sequence of `capacityLength` tokens, with running per-expert loads, so a token
 * is dropped exactly when the forward pass under the same causal rule drops it), or 'dropless'
 * (every token keeps its top-K experts).
 */
export type ExpertCapacityMode = 'router' | 'dropless';

/**
 * How decoding routes: the causal rule of the MoD routers and how token-choice capacity applies.
 */
export interface DecodeOptions {
  /**
   * Decision rule of every Mixture-of-Depths router ('threshold' or 'predictor'). Default (or
   * 'causal'): each router's defaultCausalMode, as the forward pass with mode 'causal'. 'top-k' is
   * refused: over a decoding step it would route every token.
   */
  readonly mode?: CausalMode;
  /** Token-choice capacity while decoding (default 'router'). */
  readonly expertCapacity?: ExpertCapacityMode;
  /** Sequence length at which 'router' capacity is evaluated (default: the model's contextLength). */
  readonly capacityLength?: number;
}

/** `DecodeOptions` checked against a model, with every default filled. */
export interface ResolvedDecodeOptions {
  readonly mode: CausalMode | undefined;
  readonly expertCapacity: ExpertCapacityMode;
  readonly capacityLength: number;
}

/** Checks decode options and fills their defaults for `model`. */
export function resolveDecodeOptions(
  model: LanguageModel,
  options: DecodeOptions = {},
): ResolvedDecodeOptions {
  if (options.mode !== undefined && !CAUSAL_RULES.includes(options.mode)) {
    throw new ConfigError(
      'mode',
      options.mode,
      "'threshold', 'predictor' or 'causal' when decoding: top-k over a decoding step sees one " +
        'token and would route every token (Raposo et al. 2024, section 3.5)',
    );
  }
  const contextLength = model.config.contextLength;
  return {
    mode: options.mode,
    expertCapacity: requireOneOf('expertCapacity', options.expertCapacity ?? 'router', [
      'router',
      'dropless',
    ] as const),
    capacityLength: requireInt('capacityLength', options.capacityLength ?? contextLength, {
      min: 1,
    }),
  };
}

/**
 * A decoding session over one sequence. Owns the caches: call `dispose()` (or use `generate`,
 * which does). Positions run from 0; the sequence may not outgrow the model's position table
 * (contextLength) — `generate` applies the context policy.
 */
export class Decoder {
  readonly options: ResolvedDecodeOptions;
  private readonly blocks: readonly BlockDecoder[];
  private tokens: number[] = [];
  private disposed = false;

  constructor(
    readonly model: LanguageModel,
    options: DecodeOptions = {},
  ) {
    this.options = resolveDecodeOptions(model, options);
    const { mode, expertCapacity, capacityLength } = this.options;
    const made: BlockDecoder[] = [];
    try {
      model.blocks.forEach((block, i) =>
        made.push(
          block.decoder({
            ...(mode === undefined ? {} : { mode }),
            expertCapacity,
            capacityLength,
            where: `blocks[${i}]`,
          }),
        ),
      );
    } catch (error) {
      for (const b of made) b.dispose();
      throw error;
    }
    this.blocks = made;
  }

  /** Tokens in the current sequence (the position of the next one). */
  get length(): number {
    return this.tokens.length;
  }

  /** The current sequence. */
  get sequence(): readonly number[] {
    return this.tokens;
  }

  /** Per block: tokens its cache holds (those its attention processed). */
  cacheLengths(): number[] {
    return this.blocks.map((b) => b.state.attention.length);
  }

  /** Per block: counters since the decoder was made (they survive `reset`). */
  stats(): BlockDecodeStats[] {
    return this.blocks.map((b) => ({ ...b.state.stats }));
  }

  /**
   * Feeds n >= 1 tokens (a prompt, or one sampled token) at the next positions and returns their
   * logits float32[n, V]; the caller owns the tensor. Throws a ShapeError when the sequence would
   * outgrow contextLength, and leaves the decoder unchanged then; any other failure inside a step
   * resets the decoder (its caches could otherwise disagree).
   */
  feed(ids: readonly number[]): Tensor2D {
    if (this.disposed)
      throw new ConfigError('decoder', 'disposed', 'live: this Decoder has been disposed');
    const { vocabSize: v, contextLength, width: d } = this.model.config;
    const n = ids.length;
    if (n === 0) throw new ShapeError('ids', [0], 'at least one token');
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= v)
        throw new ConfigError('token id', id, `an integer in [0, vocabSize (${v}))`);
    if (this.length + n > contextLength) {
      throw new ShapeError(
        'sequence length',
        String(this.length + n),
        `<= contextLength (${contextLength}), the size of the position table; reset the decoder or slide the window`,
      );
    }
    const start = this.length;
    let logits: Tensor2D;
    try {
      logits = tf.tidy(() => {
        // Shape: [1, n] -> [1, n, D] -> [n, D]
        let h = tf.reshape(
          this.model.embed(tf.tensor2d(Int32Array.from(ids), [1, n], 'int32'), start),
          [n, d],
        ) as Tensor2D;
        for (const block of this.blocks) h = block.step(h);
        // Shape: [n, D] -> [1, n, D] -> [1, n, V] -> [n, V]
        return tf.reshape(this.model.head(tf.reshape(h, [1, n, d]) as Tensor3D), [
          n,
          v,
        ]) as Tensor2D;
      });
    } catch (error) {
      // Some blocks may have cached the new tokens already: start over rather than go on skewed.
      this.reset();
      throw error;
    }
    this.tokens.push(...ids);
    return logits;
  }

  /** Feeds tokens and returns the last one's logits as host numbers float32[V]. */
  feedLast(ids: readonly number[]): Float32Array {
    const logits = this.feed(ids);
    const last = tf.slice(logits, [ids.length - 1, 0], [1, logits.shape[1]]);
    try {
      return last.dataSync() as Float32Array;
    } finally {
      tf.dispose([logits, last]);
    }
  }

  /** Starts a new sequence: empties every cache and starts new causal sessions. */
  reset(): void {
    for (const b of this.blocks) b.reset();
    this.tokens = [];
  }

  /** Frees the caches. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.blocks) b.dispose();
  }
}
