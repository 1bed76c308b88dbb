// What a trained run's routers do on validation text: the model is rebuilt from its final
// checkpoint (config.json + model.safetensors) and run forward, in evaluation mode (top-k
// decisions), on (a) one validation window, for the routing heatmap of the depth routers
// (Raposo et al. 2024, figure 1), and (b) one validation batch, for the load of every expert.
// Axis legend: B batch, T tokens per sequence.
import { tf, type Tensor2D } from '@moderoute/core';
import { type LanguageModel, type LanguageModelConfig, type ModelFactory } from '@moderoute/model';
import { metricsOf, type RoutingPlan } from '@moderoute/routing';
import {
  assignWeights,
  loadCheckpoint,
  batchTensors,
  validationBatches,
  CheckpointError,
  evaluateBitsPerByte,
} from '@moderoute/train';

/** Which validation tokens each depth-routed block processed. */
export interface RoutingSample {
  /** Offset of the window in the validation split. */
  readonly offset: number;
  /** The window's bytes as characters (non-printable bytes as "·"). */
  readonly tokens: readonly string[];
  /** Blocks with a depth router, as "block <i>". */
  readonly blocks: readonly string[];
  /** processed[i][t]: 1 when block i processed token t, else 0. */
  readonly processed: readonly (readonly number[])[];
}

/** Tokens each expert of one block received, over one validation batch. */
export interface BlockExpertLoad {
  readonly block: number;
  readonly kind: string;
  readonly router: string;
  /** Fraction of the batch's tokens per expert (integrated MoDE: the no-op experts come last). */
  readonly loads: readonly number[];
  /** Real expert MLPs (the rest are no-op experts). */
  readonly numExperts: number;
}

/**
 * What a trained run's final checkpoint shows: routing on validation text, expert loads, causal-
 * rule loss.
 */
export interface RunInspection {
  readonly checkpoint: string;
  /** Absent when the model has no depth router. */
  readonly routing?: RoutingSample;
  /** Blocks with expert routing (empty when none). */
  readonly expertLoad: readonly BlockExpertLoad[];
  /**
   * Per block, the fraction of the validation batch's tokens its block computation (MLP or
   * experts, and attention for depth-routed blocks) processed: 1 for dense blocks; for
   * integrated MoDE, the tokens sent to a real expert.
   */
  readonly processedFraction: readonly number[];
  /**
   * Models with depth routers: validation bits per byte when every MoD router decides causally
   * (r > tau, the 'threshold' rule, tau the router's running estimate of the top-k cut), as sampling would; the
   * table's figure uses non-causal top-k over each window, as training does.
   */
  readonly causalBitsPerByte?: number;
}

/**
 * What `inspectRun` looks at a trained run with: validation text, window and batch sizes, the model
 * factory.
 */
export interface InspectOptions {
  readonly validation: Uint8Array;
  readonly seqLen: number;
  readonly batchSize: number;
  /** Tokens of the window kept in the heatmap (the routing decisions are the full window's). */
  readonly heatmapTokens: number;
  /** Validation windows of the causal evaluation (default 32). */
  readonly evalWindows?: number;
  /** Builds the run's model (from the caller's container). */
  readonly factory: ModelFactory;
}

/** A printable label for a byte token. */
function byteLabel(byte: number): string {
  if (byte === 10) return '\n';
  if (byte === 9) return '\t';
  return byte >= 32 && byte < 127 ? String.fromCharCode(byte) : '·';
}

/** Start of the heatmap window: the first sentence start after the middle of the split. */
function sampleOffset(validation: Uint8Array, seqLen: number): number {
  const last = validation.length - seqLen;
  if (last <= 0) return 0;
  const from = Math.floor(validation.length / 2);
  for (let i = from; i < Math.min(last, from + 4096); i++) {
    if (
      validation[i] === 46 /* . */ &&
      validation[i + 1] === 32 &&
      validation[i + 2]! >= 65 &&
      validation[i + 2]! <= 90
    )
      return i + 2;
  }
  return Math.min(from, last);
}

