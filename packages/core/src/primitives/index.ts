// The differentiable primitives every later package builds on, as one injectable record.
import './identity.js';
import { gelu } from './activations.js';
import { multiHeadAttention, scaledDotProductAttention } from './attention.js';
import { embedding, gatherRows, scatterAddRows } from './gather.js';
import { affine, layerNormRows } from './inference.js';
import { layerNorm } from './layerNorm.js';
import { linear } from './linear.js';
import { ownBlockUpdateKernels } from './blockUpdate.js';

export * from './activations.js';
export * from './addAcrossBatch.js';
export * from './adamw.js';
export { ADAMW_UPDATE, ownAdamWKernels } from './adamwKernel.js';
export * from './adamwParts.js';
export * from './combineParts.js';
export * from './routedUpdate.js';
export * from './attention.js';
export {
  blockUpdateParams,
  composedBlockUpdate,
  fusedBlockUpdate,
  ownBlockUpdateKernels,
  type BlockUpdateParams,
} from './blockUpdate.js';
export { ATTENTION_BACKWARD, ATTENTION_FORWARD, ownAttentionKernels } from './attentionKernel.js';
export {
  ATTENTION_QKV_BACKWARD,
  ATTENTION_QKV_FORWARD,
  attentionOnProjection,
  ownAttentionQkvBackward,
  ownAttentionQkvForward,
  ownAttentionQkvKernels,
} from './attentionQkvKernel.js';
export * from './gather.js';
export { ownScatterAddRowsKernel } from './scatterAddRowsKernel.js';
export * from './hostCopy.js';
export * from './inference.js';
export * from './layerNorm.js';
export { LAYER_NORM_BACKWARD, LAYER_NORM_FORWARD, ownLayerNormKernels } from './layerNormKernel.js';
export { GELU_BACKWARD, GELU_FORWARD, ownGeluKernels } from './geluKernel.js';
export {
  CROSS_ENTROPY_BACKWARD,
  CROSS_ENTROPY_FORWARD,
  ownCrossEntropyKernels,
} from './crossEntropyKernel.js';
export { COLUMN_SUMS, GEMM, ownGemmKernels } from './gemmKernel.js';
export { SUM_OF_SQUARES, ownSumOfSquaresKernel, sumOfSquares } from './sumOfSquares.js';
export {
  installOwnKernels,
  ownKernel,
  ownKernelOverride,
  ownKernelsOn,
  ownKernelsServe,
  setOwnKernels,
  withOwnKernels,
  type OwnKernelBinaries,
} from './ownKernels.js';
export * from './linear.js';
export { MAT_VEC_BACKWARD, MAT_VEC_FORWARD, ownMatVecKernels } from './matVecKernel.js';
export * from './routedResidual.js';
export {
  collapseTranspose,
  ownTransposeKernel,
  type CollapsedTranspose,
} from './transposeKernel.js';
export {
  ROUTED_RESIDUAL_BACKWARD,
  ROUTED_RESIDUAL_FORWARD,
  ownRoutedResidualKernels,
} from './routedResidualKernel.js';
export {
  concatFlat,
  concatOuter,
  splitFlat,
  splitOuter,
  CONCAT_FLAT,
  CONCAT_OUTER,
  SPLIT_FLAT,
  SPLIT_OUTER,
} from './layout.js';
export { SHARED_IDENTITY } from './identity.js';
export {
  batchMatMul,
  columnSum,
  matmul2d,
  prefersExplicitTranspose,
  swapsTransposedProduct,
  transpose2d,
  transposeLast,
  SLICED_BATCH_MATMUL,
  SLICED_MIN_MACS,
} from './matmul.js';

/**
 * The primitive set blocks use, bound under CORE_IDS.Primitives. A consumer can rebind it (for
 * example to an attention kernel of its own) without touching the blocks.
 */
export interface Primitives {
  /** Affine map x W + b with explicit-transpose gradients. */
  readonly linear: typeof linear;
  /** Row gather, differentiable (its gradient a scatter-add). */
  readonly gatherRows: typeof gatherRows;
  /** Row scatter-add, differentiable (its gradient a gather). */
  readonly scatterAddRows: typeof scatterAddRows;
  /** Token embedding lookup (rows of the table), differentiable. */
  readonly embedding: typeof embedding;
  /** GELU in its sigmoid form, x * sigmoid(1.702 x), with a hand-written gradient. */
  readonly gelu: typeof gelu;
  /** Layer norm over the last axis with a hand-written gradient. */
  readonly layerNorm: typeof layerNorm;
  /** Multi-head self-attention: projections, attention core, output projection. */
  readonly multiHeadAttention: typeof multiHeadAttention;
  /** The attention core on given queries, keys and values. */
  readonly scaledDotProductAttention: typeof scaledDotProductAttention;
  /** Inference-only affine map (decoding steps): one fused kernel. */
  readonly affine: typeof affine;
  /** Inference-only layer norm (decoding steps): fewer kernels for one row. */
  readonly layerNormRows: typeof layerNormRows;
}

/** moderoute's own primitives. */
export const defaultPrimitives: Primitives = Object.freeze({
  linear,
  gatherRows,
  scatterAddRows,
  embedding,
  gelu,
  layerNorm,
  multiHeadAttention,
  scaledDotProductAttention,
  affine,
  layerNormRows,
});

/**
 * Whether a pre-LN block's update may run as core's one fused op (blockUpdate.ts) with `ops`: only
 * when the layers it fuses are core's own (a rebound layer norm, linear, GELU or attention is
 * honoured by composing them instead) and its own kernels serve the active backend.
 */
export function fusesBlockUpdate(ops: Primitives): boolean {
  return (
    ops.linear === linear &&
    ops.layerNorm === layerNorm &&
    ops.gelu === gelu &&
    ops.multiHeadAttention === multiHeadAttention &&
    ownBlockUpdateKernels()
  );
}
