// Text generation with a key/value cache and causal routing decisions (Raposo et al. 2024,
// section 3.5): the prompt is fed in one step, then one sampled token per step. Streams tokens
// as an async generator; `generateText` collects them.
//
// Context policy (the learned position table has contextLength rows):
// - 'refuse' (default): prompt length + maxTokens - 1 tokens must fit in contextLength (the last
//   sampled token is never fed back); otherwise a ShapeError before any work. Every logit is then
//   exactly the full-sequence forward's.
// - 'slide': when the sequence fills the table, the caches are dropped and the last
//   `windowKeep` tokens (default contextLength / 2, rounded down) are re-encoded at positions
//   0.. (one prefill), and decoding goes on. Each logit is then the full forward's over the
//   current window: the model never sees more than contextLength tokens, and never a position
//   it was not trained on. A prompt longer than contextLength keeps its last contextLength tokens.
import { ConfigError, ShapeError, requireInt, requireOneOf } from '@moderoute/core';
import type { LanguageModel } from './LanguageModel.js';
import type { BlockDecodeStats } from '@moderoute/blocks';
import { Decoder, type DecodeOptions } from './Decoder.js';
import {
  resolveSamplingOptions,
  sampleToken,
  seededRandom,
  type SamplingOptions,
} from './sampling.js';

/** What generation does when the context is full: refuse, or slide the window. */
export type ContextPolicy = 'refuse' | 'slide';

/**
 * Options of `generate`: how many tokens, sampling, seed, decoding rule and what to do at the
 * context length.
 */
export interface GenerateOptions extends DecodeOptions, SamplingOptions {
  /** Tokens to generate, >= 0 (required). */
  readonly maxTokens: number;
  /** Seed of the sampling generator (default 0): same model, prompt, options and seed, same tokens. */
  readonly seed?: number;
  /** Token ids that end generation (the stop token is yielded, then generation stops). */
  readonly stopTokens?: readonly number[];
  /** What happens when the sequence outgrows contextLength (default 'refuse'). */
  readonly contextPolicy?: ContextPolicy;
  /** 'slide': tokens kept and re-encoded when the window moves, in [1, contextLength) (default contextLength / 2). */
  readonly windowKeep?: number;
}

/** One streamed token. */
export interface GeneratedToken {
  readonly token: number;
  /** 0 for the first generated token. */
  readonly index: number;
  /**
   * Text completed by this token, for byte-level vocabularies (V <= 256): UTF-8 decoded in stream,
   * so a byte in the middle of a multi-byte character gives '' and the character comes with its
   * last byte. Always '' for larger vocabularies.
   */
  readonly text: string;
}

/**
 * What `generate` returns: the prompt and generated tokens, the text, why it stopped, and each
 * block's decoding statistics.
 */
export interface GenerateResult {
  readonly promptTokens: readonly number[];
  readonly tokens: readonly number[];
  /** The generated text (byte-level vocabularies), including any final incomplete character as U+FFFD. */
  readonly text: string;
  readonly stopReason: 'maxTokens' | 'stopToken';
  /** Times the window slid ('slide' policy). */
  readonly windowSlides: number;
  /** Per block: tokens seen, attended (cached) and computed, over the whole call (prompt included). */
  readonly blocks: readonly BlockDecodeStats[];
}

/** A prompt as token ids: a string is encoded as UTF-8 bytes (needs vocabSize >= 256). */
export function encodePrompt(model: LanguageModel, prompt: string | readonly number[]): number[] {
  const v = model.config.vocabSize;
  const ids =
    typeof prompt === 'string' ? Array.from(new TextEncoder().encode(prompt)) : [...prompt];
  if (typeof prompt === 'string' && v < 256)
    throw new ConfigError(
      'prompt',
      prompt,
      `token ids: a string is encoded as UTF-8 bytes, which needs vocabSize (${v}) >= 256`,
    );
  if (ids.length === 0)
    throw new ConfigError(
      'prompt',
      prompt,
      'non-empty: the first sampled token is conditioned on at least one token',
    );
  for (const id of ids)
    if (!Number.isInteger(id) || id < 0 || id >= v)
      throw new ConfigError('prompt token', id, `an integer in [0, vocabSize (${v}))`);
  return ids;
}

/**
 * Streams up to `maxTokens` sampled tokens after `prompt`. The caches are freed when the
 * generator finishes, throws, or is closed early (`break` in `for await`). Returns the summary
 * as the generator's return value.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- async by contract (a stream); decoding is synchronous
export async function* generate(
  model: LanguageModel,
  prompt: string | readonly number[],
  options: GenerateOptions,
): AsyncGenerator<GeneratedToken, GenerateResult, undefined> {
  const maxTokens = requireInt('maxTokens', options?.maxTokens, { min: 0 });
  const sampling = resolveSamplingOptions(options);
  const random = seededRandom(options.seed ?? 0);
  const policy = requireOneOf('contextPolicy', options.contextPolicy ?? 'refuse', [
    'refuse',
    'slide',
  ] as const);
  const contextLength = model.config.contextLength;
  const keep = requireInt(
    'windowKeep',
    options.windowKeep ?? Math.max(1, Math.floor(contextLength / 2)),
    { min: 1, max: Math.max(1, contextLength - 1) },
  );
  const stops = new Set(options.stopTokens ?? []);
  let ids = encodePrompt(model, prompt);
  const promptTokens = [...ids];
  if (policy === 'refuse' && ids.length + Math.max(0, maxTokens - 1) > contextLength) {
    throw new ShapeError(
      'prompt length + maxTokens - 1',
      String(ids.length + maxTokens - 1),
      `<= contextLength (${contextLength}), the size of the position table ` +
        `(prompt ${ids.length} tokens, maxTokens ${maxTokens}); ` +
        `shorten them or pass contextPolicy: 'slide'`,
    );
  }
  if (ids.length > contextLength) ids = ids.slice(ids.length - contextLength);
  const bytes = model.config.vocabSize <= 256;
  const textDecoder = new TextDecoder('utf-8');
  const tokens: number[] = [];
  let text = '';
  let windowSlides = 0;
  let stopReason: GenerateResult['stopReason'] = 'maxTokens';
  const decoder = new Decoder(model, options);
  try {
    if (maxTokens > 0) {
      let logits = decoder.feedLast(ids);
      for (let index = 0; index < maxTokens; index++) {
        const token = sampleToken(logits, sampling, random);
        tokens.push(token);
        const piece = bytes ? textDecoder.decode(Uint8Array.of(token), { stream: true }) : '';
        text += piece;
        yield { token, index, text: piece };
        if (stops.has(token)) {
          stopReason = 'stopToken';
          break;
        }
        if (index === maxTokens - 1) break;
        if (decoder.length >= contextLength) {
          // 'slide' (the 'refuse' check above makes this unreachable otherwise).
          const window = [...decoder.sequence.slice(decoder.length - (keep - 1)), token];
          decoder.reset();
          windowSlides++;
          logits = decoder.feedLast(window);
        } else {
          logits = decoder.feedLast([token]);
        }
      }
    }
    if (bytes) text += textDecoder.decode();
    return { promptTokens, tokens, text, stopReason, windowSlides, blocks: decoder.stats() };
  } finally {
    decoder.dispose();
  }
}

/** Runs `generate` to the end and returns its summary. */
export async function generateText(
  model: LanguageModel,
  prompt: string | readonly number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const stream = generate(model, prompt, options);
  for (;;) {
    const next = await stream.next();
    if (next.done) return next.value;
  }
}