function processedOf(
  plans: Readonly<Record<string, RoutingPlan>>,
  tokens: number,
  kind: string,
  numExperts: number,
): number {
  const mod = plans['mod'];
  const experts = plans['experts'];
  if (mod !== undefined) return 1 - metricsOf(mod.counts).droppedFraction;
  if (experts === undefined) return 1;
  if (kind === 'mode-integrated')
    return (
      metricsOf(experts.counts)
        .load.slice(0, numExperts)
        .reduce((a, b) => a + b, 0) / tokens
    );
  if (experts.kind === 'expert-choice')
    return 1 - (metricsOf(experts.counts).expertsPerToken?.[0] ?? 0);
  return 1 - metricsOf(experts.counts).droppedFraction;
}

/** Rebuilds a run's model from its checkpoint and inspects its routing on validation text. */
export function inspectRun(checkpointDir: string, options: InspectOptions): RunInspection {
  const factory = options.factory;
  const saved = loadCheckpoint(checkpointDir);
  const config = (saved.config as { model?: LanguageModelConfig } | null)?.model;
  if (config === undefined || config === null || typeof config !== 'object') {
    throw new CheckpointError(
      `${saved.dir}/config.json`,
      'corrupt',
      'has no "model" config to rebuild the model from',
    );
  }
  const model: LanguageModel = factory.create(config);
  try {
    const params = model.namedParameters();
    // assignWeights checks every name and shape before assigning anything.
    assignWeights(params, saved.weights);
    const specs = model.config.blocks;
    const T = options.seqLen;

    // (a) One window for the heatmap.
    const offset = sampleOffset(options.validation, T);
    const window = options.validation.subarray(offset, offset + T);
    const routing = tf.tidy(() => {
      // Shape: T bytes -> [1, T]
      const ids = tf.tensor2d(Int32Array.from(window), [1, window.length], 'int32') as Tensor2D;
      const { routing: perBlock } = model.forward(ids, { training: false });
      const blocks: string[] = [];
      const processed: number[][] = [];
      perBlock.forEach((plans, i) => {
        const mod = plans['mod'];
        if (mod === undefined || mod.kind !== 'mixture-of-depths') return;
        const row = new Array<number>(window.length).fill(0);
        for (const t of mod.positions.dataSync()) row[t] = 1;
        blocks.push(`block ${i}`);
        processed.push(row.slice(0, options.heatmapTokens));
      });
      return { blocks, processed };
    });
    const sample: RoutingSample | undefined =
      routing.blocks.length > 0
        ? {
            offset,
            tokens: Array.from(window.subarray(0, options.heatmapTokens), byteLabel),
            blocks: routing.blocks,
            processed: routing.processed,
          }
        : undefined;

    // (b) One validation batch for expert load and processed fractions.
    const first = validationBatches(options.validation, {
      batchSize: options.batchSize,
      seqLen: T,
      maxWindows: options.batchSize,
    }).next();
    const batch = first.done === true ? undefined : first.value;
    const expertLoad: BlockExpertLoad[] = [];
    let processedFraction: number[] = specs.map(() => 1);
    if (batch !== undefined) {
      tf.tidy(() => {
        const { inputs } = batchTensors(batch);
        const { routing: perBlock } = model.forward(inputs as Tensor2D, { training: false });
        const tokens = batch.batchSize * batch.seqLen;
        perBlock.forEach((plans, i) => {
          const experts = plans['experts'];
          const spec = specs[i]!;
          if (experts === undefined) return;
          expertLoad.push({
            block: i,
            kind: spec.kind,
            router: spec.expertRouter?.name ?? experts.kind,
            loads: metricsOf(experts.counts).load.map((n) => n / tokens),
            numExperts: spec.numExperts,
          });
        });
        processedFraction = perBlock.map((plans, i) =>
          processedOf(plans, tokens, specs[i]!.kind, specs[i]!.numExperts),
        );
      });
    }
    const causalBitsPerByte = sample
      ? evaluateBitsPerByte(model, options.validation, {
          batchSize: options.batchSize,
          seqLen: T,
          maxWindows: options.evalWindows ?? 32,
          mode: 'threshold',
        })
      : undefined;
    return {
      checkpoint: saved.dir,
      ...(sample ? { routing: sample } : {}),
      expertLoad,
      processedFraction,
      ...(causalBitsPerByte !== undefined ? { causalBitsPerByte } : {}),
    };
  } finally {
    model.dispose();
  }
}
