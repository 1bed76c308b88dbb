// The messages between the page (main.ts) and the training worker (worker.ts). Everything that
// crosses is plain data: numbers, strings, arrays, and the checkpoint's bytes (transferred).
import type { LanguageModelConfig } from '@moderoute/model';

/** What the form asks for: the model, the training run and the text to train on. */
export interface RunSettings {
  readonly model: LanguageModelConfig;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Steps of the cosine schedule; training stops there. */
  readonly steps: number;
  /** Steps between evaluations (validation loss, heatmaps, agreement). */
  readonly evalEvery: number;
  readonly seed: number;
  readonly text: string;
}

/** A router scheme of the container's registry, with the kind of routing it does. */
export interface RouterEntry {
  readonly name: string;
  /** 'mixture-of-depths' for depth routers; an expert routing kind otherwise ('' if unknown). */
  readonly kind: string;
}

/** One block of the model, as the page labels it. */
export interface BlockInfo {
  readonly index: number;
  readonly kind: string;
  readonly routed: boolean;
  /** Whether its outer router is a Mixture-of-Depths router (agreement is shown for these). */
  readonly depth: boolean;
  /** Its routers' registry names: the depth router first, then the expert router. */
  readonly routers: readonly string[];
}

/** Which tokens of the fixed validation window one routed block processed. */
export interface Heatmap {
  readonly block: number;
  readonly label: string;
  /** 1 where the block processed the token, else 0. */
  readonly processed: readonly number[];
  /** Tokens the block's plan selected (its counts), for the data- attributes. */
  readonly selected: number;
}

/** One routed MoD block's causal rules against top-k. */
export interface Agreement {
  readonly block: number;
  readonly topKFraction: number;
  readonly rules: readonly { rule: string; accuracy: number; precision: number; recall: number }[];
}

/** What an evaluation shows. */
export interface Snapshot {
  readonly step: number;
  /** Validation bits per byte (top-k routing). */
  readonly validationBits: number;
  readonly tokens: readonly string[];
  readonly heatmaps: readonly Heatmap[];
  readonly agreement: readonly Agreement[];
}

/** A generated token and how many blocks computed it. */
export interface GeneratedPiece {
  readonly text: string;
  readonly blocks: number;
}

export type ToWorker =
  | { readonly type: 'backend'; readonly backend: string }
  | { readonly type: 'build'; readonly settings: RunSettings }
  | { readonly type: 'start' }
  | { readonly type: 'pause' }
  | {
      readonly type: 'generate';
      readonly prompt: string;
      readonly maxTokens: number;
      readonly seed: number;
      readonly temperature: number;
    }
  | { readonly type: 'download' }
  | {
      readonly type: 'load';
      readonly files: readonly (readonly [string, Uint8Array])[];
      readonly name: string;
      readonly text: string;
    };

export type FromWorker =
  | {
      readonly type: 'ready';
      readonly routers: readonly RouterEntry[];
      /** The expert capacity presets (CAPACITY_PRESETS). */
      readonly capacityPresets: readonly string[];
      /** A checkpoint directory's file names (CHECKPOINT_FILES), MANIFEST.json included. */
      readonly checkpointFiles: readonly string[];
    }
  | { readonly type: 'backend'; readonly name: string; readonly description: string }
  | {
      readonly type: 'model';
      readonly parameters: number;
      readonly blocks: readonly BlockInfo[];
      readonly step: number;
      readonly source: string;
    }
  | {
      readonly type: 'step';
      readonly step: number;
      /** Training next-token loss in bits per byte. */
      readonly trainBits: number;
      readonly stepsPerSecond: number;
      /** Tokens per expert of each routed block in this step (MoD: [selected]). */
      readonly loads: readonly { block: number; load: readonly number[] }[];
    }
  | { readonly type: 'snapshot'; readonly snapshot: Snapshot }
  | { readonly type: 'state'; readonly running: boolean; readonly done: boolean }
  | {
      readonly type: 'generated';
      readonly pieces: readonly GeneratedPiece[];
      readonly numBlocks: number;
    }
  | {
      readonly type: 'checkpoint';
      readonly name: string;
      readonly files: readonly (readonly [string, Uint8Array])[];
      /** Next-token logits at the last position of `probe` (for comparing a reload). */
      readonly probe: readonly number[];
      readonly probeLogits: readonly number[];
    }
  | { readonly type: 'error'; readonly where: string; readonly message: string };
