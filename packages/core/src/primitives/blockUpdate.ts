// The residual update of a pre-LN transformer block as one differentiable op (issue 19):
//   f(x) = a + MLP(LN2(x + a)),  a = Attn(LN1(x))   (or f(x) = a without an MLP),
// so that the whole block is x + f(x) (Raposo et al. 2024, eq. 1 weighs exactly this f).
// Axis legend: B batch, T tokens, D width, H heads, Dh = D / H, N = B T rows, F MLP hidden width.
//
// Composed from core's primitives, tfjs's tape records every op of a block: about 150 engine
// calls per block and step, a copy-free clone for every tensor a gradient keeps, a Reshape or
// an Add gradient for every reshape and broadcast. On wasm with core's own kernels, this runs the
// same kernels (own layer norm, product with bias, attention, GELU) inside one custom gradient,
// whose backward is written out below, so the tape holds one node per block. It is worth most
// where a block's own compute is small, as in a Mixture-of-Depths block on its few tokens.
// Backward, with dF the gradient of f (dOut of each layer as in its own file):
//   MLP:  dW2 = g^T dF, db2 = sum_rows dF, dg = dF W2^T, du = gelu'(u) dg,
//         dW1 = y2^T du, db1 = sum_rows du, dy2 = du W1^T, dh = LN2'(dy2)
//   attention: da = dF + dh, dWout = o^T da, dbOut = sum_rows da, do = da Wout^T,
//         (dq, dk, dv) = attention'(do), dWqkv = y1^T dqkv, dbQkv = sum_rows dqkv,
//         dy1 = dqkv Wqkv^T, dx = LN1'(dy1) + dh
// (linear.ts, layerNorm.ts, activations.ts and attention.ts give each layer's gradient).
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from '../tf.js';
import { ownGeluKernels } from './geluKernel.js';
import { ownGemmKernels } from './gemmKernel.js';
import { ownLayerNormKernels } from './layerNormKernel.js';
import { ownAttentionQkvKernels } from './attentionQkvKernel.js';
import { multiHeadAttention } from './attention.js';
import { gelu } from './activations.js';
import { layerNorm } from './layerNorm.js';
import { linear } from './linear.js';
import { ShapeError } from '../errors.js';
import {
  blockParamList,
  checkBlockUpdate,
  ownBlockBackward,
  ownBlockForward,
  type BlockUpdateParams,
} from './blockUpdatePasses.js';

export type { BlockUpdateParams } from './blockUpdatePasses.js';

/** Whether fusedBlockUpdate runs here: every own kernel it uses serves the active backend. */
export function ownBlockUpdateKernels(): boolean {
  return ownGemmKernels() && ownLayerNormKernels() && ownAttentionQkvKernels() && ownGeluKernels();
}

type SaveFn = (tensors: Tensor[]) => void;

/**
 * f(x) for x float32[B, T, D] as one custom-gradient op on core's own kernels (see the top of this
 * file); where they do not serve (ownBlockUpdateKernels), composedBlockUpdate's layers instead.
 * `heads` divides D; `causal` and `mask` (float32[B, T], 1 for real tokens) as multiHeadAttention's.
 */
export function fusedBlockUpdate(
  x: Tensor3D,
  params: BlockUpdateParams,
  heads: number,
  causal: boolean,
  mask?: Tensor,
): Tensor3D {
  checkBlockUpdate(x, params, heads, mask);
  if (!ownBlockUpdateKernels()) return composedBlockUpdate(x, params, heads, causal, mask);
  const [b, t, d] = x.shape;
  const shape = { b, t, d, heads };
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as SaveFn;
    const { f, kept } = ownBlockForward(
      tf.reshape(x, [b * t, d]) as Tensor2D,
      shape,
      params,
      causal,
      mask,
    );
    save(kept);
    return {
      value: tf.reshape(f, [b, t, d]),
      gradFunc: (dy: Tensor3D, saved: Tensor[]) =>
        tf.tidy(() => {
          const dF = tf.reshape(dy, [b * t, d]) as Tensor2D;
          const [dx, ...grads] = ownBlockBackward(dF, saved, shape, params.mlp !== undefined);
          return [tf.reshape(dx!, [b, t, d]), ...grads];
        }),
    };
  }) as never) as unknown as (...xs: Tensor[]) => Tensor3D;
  return op(x, ...blockParamList(params));
}

/**
 * The same f composed of core's layers (layerNorm, multiHeadAttention, linear, gelu), one tape
 * node per layer, on any backend: what fusedBlockUpdate equals (and what blocks compose with
 * their bound primitives when they do not fuse).
 */
export function composedBlockUpdate(
  x: Tensor3D,
  params: BlockUpdateParams,
  heads: number,
  causal: boolean,
  mask?: Tensor,
): Tensor3D {
  const { ln1, attention, ln2, mlp } = params;
  const options = { numHeads: heads, causal, ...(mask === undefined ? {} : { mask }) };
  const a = multiHeadAttention(layerNorm(x, ln1.gamma, ln1.beta), attention, options);
  if (!mlp) return a;
  const h = gelu(linear(layerNorm(tf.add(x, a) as Tensor3D, ln2.gamma, ln2.beta), mlp.w1, mlp.b1));
  return tf.add(a, linear(h, mlp.w2, mlp.b2)) as Tensor3D;
}

/**
 * BlockUpdateParams from tensors in fusedBlockUpdate's input order: LN1's gamma and beta, wQkv,
 * bQkv, wOut, bOut, then, with an MLP, LN2's gamma and beta, w1, b1, w2, b2 (13 in all; 6 without
 * an MLP, whose LN2 is then LN1's and unused). For tests and benches that hold them as a list.
 */
export function blockUpdateParams(parts: readonly Tensor[]): BlockUpdateParams {
  if (parts.length !== 6 && parts.length !== 12)
    throw new ShapeError('parts', `${parts.length} tensors`, '6 (no MLP) or 12');
  const [g1, b1, wQkv, bQkv, wOut, bOut, g2, b2, w1, c1, w2, c2] = parts;
  const ln1 = { gamma: g1 as Tensor1D, beta: b1 as Tensor1D };
  return {
    ln1,
    attention: {
      wQkv: wQkv as Tensor2D,
      bQkv: bQkv as Tensor1D,
      wOut: wOut as Tensor2D,
      bOut: bOut as Tensor1D,
    },
    ln2: g2 ? { gamma: g2 as Tensor1D, beta: b2 as Tensor1D } : ln1,
    ...(w1
      ? { mlp: { w1: w1 as Tensor2D, b1: c1 as Tensor1D, w2: w2 as Tensor2D, b2: c2 as Tensor1D } }
      : {}),
  };
}
