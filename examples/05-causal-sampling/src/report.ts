// Example 5's results as text: training, causal agreement per MoD block, the loss under each
// rule, the sample, and decode speed.
import type {
  BlockDecodeSummary,
  CausalSamplingResult,
  DecodeTiming,
  Measurement,
} from './results.js';

const pct = (f: number): string => `${(100 * f).toFixed(1)}%`;
const relative = (f: number | undefined): string =>
  f === undefined ? '-' : `${f >= 0 ? '+' : ''}${(100 * f).toFixed(2)}% of top-k`;

/** The results as text: training, causal agreement per MoD block, loss per rule, decode speed. */
export function formatReport(
  r: Measurement & Partial<Pick<CausalSamplingResult, 'training'>>,
): string {
  const lines: string[] = [];
  if (r.training) {
    lines.push('training (same steps, data and schedule):');
    for (const v of ['mod', 'dense'] as const) {
      const t = r.training[v];
      lines.push(
        `  ${v.padEnd(5)}  ${t.step} steps  ${(t.trainingFlops / 1e9).toFixed(2)} GFLOPs ` +
          ` ${t.parameters} params  val ${t.finalValidationBitsPerByte?.toFixed(3)} ` +
          `bits/byte (top-k)  ${t.wallSeconds.toFixed(1)} s`,
      );
    }
    lines.push('');
  }
  const e = r.evaluation;
  lines.push(
    `causal decisions against top-k (${e.windows} validation windows of ${e.tokensPerWindow} tokens):`,
  );
  lines.push('  block  top-k selects  rule       selects  accuracy  precision  recall');
  for (const b of e.agreement) {
    for (const rule of ['predictor', 'threshold'] as const) {
      const a = b[rule];
      if (a === undefined) continue;
      lines.push(
        `  ${String(b.block).padStart(5)}  ${pct(b.topKFraction).padStart(13)}  ` +
          `${rule.padEnd(9)}  ${pct(a.selectedFraction).padStart(7)}  ` +
          `${pct(a.accuracy).padStart(8)}  ${pct(a.precision).padStart(9)}  ` +
          `${pct(a.recall).padStart(6)}`,
      );
    }
  }
  const bits = e.bitsPerByte;
  lines.push(
    `validation bits/byte: top-k ${bits['top-k']?.toFixed(4)}, predictor ` +
      `${bits.predictor?.toFixed(4)} (${relative(e.relativeLossIncrease.predictor)}), ` +
      `threshold ${bits.threshold?.toFixed(4)} ` +
      `(${relative(e.relativeLossIncrease.threshold)})`,
    '',
  );
  lines.push(
    `sample (temperature 0.8, top-k 40, seed 1): ` +
      `${JSON.stringify(new TextDecoder().decode(Uint8Array.from(r.sample.promptTokens)) + r.sample.text)}`,
    '',
  );
  const runs = (t: DecodeTiming) => t.runsMs.map((ms) => ms.toFixed(0)).join(' ');
  const fractions = (blocks: readonly BlockDecodeSummary[]) =>
    blocks
      .filter((b) => b.kind !== 'dense')
      .map((b) => `block ${b.block} ${b.computed}/${b.seen} = ${pct(b.processedFraction)}`)
      .join(', ');
  lines.push(
    `greedy decoding, ${r.mod.tokens} tokens after the same prompt, ` +
      `${r.mod.runsMs.length} interleaved runs each (median):`,
  );
  lines.push(
    `  dense            ${r.dense.tokensPerSecond.toFixed(0).padStart(6)} tokens/s  1.00x  (runs ms: ${runs(r.dense)})`,
  );
  lines.push(
    `  mod, predictor   ${r.mod.tokensPerSecond.toFixed(0).padStart(6)} tokens/s  ` +
      `${r.speedup.toFixed(2)}x  (runs ms: ${runs(r.mod)})`,
  );
  lines.push(
    `  mod, threshold   ${r.modThreshold.tokensPerSecond.toFixed(0).padStart(6)} ` +
      `tokens/s  ${r.thresholdSpeedup.toFixed(2)}x  (runs ms: ${runs(r.modThreshold)})`,
  );
  lines.push(`speed-up of the MoD model decoding with its predictor: ${r.speedup.toFixed(2)}x`);
  lines.push(
    `tokens each MoD block processed while decoding (prompt included): predictor ` +
      `${fractions(r.modBlocks)}; threshold ${fractions(r.modThresholdBlocks)}`,
  );
  return lines.join('\n');
}
