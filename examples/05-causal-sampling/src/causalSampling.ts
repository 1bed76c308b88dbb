// Example 5: sampling from a Mixture-of-Depths model (Raposo et al. 2024, section 3.5). MoD
// trains with top-k routing over each sequence, which is not causal: whether a token is among the
// top k depends on the tokens after it. To sample, a small predictor MLP (causalMode
// 'predictor') learns, on stop-gradient inputs, to guess the top-k decision from the token
// alone; decoding then decides token by token with the predictor, and a token the predictor
// skips neither runs the block nor writes to its key/value cache.
//
// The example trains a MoD model (12.5% capacity, every other block, predictor) and a dense
// model of the same size the same way with the Trainer, then:
//   1. measures how often the predictor's decisions agree with top-k on validation windows, and
//      the validation loss with each decision rule (evaluateCausalRouting);
//   2. samples a continuation of a prompt with `generate` (streamed, seeded);
//   3. times greedy decoding of the same prompt and token count for both models, side by side,
//      and reads from the MoD run's per-block statistics the fraction of tokens each block
//      processed while decoding.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createContainer,
  MODEL_IDS,
  evaluateCausalRouting,
  generate,
  generateText,
  type BlockDecodeStats,
  type GenerateResult,
  type LanguageModel,
  type LanguageModelConfig,
} from '@moderoute/model';
import {
  CorpusCache,
  Trainer,
  restoreModel,
  validationStarts,
  type TrainConfig,
  type TrainResult,
} from '@moderoute/train';

export type Size = 'tiny' | 'full';

export interface SizeSettings {
  /** The model shape shared by the MoD and the dense model. */
  readonly model: LanguageModelConfig;
  /** The run, the same for both. */
  readonly train: Omit<TrainConfig, 'model'>;
  /** Validation windows of the agreement and loss evaluation. */
  readonly evalWindows: number;
  /** The prompt of the sample and of the timed decoding. */
  readonly prompt: string;
  /** Tokens sampled in the shown sample. */
  readonly sampleTokens: number;
  /** Tokens decoded in each timed run (prompt + tokens - 1 <= contextLength). */
  readonly timedTokens: number;
  /** Timed runs per model, interleaved, after one untimed warm-up run each. */
  readonly reps: number;
}

const PROMPT = 'The state of the Union is';

export const SIZES: Record<Size, SizeSettings> = {
  tiny: {
    model: { width: 16, numHeads: 2, numLayers: 2, contextLength: 32, seed: 5 },
    train: {
      batchSize: 2,
      seqLen: 32,
      steps: 12,
      learningRate: 1e-2,
      warmupSteps: 1,
      evalWindows: 2,
    },
    evalWindows: 4,
    prompt: PROMPT,
    sampleTokens: 8,
    timedTokens: 8,
    reps: 1,
  },
  full: {
    model: { width: 64, numHeads: 4, numLayers: 4, contextLength: 128, seed: 5 },
    train: {
      batchSize: 8,
      seqLen: 128,
      steps: 250,
      learningRate: 3e-3,
      warmupSteps: 25,
      evalWindows: 32,
    },
    evalWindows: 64,
    prompt: PROMPT,
    sampleTokens: 100,
    timedTokens: 100,
    reps: 15,
  },
};

/** The routed block: MoD at 12.5% capacity whose causal decisions come from a trained predictor. */
export const MOD_BLOCK = {
  kind: 'mod',
  depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125, causalMode: 'predictor' } },
} as const;

/** The MoD model (dense and MoD blocks alternating, the paper's placement) or the dense one. */
export function modelConfig(variant: 'mod' | 'dense', size: Size): LanguageModelConfig {
  return variant === 'mod'
    ? { ...SIZES[size].model, schedule: { pattern: ['dense', MOD_BLOCK] } }
    : { ...SIZES[size].model };
}

import type {
  BlockDecodeSummary,
  CausalSamplingResult,
  DecodeTiming,
  Measurement,
  MeasureOptions,
} from './results.js';

export type {
  BlockDecodeSummary,
  CausalSamplingResult,
  DecodeTiming,
  Measurement,
  MeasureOptions,
} from './results.js';

/** Evenly spaced validation windows of seqLen + 1 tokens (inputs then targets). */
export function validationWindows(
  validation: Uint8Array,
  seqLen: number,
  count: number,
): Uint8Array[] {
  return validationStarts(validation.length, { batchSize: 1, seqLen, maxWindows: count }).map((s) =>
    validation.subarray(s, s + seqLen + 1),
  );
}

