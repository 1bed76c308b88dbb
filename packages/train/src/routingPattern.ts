// Which tokens a model's routed blocks processed for a text, for display (the paper's
// routing-pattern figure, Raposo et al. 2024, figure 5). Browser-safe: `moderoute sample` and the
// playground page (examples/06-playground) both use it.
import { ConfigError, tf, type Tensor2D } from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import { encodeBytes } from './data/bytes.js';

/** Which tokens each routed block processed for a text, for display. */
export interface RoutingPattern {
  /** One display string per byte token ("·" for bytes inside a multi-byte character). */
  readonly tokens: readonly string[];
  /** The routed blocks, as "block <i> (<kind>)". */
  readonly blocks: readonly string[];
  /** processed[block][t]: 1 if the block's attention/MLP processed token t, else 0. */
  readonly processed: readonly (readonly number[])[];
  /** weight[block][t]: the MoD router's combine weight g(r_t) where selected, else 0. */
  readonly weights: readonly (readonly number[])[];
}

/** Display strings of byte tokens: printable ASCII as is, whitespace made visible. */
export function displayTokens(bytes: Uint8Array): string[] {
  return Array.from(bytes, (b) => {
    if (b === 0x20) return '␣';
    if (b === 0x0a) return '⏎';
    if (b >= 0x21 && b < 0x7f) return String.fromCharCode(b);
    return '·';
  });
}

/**
 * Which tokens of `text` each routed block processed, under a decision rule ('top-k' as in
 * training, or a causal rule). Text longer than the context is cut to its first contextLength bytes.
 */
export function routingPattern(
  model: LanguageModel,
  text: string,
  mode: 'top-k' | 'threshold' | 'predictor' = 'top-k',
): RoutingPattern {
  const bytes = encodeBytes(text).slice(0, model.config.contextLength);
  if (bytes.length === 0) throw new ConfigError('text', text, 'at least one character');
  return tf.tidy(() => {
    const ids = tf.tensor2d(Array.from(bytes), [1, bytes.length], 'int32') as Tensor2D;
    const out = model.forward(ids, { mode });
    const blocks: string[] = [];
    const processed: number[][] = [];
    const weights: number[][] = [];
    out.routing.forEach((plans, i) => {
      const plan = plans['mod'] ?? plans['experts'];
      if (plan === undefined) return;
      const row = new Array<number>(bytes.length).fill(0);
      const w = new Array<number>(bytes.length).fill(0);
      const tokens = plan.tokenIndex.dataSync();
      const cw = plan.combineWeights.dataSync();
      tokens.forEach((tok, n) => {
        row[tok] = 1;
        w[tok] = (w[tok] ?? 0) + (cw[n] ?? 0);
      });
      blocks.push(`block ${i} (${model.config.blocks[i]!.kind})`);
      processed.push(row);
      weights.push(w);
    });
    return { tokens: displayTokens(bytes), blocks, processed, weights };
  });
}
