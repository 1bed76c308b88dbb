// Sampling with the KV cache and causal routing (the library's Decoder: every MoD router decides
// with its default causal rule, token by token, as `moderoute sample` does), recording for each
// generated token how many blocks computed it (the growth of the blocks' decode counters).
import {
  Decoder,
  resolveSamplingOptions,
  sampleToken,
  seededRandom,
  type LanguageModel,
} from '@moderoute/model';
import { ConfigError } from '@moderoute/core';
import type { GeneratedPiece } from './protocol.js';

/** Blocks that have computed tokens so far (dense and MoD: the MLP; MoE and MoDE: an expert). */
const computedSum = (decoder: Decoder) => decoder.stats().reduce((sum, b) => sum + b.computed, 0);

/** Up to `maxTokens` tokens sampled after `prompt`, each with how many blocks it went through. */
export function generatePieces(
  model: LanguageModel,
  options: { prompt: string; maxTokens: number; seed: number; temperature: number },
): { pieces: GeneratedPiece[] } {
  const prompt = Array.from(new TextEncoder().encode(options.prompt));
  // Each sampled token is fed back too, to see which blocks compute it.
  const room = model.config.contextLength - prompt.length;
  if (prompt.length === 0)
    throw new ConfigError('prompt', options.prompt, 'at least one character');
  if (options.maxTokens > room)
    throw new ConfigError(
      'tokens to generate',
      options.maxTokens,
      `at most ${room}: the prompt (${prompt.length} bytes) and the generated tokens must fit in ` +
        `the context (${model.config.contextLength})`,
    );
  const sampling = resolveSamplingOptions({ temperature: options.temperature });
  const random = seededRandom(options.seed);
  const textDecoder = new TextDecoder('utf-8');
  const decoder = new Decoder(model);
  const pieces: GeneratedPiece[] = [];
  try {
    let logits = decoder.feedLast(prompt);
    for (let i = 0; i < options.maxTokens; i++) {
      const token = sampleToken(logits, sampling, random);
      const before = computedSum(decoder);
      logits = decoder.feedLast([token]);
      const blocks = computedSum(decoder) - before;
      pieces.push({ text: textDecoder.decode(Uint8Array.of(token), { stream: true }), blocks });
    }
  } finally {
    decoder.dispose();
  }
  return { pieces };
}
