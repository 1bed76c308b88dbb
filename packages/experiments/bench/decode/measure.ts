// Decode measurements: the rows each model is timed under, one timed generation filling the
// context, and (with --profile) kernels and host reads per decode step.
import { tf } from '@moderoute/core';
import { Decoder, causalRules, generate, type LanguageModel } from '@moderoute/model';
import { CONTEXT, TAIL, type Contender, type DecodeRow, type DepthRule } from './config.js';

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The timing of one decode run. */
export interface DecodeResult {
  /** 1000 / median step time over all decode steps. */
  tokensPerSec: number;
  /** Tokens / total time of the decode steps (pre-empted steps included). */
  meanTokensPerSec: number;
  /** 1000 / median step time over the last TAIL steps (context 384-511). */
  tailTokensPerSec: number;
  msPerToken: number;
  /** Per routed block (by index): fraction of tokens its attention processed / that got a real expert or MLP. */
  processed: Record<string, { attended: number; computed: number }>;
}

/** One generation filling the context: `prompt`, then sampled tokens up to CONTEXT in all. */
export async function decodeRun(
  model: LanguageModel,
  prompt: readonly number[],
  mode: DepthRule | undefined,
): Promise<DecodeResult> {
  const stamps: number[] = [];
  const stream = generate(model, prompt, {
    maxTokens: CONTEXT - prompt.length + 1,
    temperature: 0.8,
    topK: 40,
    seed: 1,
    ...(mode ? { mode } : {}),
  });
  let start = performance.now();
  let first = true;
  for (;;) {
    const next = await stream.next();
    const now = performance.now();
    if (next.done) {
      const processed: DecodeResult['processed'] = {};
      next.value.blocks.forEach((b, i) => {
        if (b.kind !== 'dense')
          processed[String(i)] = { attended: b.attended / b.seen, computed: b.computed / b.seen };
      });
      // stamps[i]: one decode step (feed one token, sample the next). Medians are robust to the
      // other processes of a shared machine pre-empting a few steps.
      const ms = median(stamps);
      return {
        tokensPerSec: 1000 / ms,
        tailTokensPerSec: 1000 / median(stamps.slice(-TAIL)),
        msPerToken: ms,
        meanTokensPerSec: stamps.length / (stamps.reduce((a, s) => a + s, 0) / 1000),
        processed,
      };
    }
    // The first yield follows the prompt's prefill; every later one follows one decode step.
    if (!first) stamps.push(now - start);
    first = false;
    start = performance.now();
  }
}

/** Kernel and host-read counts per decode step. */
export interface StepProfile {
  /** Kernels per decode step (tf.profile; wrappers of other kernels not counted). */
  kernels: number;
  /** Host reads (dataSync/readSync) per decode step. */
  hostReads: number;
  /** Kernel name -> calls per step, most frequent first. */
  byKernel: Record<string, number>;
}

/** Kernel and host-read counts of decode steps at context 256 (the prompt, then its tokens again). */
export async function profileSteps(
  model: LanguageModel,
  prompt: readonly number[],
  mode: DepthRule | undefined,
  steps = 16,
): Promise<StepProfile> {
  const decoder = new Decoder(model, mode ? { mode } : {});
  const backend = tf.backend();
  const readSync = backend.readSync.bind(backend);
  let reads = 0;
  backend.readSync = (id: object) => {
    reads++;
    return readSync(id);
  };
  try {
    decoder.feedLast(prompt.slice(0, CONTEXT / 2));
    const counts = new Map<string, number>();
    let kernels = 0;
    reads = 0;
    for (let i = 0; i < steps; i++) {
      const profile = await tf.profile(() => {
        decoder.feedLast([prompt[i % prompt.length] as number]);
      });
      for (const k of profile.kernels) {
        if (tf.getKernel(k.name, tf.getBackend()) === undefined) continue;
        kernels++;
        counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
      }
    }
    const byKernel = Object.fromEntries(
      [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => [k, c / steps]),
    );
    return { kernels: kernels / steps, hostReads: reads / steps, byKernel };
  } finally {
    backend.readSync = readSync;
    decoder.dispose();
  }
}

/** The decode rows of a model: its default rule, plus the threshold rule when it decides by a predictor. */
export function decodeRows(c: Contender): DecodeRow[] {
  const modes = causalRules(c.model).modes;
  const routed = c.model.blocks.some((b) =>
    b.routers().some((r) => r.kind === 'mixture-of-depths'),
  );
  if (!routed) return [{ name: c.name, mode: undefined }];
  // A predictor-trained router's r gets no BCE: its threshold rule is untrained, so only its predictor is timed.
  return modes.includes('predictor')
    ? [{ name: `${c.name} (predictor)`, mode: 'predictor' }]
    : [{ name: `${c.name} (threshold)`, mode: 'threshold' }];
}
