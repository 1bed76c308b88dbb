// `pnpm bench:decode`: decode speed with the KV cache (generate(), batch 1, greedy) for dense,
// MoD and MoDE models at the bench config with a 512-token context, measured side by side in
// one run, with the fraction of tokens each routed block actually processed.
//
//   pnpm bench:decode [--backend wasm] [--reps N] [--json]
//
// Bench config: vocabulary 256, width 128, 4 layers, 4 heads, MLP 4x, contextLength 512. Each
// run feeds a 1-token prompt and decodes 511 tokens, so the context grows from 1 to 512; the
// table gives tokens/s from the median step time over all 511 steps and over the last 128
// (context 384-511). Routed
// variants put their block every other layer (["dense", X]); MoD decides by its causal
// threshold rule, sigmoid(r) > 0.5 (Raposo et al. 2024, section 3.5). Weights are untrained
// (random): an untrained router's r = w . x is symmetric around 0, so the threshold sends about
// half the tokens through a MoD block, not its 12.5% training capacity. The processed fraction
// is reported next to the speed; a trained router's decisions follow top-k (paper: 97-99%).
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { describeBackend, initBackend } from '@moderoute/core';
import { MODEL_IDS, createContainer, generate, type LanguageModelConfig } from '@moderoute/model';

const BENCH = { vocabSize: 256, width: 128, numLayers: 4, numHeads: 4, contextLength: 512, mlpRatio: 4 } as const;
const STEPS = BENCH.contextLength - 1;
const TAIL = 128;
const mod = { name: 'mixture-of-depths', config: { capacity: 0.125, causalMode: 'threshold' } };

export const DECODE_VARIANTS: Record<string, LanguageModelConfig> = {
  dense: { ...BENCH },
  mod: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mod', depthRouter: mod }] } },
  staged_mode: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mode-staged', numExperts: 4, depthRouter: mod, expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { dropless: true } } } }] } },
  integrated_mode: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mode-integrated', numExperts: 4, numNoopExperts: 4, expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { dropless: true } } } }] } },
};

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

interface DecodeResult {
  /** 1000 / median step time over all decode steps. */
  tokensPerSec: number;
  /** Tokens / total time (includes any pre-empted steps). */
  meanTokensPerSec: number;
  /** 1000 / median step time over the last TAIL steps (context 384-511). */
  tailTokensPerSec: number;
  /** Median step time. */
  msPerToken: number;
  /** Per routed block (by index): fraction of tokens its attention processed / that got a real expert or MLP. */
  processed: Record<string, { attended: number; computed: number }>;
}

async function run(config: LanguageModelConfig, steps = STEPS): Promise<DecodeResult> {
  const model = createContainer().get(MODEL_IDS.ModelFactory).create(config);
  try {
    const stamps: number[] = [];
    const stream = generate(model, [65], { maxTokens: steps + 1, temperature: 0 });
    let start = performance.now();
    let first = true;
    for (;;) {
      const next = await stream.next();
      const now = performance.now();
      if (next.done) {
        const processed: DecodeResult['processed'] = {};
        next.value.blocks.forEach((b, i) => {
          if (b.kind !== 'dense') processed[String(i)] = { attended: b.attended / b.seen, computed: b.computed / b.seen };
        });
        // stamps[i] = time of step i (feed one token, sample the next).
        // Medians: robust to the other processes of a shared machine pre-empting a few steps.
        const ms = median(stamps);
        return { tokensPerSec: 1000 / ms, tailTokensPerSec: 1000 / median(stamps.slice(-TAIL)), msPerToken: ms, meanTokensPerSec: stamps.length / (stamps.reduce((a, s) => a + s, 0) / 1000), processed };
      }
      // The first yield follows the 1-token prompt; every later one follows one decode step.
      if (!first) stamps.push(now - start);
      first = false;
      start = performance.now();
    }
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'wasm' },
      reps: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('Usage: pnpm bench:decode [--backend wasm|cpu|tensorflow] [--reps N] [--json]\n  --reps  runs per variant, interleaved; the fastest is reported (default 3)\n  --json  one JSON object instead of a table');
    return;
  }
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps (${values.reps}) must be an integer >= 1`);
  const info = await initBackend({ backend: values.backend ?? 'wasm' });
  const log = (s: string) => values.json || console.error(s);
  log(`benchmarking decoding on ${describeBackend(info)} (${STEPS} steps per run, ${reps} run(s) per variant) ...`);
  // Warm-up: kernels compile and the wasm heap grows once.
  await run({ ...DECODE_VARIANTS['dense'], contextLength: 64 }, 63);
  const best: Record<string, DecodeResult> = {};
  for (let r = 0; r < reps; r++) {
    for (const [name, config] of Object.entries(DECODE_VARIANTS)) {
      const result = await run(config);
      if (best[name] === undefined || result.tokensPerSec > best[name]!.tokensPerSec) best[name] = result;
      log(`  ${name} run ${r + 1}: ${result.tokensPerSec.toFixed(0)} tokens/s`);
    }
  }
  const dense = best['dense']!;
  const report = {
    info: describeBackend(info),
    config: { ...BENCH, promptTokens: 1, decodedTokens: STEPS, tailSteps: TAIL, sampling: 'greedy', weights: 'untrained (random, seed 0)' },
    variants: Object.fromEntries(Object.entries(best).map(([name, v]) => [name, { ...v, overDense: v.tokensPerSec / dense.tokensPerSec }])),
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  console.log(`\n${report.info}; contextLength ${BENCH.contextLength}, 1-token prompt + ${STEPS} decoded tokens, greedy, untrained weights`);
  const t = new Table({ head: ['variant', 'tokens/s', `tokens/s, last ${TAIL}`, 'median ms/token', 'x dense', 'processed by routed blocks (attention / MLP or expert)'], ...style });
  for (const [name, v] of Object.entries(best)) {
    const processed = Object.entries(v.processed)
      .map(([i, p]) => `#${i}: ${(100 * p.attended).toFixed(0)}% / ${(100 * p.computed).toFixed(0)}%`)
      .join(', ');
    t.push([name, v.tokensPerSec.toFixed(0), v.tailTokensPerSec.toFixed(0), v.msPerToken.toFixed(2), (v.tokensPerSec / dense.tokensPerSec).toFixed(2), processed || '-']);
  }
  console.log(t.toString());
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
