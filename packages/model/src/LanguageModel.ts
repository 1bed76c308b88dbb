// Decoder-only language model over a layer schedule of dense and routed blocks:
//   h_0 = E[x_t] + P[t],  h_l = Block_l(h_{l-1}),  logits = LN_f(h_L) W_head + b_head,
// (GPT-2, Radford et al. 2019: learned positions, pre-LN blocks, final layer norm). The head is
// a separate [D, V] matrix unless tieEmbeddings (then logits = LN_f(h_L) E^T, no bias).
// Axis legend: B batch, T tokens, D width, V vocabulary, L layers.
import {
  ShapeError,
  addAcrossBatch,
  deriveSeed,
  embedding,
  gatherRows,
  BLOCK_SEED_MULTIPLIER,
  BLOCK_SEED_STEP,
  layerNorm,
  linear,
  matmul2d,
  tf,
  type Scalar,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import {
  INIT_STD,
  ParameterStore,
  normal,
  ones,
  zeros,
  type Block,
  type BlockFactory,
  type BlockOutput,
} from '@moderoute/blocks';
import type { RoutingPlan } from '@moderoute/routing';
import {
  resolveConfig,
  type LanguageModelConfig,
  type ResolvedLanguageModelConfig,
} from './config.js';
import { sparseCrossEntropy } from './crossEntropy.js';
import type { ForwardOptions, ForwardResult, LossResult, ModelFlops } from './forwardTypes.js';

export type { ForwardOptions, ForwardResult, LossResult, ModelFlops } from './forwardTypes.js';

/**
 * A decoder-only byte language model over a schedule of dense and routed blocks: forward, loss,
 * parameters, FLOPs.
 */
export class LanguageModel {
  static readonly className = 'LanguageModel';
  readonly config: ResolvedLanguageModelConfig;
  readonly store: ParameterStore;
  readonly blocks: readonly Block[];
  private readonly tokens: Variable;
  private readonly positions: Variable;
  private readonly lnGamma: Variable;
  private readonly lnBeta: Variable;
  private readonly headW: Variable | undefined;
  private readonly headB: Variable | undefined;

  constructor(config: LanguageModelConfig, factory: BlockFactory) {
    this.config = resolveConfig(config);
    const {
      vocabSize: V,
      contextLength,
      width: D,
      numHeads,
      numLayers,
      mlpRatio,
      seed,
    } = this.config;
    this.store = new ParameterStore(seed);
    const blocks: Block[] = [];
    this.blocks = blocks;
    // A model that cannot be built (too large: ParameterStore.create) frees what it allocated.
    try {
      this.tokens = this.store.create('embed.tokens', [V, D], normal(INIT_STD));
      this.positions = this.store.create('embed.positions', [contextLength, D], normal(0.01));
      const dims = {
        width: D,
        numHeads,
        mlpHidden: Math.round(mlpRatio * D),
        residualStd: INIT_STD / Math.sqrt(2 * numLayers),
      };
      this.config.blocks.forEach((spec, i) => {
        blocks.push(
          factory.create(spec, dims, {
            store: this.store.scope(`blocks.${i}`),
            seed: (seed * BLOCK_SEED_MULTIPLIER + BLOCK_SEED_STEP * i + 1) >>> 0,
          }),
        );
      });
      this.lnGamma = this.store.create('lnF.gamma', [D], ones);
      this.lnBeta = this.store.create('lnF.beta', [D], zeros);
      if (!this.config.tieEmbeddings) {
        this.headW = this.store.create('head.w', [D, V], normal(INIT_STD));
        this.headB = this.store.create('head.b', [V], zeros);
      }
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /**
   * Every parameter by stable name, the routers' included (`blocks.<i>.routers.<r>.<name>`: a
   * block's routers keep theirs in its store scope). Checkpoints use these names.
   */
  namedParameters(): Map<string, Variable> {
    return new Map(this.store.named());
  }

  /**
   * The trainable ones, by the same names: what an optimizer updates. namedParameters() also
   * holds state that is saved but not trained (the MoD threshold rule's top-k cut estimate).
   */
  trainableParameters(): Map<string, Variable> {
    return new Map([...this.namedParameters()].filter(([, v]) => v.trainable));
  }

  /** Every trainable variable. */
  trainableVariables(): Variable[] {
    return [...this.trainableParameters().values()];
  }

  /** Number of scalar trainable parameters. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.trainableParameters().values()) n += v.size;
    return n;
  }

  /** ids int32[B, T] -> logits, auxiliary losses and routing plans. Call inside tf.tidy. */
  forward(ids: Tensor2D, options: ForwardOptions = {}): ForwardResult {
    if (ids.rank !== 2 || ids.dtype !== 'int32')
      throw new ShapeError(
        'ids',
        `${ids.dtype}${JSON.stringify(ids.shape)}`,
        'int32 of rank 2, [B, T]',
      );
    const t = ids.shape[1];
    if (t > this.config.contextLength) {
      throw new ShapeError(
        'ids.shape',
        ids.shape,
        `[B, T] with T <= contextLength (${this.config.contextLength}); longer input needs a sliding window`,
      );
    }
    const blockOptions = (i: number) => ({
      training: options.training ?? false,
      ...(options.mask ? { mask: options.mask } : {}),
      ...(options.mode ? { mode: options.mode } : {}),
      capacityLength: options.capacityLength ?? this.config.contextLength,
      ...(options.step !== undefined
        ? {
            rngSeed: deriveSeed(
              options.seed ?? this.config.seed,
              options.step,
              options.replica ?? 0,
              i,
            ),
          }
        : {}),
    });
    let h = this.embed(ids);
    const auxLosses: Record<string, Scalar> = {};
    const routing: Readonly<Record<string, RoutingPlan>>[] = [];
    let auxLoss = tf.scalar(0);
    this.blocks.forEach((block, i) => {
      const out: BlockOutput = block.forward(h, blockOptions(i));
      h = out.output;
      for (const [name, loss] of Object.entries(out.auxLosses)) {
        auxLosses[`blocks.${i}.${name}`] = loss;
        auxLoss = tf.add(auxLoss, tf.mul(loss, this.config.auxLossWeights[name] ?? 1));
      }
      routing.push(out.routing ?? {});
    });
    return { logits: this.head(h), auxLoss: auxLoss as Scalar, auxLosses, routing };
  }

  /**
   * The input of the first block: token plus position embeddings, ids int32[B, T] at positions
   * start..start+T-1 -> float32[B, T, D]. Incremental decoding (generate.ts) embeds new tokens
   * at their positions with it. Call inside tf.tidy.
   */
  embed(ids: Tensor2D, start = 0): Tensor3D {
    const t = ids.shape[1];
    if (!Number.isInteger(start) || start < 0 || start + t > this.config.contextLength) {
      throw new ShapeError(
        'positions',
        `${start}..${start + t - 1}`,
        `within the position table [0, contextLength (${this.config.contextLength}))`,
      );
    }
    // Shape: [B, T] -> [B, T, D]; positions [T, D] added to each sequence (addAcrossBatch: their
    // gradient a column sum, not wasm's transposing sum over B). A row gather, not a slice:
    // wasm's Slice reads its whole input back to JS, and decoding takes one row per step.
    const rows = tf.range(start, start + t, 1, 'int32') as Tensor1D;
    return addAcrossBatch(
      embedding(this.tokens, ids) as Tensor3D,
      gatherRows(this.positions, rows),
    );
  }

  /** The output of the last block float32[B, T, D] -> logits float32[B, T, V] (final LN, head). Call inside tf.tidy. */
  head(h: Tensor3D): Tensor3D {
    const [b, t] = h.shape;
    const final = layerNorm(h, this.lnGamma as Tensor1D, this.lnBeta as Tensor1D);
    // Shape: [B, T, D] -> [B, T, V]
    return this.headW
      ? linear(final, this.headW as Tensor2D, this.headB as Tensor1D)
      : (tf.reshape(
          // E^T read in place by core's product (tfjs's transposed matMul is wasm's slow path).
          matmul2d(
            tf.reshape(final, [b * t, this.config.width]) as Tensor2D,
            this.tokens as Tensor2D,
            false,
            true,
          ),
          [b, t, this.config.vocabSize],
        ) as Tensor3D);
  }

  /** Next-token loss: inputs and targets int32[B, T]; padding (mask 0) is not scored. */
  loss(inputs: Tensor2D, targets: Tensor2D, options: ForwardOptions = {}): LossResult {
    const result = this.forward(inputs, options);
    const [b, t] = inputs.shape;
    // Shape: [B, T, V] -> [B*T, V]; targets [B, T] -> [B*T]
    const lmLoss = sparseCrossEntropy(
      tf.reshape(result.logits, [b * t, this.config.vocabSize]) as Tensor2D,
      tf.reshape(targets, [b * t]) as Tensor1D,
      options.mask
        ? (tf.reshape(tf.cast(options.mask, 'float32'), [b * t]) as Tensor1D)
        : undefined,
    );
    return { ...result, lmLoss, loss: tf.add(lmLoss, result.auxLoss) as Scalar };
  }

  /** Analytic FLOPs for one sequence of `seqLen` tokens (default: the context length). */
  flops(seqLen = this.config.contextLength): ModelFlops {
    const blocks = this.blocks.map((block) => block.flops(seqLen));
    const head = 2 * seqLen * this.config.width * this.config.vocabSize;
    const forward = blocks.reduce((a, f) => a + f.total, 0) + head;
    return { blocks, head, forward, training: 3 * forward };
  }

  /** The config as JSON: `new LanguageModel(getConfig(), factory)` rebuilds the same model. */
  getConfig(): LanguageModelConfig {
    const { blocks: _blocks, ...config } = this.config;
    return JSON.parse(JSON.stringify(config)) as LanguageModelConfig;
  }

  /** Frees every parameter (the store's: the routers' too); routing afterwards throws. */
  dispose(): void {
    for (const block of this.blocks) for (const router of block.routers()) router.dispose();
    this.store.dispose();
  }
}
