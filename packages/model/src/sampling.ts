// Seeded next-token sampling on the host: temperature, then top-k, then nucleus (top-p)
// filtering (Holtzman et al. 2019), then one draw from a seeded generator. Temperature 0 is
// greedy (argmax, ties to the lower id). Deterministic given the logits and the generator state.
// Axis legend: V vocabulary.
import { ConfigError, requireInt, requireNumber } from '@moderoute/core';

/** How the next token is drawn from the logits: temperature, top-k, top-p. */
export interface SamplingOptions {
  /** Softmax temperature, >= 0; 0 is greedy (default 1). */
  readonly temperature?: number;
  /** Keep the k most likely tokens; 0 keeps all (default 0). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p, in (0, 1] (default 1: all). */
  readonly topP?: number;
}

/** `SamplingOptions` checked, with every default filled. */
export type ResolvedSamplingOptions = Required<SamplingOptions>;

/** Checks sampling options and fills their defaults. */
export function resolveSamplingOptions(options: SamplingOptions = {}): ResolvedSamplingOptions {
  return {
    temperature: requireNumber('temperature', options.temperature ?? 1, { min: 0 }),
    topK: requireInt('topK', options.topK ?? 0, { min: 0 }),
    topP: requireNumber('topP', options.topP ?? 1, { min: 0, minInclusive: false, max: 1 }),
  };
}

/** A seeded uniform generator on [0, 1) (mulberry32): the same seed gives the same draws. */
export function seededRandom(seed: number): () => number {
  let state = requireInt('seed', seed, { min: 0, max: 2 ** 32 - 1 }) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest logit (ties to the lower index). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++)
    if ((logits[i] as number) > (logits[best] as number)) best = i;
  return best;
}

/**
 * The sampling distribution over token ids after temperature, top-k and top-p, as ids with their
 * probabilities, most likely first (ties by lower id). Temperature 0 gives the argmax alone.
 */
export function samplingDistribution(
  logits: ArrayLike<number>,
  options: SamplingOptions = {},
): { ids: number[]; probs: number[] } {
  const { temperature, topK, topP } = resolveSamplingOptions(options);
  if (logits.length === 0) throw new ConfigError('logits', '[]', 'at least one logit');
  if (temperature === 0) return { ids: [argmax(logits)], probs: [1] };
  const order = Array.from({ length: logits.length }, (_, i) => i).sort(
    (a, b) => (logits[b] as number) - (logits[a] as number) || a - b,
  );
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const top = (logits[kept[0] as number] as number) / temperature;
  let weights = kept.map((i) => Math.exp((logits[i] as number) / temperature - top));
  let total = weights.reduce((a, w) => a + w, 0);
  let ids = kept;
  if (topP < 1) {
    let cumulative = 0;
    let cut = 0;
    while (cut < weights.length && cumulative < topP * total)
      cumulative += weights[cut++] as number;
    ids = kept.slice(0, Math.max(1, cut));
    weights = weights.slice(0, ids.length);
    total = weights.reduce((a, w) => a + w, 0);
  }
  return { ids, probs: weights.map((w) => w / total) };
}

/** Draws a token id from `logits` float32[V] with the options, using `random` for the draw. */
export function sampleToken(
  logits: ArrayLike<number>,
  options: SamplingOptions,
  random: () => number,
): number {
  const { ids, probs } = samplingDistribution(logits, options);
  if (ids.length === 1) return ids[0] as number;
  const u = random();
  let cumulative = 0;
  for (let i = 0; i < ids.length; i++) {
    cumulative += probs[i] as number;
    if (u < cumulative) return ids[i] as number;
  }
  return ids[ids.length - 1] as number;
}