function summarise(blocks: readonly BlockDecodeStats[]): BlockDecodeSummary[] {
  return blocks.map((b, block) => ({
    ...b,
    block,
    processedFraction: b.seen > 0 ? b.computed / b.seen : 0,
  }));
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Evaluates, samples and times two trained models (the caller owns and disposes them). Creates
 * no tensors that outlive the call.
 */
export async function measure(
  mod: LanguageModel,
  dense: LanguageModel,
  options: MeasureOptions,
): Promise<Measurement> {
  const s = SIZES[options.size];
  const seqLen = s.train.seqLen ?? s.model.contextLength!;
  // 1. Causal decisions against top-k, and the loss under each rule.
  const evaluation = evaluateCausalRouting(
    mod,
    validationWindows(options.validation, seqLen, s.evalWindows),
  );

  // 2. A sample, streamed: each token's text arrives as it is decoded.
  const stream = generate(mod, s.prompt, {
    maxTokens: s.sampleTokens,
    temperature: 0.8,
    topK: 40,
    seed: options.seed ?? 1,
  });
  let next = await stream.next();
  while (!next.done) {
    options.onSampleText?.(next.value.text);
    next = await stream.next();
  }
  const sample = next.value;

  // 3. Decode speed: greedy, same prompt and token count, the models alternating so that all see
  // the same machine load; one untimed warm-up run each. The MoD model decodes with its
  // predictor (its causalMode, the default), and once more with the threshold rule r > 0 for
  // comparison (no predictor MLP to run per token).
  const decodeOptions = { maxTokens: s.timedTokens, temperature: 0 } as const;
  const contenders = [
    ['dense', dense, decodeOptions],
    ['mod', mod, decodeOptions],
    ['modThreshold', mod, { ...decodeOptions, mode: 'threshold' }],
  ] as const;
  const runs = { dense: [] as number[], mod: [] as number[], modThreshold: [] as number[] };
  const last: Partial<Record<keyof typeof runs, GenerateResult>> = {};
  for (let rep = -1; rep < s.reps; rep++) {
    for (const [name, model, decode] of contenders) {
      const t0 = performance.now();
      const result = await generateText(model, s.prompt, decode);
      const ms = performance.now() - t0;
      if (rep >= 0) runs[name].push(ms);
      last[name] = result;
    }
  }
  const timing = (ms: number[]): DecodeTiming => ({
    tokens: s.timedTokens,
    runsMs: ms,
    tokensPerSecond: (1000 * s.timedTokens) / median(ms),
  });
  const timings = {
    dense: timing(runs.dense),
    mod: timing(runs.mod),
    modThreshold: timing(runs.modThreshold),
  };
  return {
    evaluation,
    sample,
    ...timings,
    speedup: timings.mod.tokensPerSecond / timings.dense.tokensPerSecond,
    thresholdSpeedup: timings.modThreshold.tokensPerSecond / timings.dense.tokensPerSecond,
    modBlocks: summarise(last.mod!.blocks),
    modThresholdBlocks: summarise(last.modThreshold!.blocks),
    denseBlocks: summarise(last.dense!.blocks),
  };
}

export interface CausalSamplingOptions {
  readonly size?: Size;
  /** Where the two runs go (default a temporary directory, removed afterwards). */
  readonly outDir?: string;
  readonly onTrained?: (variant: 'mod' | 'dense', result: TrainResult) => void;
  readonly onSampleText?: (text: string) => void;
}

/** Trains the MoD and the dense model, then evaluates, samples and times them (see `measure`). */
export async function causalSampling(
  options: CausalSamplingOptions = {},
): Promise<CausalSamplingResult> {
  const size = options.size ?? 'tiny';
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'moderoute-causal-sampling-'));
  const corpusCache = new CorpusCache();
  const s = SIZES[size];
  try {
    const training = {} as { mod: TrainResult; dense: TrainResult };
    for (const variant of ['mod', 'dense'] as const) {
      const result = await new Trainer({ ...s.train, model: modelConfig(variant, size) }).run({
        outDir: join(outDir, variant),
        resume: false,
        corpusCache,
      });
      if (result.stopReason !== 'completed')
        throw new Error(`training ${variant} stopped: ${result.message ?? result.stopReason}`);
      training[variant] = result;
      options.onTrained?.(variant, result);
    }
    // The Trainer disposes its model; rebuild both from their final checkpoints.
    const models = createContainer().get(MODEL_IDS.ModelFactory);
    const mod = restoreModel(training.mod.outDir, models).model;
    try {
      const dense = restoreModel(training.dense.outDir, models).model;
      try {
        const { validation } = corpusCache.load(s.train.data ?? { kind: 'sotu' }, {
          seqLen: s.train.seqLen ?? s.model.contextLength!,
        });
        const measured = await measure(mod, dense, {
          size,
          validation,
          ...(options.onSampleText ? { onSampleText: options.onSampleText } : {}),
        });
        return { size, training, ...measured };
      } finally {
        dense.dispose();
      }
    } finally {
      mod.dispose();
    }
  } finally {
    if (options.outDir === undefined) rmSync(outDir, { recursive: true, force: true });
  }
}

export { formatReport } from './report.js';
