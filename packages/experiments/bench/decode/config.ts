// The bench's fixed settings: the model config, the default variants and their training run, the
// checkpoint cache's version salts and the targets every retrain must meet.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SELECTION_MARGIN, type LanguageModel, type LanguageModelConfig } from '@moderoute/model';
import type { TrainConfig } from '@moderoute/train';

/** The Mixture-of-Depths causal rules the bench decodes and evaluates with. */
export type DepthRule = 'threshold' | 'predictor';

/** The bench config of every default model (a 512-token context). */
export const BENCH = {
  vocabSize: 256,
  width: 128,
  numLayers: 4,
  numHeads: 4,
  contextLength: 512,
  mlpRatio: 4,
} as const;
/** The context every decode run fills. */
export const CONTEXT = BENCH.contextLength;
/** Decode steps of the tail figure (context 384-511). */
export const TAIL = 128;
const modRouter = (causalMode: 'threshold' | 'predictor') => ({
  name: 'mixture-of-depths',
  config: { capacity: 0.125, causalMode },
});

/** The default models the bench trains and measures. */
export const DECODE_VARIANTS: Record<string, LanguageModelConfig> = {
  dense: { ...BENCH },
  mod: {
    ...BENCH,
    schedule: { pattern: ['dense', { kind: 'mod', depthRouter: modRouter('threshold') }] },
  },
  mod_predictor: {
    ...BENCH,
    schedule: { pattern: ['dense', { kind: 'mod', depthRouter: modRouter('predictor') }] },
  },
  staged_mode: {
    ...BENCH,
    schedule: {
      pattern: [
        'dense',
        {
          kind: 'mode-staged',
          numExperts: 4,
          depthRouter: modRouter('threshold'),
          expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { dropless: true } } },
        },
      ],
    },
  },
};

/** The training run of the default models (the same for each). */
export function trainSettings(steps: number, seed = 0): Omit<TrainConfig, 'model'> {
  return {
    batchSize: 2,
    seqLen: CONTEXT,
    steps,
    learningRate: 3e-3,
    warmupSteps: Math.max(1, Math.floor(steps / 10)),
    evalWindows: 8,
    seed,
  };
}

/** Bumped when the bench's cached checkpoints must be retrained (2: causal cuts calibrated at save). */
export const CACHE_VERSION = 2;
/** Salts of single variants' caches (the predictor's linear path and target, issue 21). */
export const VARIANT_CACHE_SALT: Record<string, string> = {
  mod_predictor: 'predictor-logit-linear',
};

/** The targets every retrain must meet, checked over every routed block of every model. */
export const TARGETS = {
  agreement: 0.97,
  selectionMargin: SELECTION_MARGIN,
  modSpeedup: 1.5,
} as const;

/** The repository's root (the default --runs directory lives under it). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** One model the bench measures. */
export interface Contender {
  readonly name: string;
  readonly model: LanguageModel;
  /** Training sequence length (the agreement and loss windows' T). */
  readonly seqLen: number;
  readonly source: string;
  readonly trainSeconds?: number;
}

/** One timed decode configuration: a model under one decision rule. */
export interface DecodeRow {
  readonly name: string;
  readonly mode: DepthRule | undefined;
}
