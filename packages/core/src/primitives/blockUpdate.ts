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
import {
  tf,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Tensor4D,
} from '../tf.js';
import { ownGeluBackward, ownGeluForward, ownGeluKernels } from './geluKernel.js';
import { ownGemmKernels } from './gemmKernel.js';
import {
  ownLayerNormBackward,
  ownLayerNormForward,
  ownLayerNormKernels,
} from './layerNormKernel.js';
import {
  ownAttentionBackward,
  ownAttentionForward,
  ownAttentionKernels,
} from './attentionKernel.js';
import {
  attentionBias,
  mergeHeads,
  multiHeadAttention,
  splitHeads,
  splitQkv,
} from './attention.js';
import { gelu } from './activations.js';
import { LAYER_NORM_EPS, layerNorm } from './layerNorm.js';
import { linear } from './linear.js';
import { concatOuter } from './layout.js';
import { columnSum, matmul2d } from './matmul.js';
import { ConfigError, ShapeError } from '../errors.js';

/** The parameters of a pre-LN block's update: its two layer norms, attention and MLP. */
export interface BlockUpdateParams {
  readonly ln1: { readonly gamma: Tensor1D; readonly beta: Tensor1D };
  readonly attention: {
    readonly wQkv: Tensor2D;
    readonly bQkv: Tensor1D;
    readonly wOut: Tensor2D;
    readonly bOut: Tensor1D;
  };
  readonly ln2: { readonly gamma: Tensor1D; readonly beta: Tensor1D };
  /** Absent: the update is the attention's alone. */
  readonly mlp?: {
    readonly w1: Tensor2D;
    readonly b1: Tensor1D;
    readonly w2: Tensor2D;
    readonly b2: Tensor1D;
  };
}

/** Whether fusedBlockUpdate runs here: every own kernel it uses serves the active backend. */
export function ownBlockUpdateKernels(): boolean {
  return ownGemmKernels() && ownLayerNormKernels() && ownAttentionKernels() && ownGeluKernels();
}

type SaveFn = (tensors: Tensor[]) => void;

/** The inverse of splitQkv: dq, dk, dv float32[B, H, T, Dh] -> float32[N, 3D]. */
function mergeQkv(parts: Tensor4D[], n: number, d: number): Tensor2D {
  // Shape: 3 x [B,H,T,Dh] -> 3 x [N,D] -> [3N,D] -> [3,N,D] -> [N,3,D] -> [N,3D]
  const rows = concatOuter(parts.map((p) => tf.reshape(mergeHeads(p), [n, d])));
  return tf.reshape(tf.transpose(tf.reshape(rows, [3, n, d]), [1, 0, 2]), [n, 3 * d]) as Tensor2D;
}

/**
 * Refuses what the fused op's kernels would read out of bounds: x not float32[B, T, D], heads not
 * dividing D, a parameter or the mask of another shape; each error names the parameter.
 */
function checkBlockUpdate(x: Tensor3D, p: BlockUpdateParams, heads: number, mask?: Tensor): void {
  if (x.rank !== 3 || x.dtype !== 'float32')
    throw new ShapeError('x', `${x.dtype}${JSON.stringify(x.shape)}`, 'float32[B, T, D]');
  const [b, t, d] = x.shape;
  if (!Number.isInteger(heads) || heads < 1 || d % heads !== 0)
    throw new ConfigError('heads', heads, `a positive integer dividing the width ${d}`);
  const f = p.mlp?.w1.shape[1] ?? 0;
  const expected: [string, Tensor | undefined, number[]][] = [
    ['ln1.gamma', p.ln1.gamma, [d]],
    ['ln1.beta', p.ln1.beta, [d]],
    ['attention.wQkv', p.attention.wQkv, [d, 3 * d]],
    ['attention.bQkv', p.attention.bQkv, [3 * d]],
    ['attention.wOut', p.attention.wOut, [d, d]],
    ['attention.bOut', p.attention.bOut, [d]],
  ];
  if (p.mlp)
    expected.push(
      ['ln2.gamma', p.ln2.gamma, [d]],
      ['ln2.beta', p.ln2.beta, [d]],
      ['mlp.w1', p.mlp.w1, [d, f]],
      ['mlp.b1', p.mlp.b1, [f]],
      ['mlp.w2', p.mlp.w2, [f, d]],
      ['mlp.b2', p.mlp.b2, [d]],
    );
  for (const [name, tensor, shape] of expected)
    if (
      tensor === undefined ||
      !tf.util.arraysEqual(tensor.shape, shape) ||
      tensor.dtype !== 'float32'
    )
      throw new ShapeError(
        `${name}.shape`,
        tensor === undefined ? 'missing' : `${tensor.dtype}${JSON.stringify(tensor.shape)}`,
        `float32${JSON.stringify(shape)} for x of width ${d}`,
      );
  if (mask !== undefined && (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t))
    throw new ShapeError('mask.shape', mask.shape, `[${b}, ${t}] (one flag per token)`);
}

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
  const n = b * t;
  const scale = 1 / Math.sqrt(d / heads);
  const { ln1, attention: at, ln2, mlp } = params;
  const inputs: Tensor[] = [x, ln1.gamma, ln1.beta, at.wQkv, at.bQkv, at.wOut, at.bOut];
  if (mlp) inputs.push(ln2.gamma, ln2.beta, mlp.w1, mlp.b1, mlp.w2, mlp.b2);
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as SaveFn;
    const x2 = tf.reshape(x, [n, d]) as Tensor2D;
    const [y1, xhat1, rstd1] = ownLayerNormForward(x2, ln1.gamma, ln1.beta, LAYER_NORM_EPS) as [
      Tensor2D,
      Tensor,
      Tensor,
    ];
    const [q, k, v] = splitQkv(matmul2d(y1, at.wQkv, false, false, at.bQkv), b, t, heads);
    const bias = attentionBias(t, causal, mask);
    const [o, p] = ownAttentionForward(q!, k!, v!, bias, scale);
    const merged = tf.reshape(mergeHeads(o as Tensor4D), [n, d]) as Tensor2D;
    const a = matmul2d(merged, at.wOut, false, false, at.bOut);
    // What the backward reads, in this order (the MLP's part only with an MLP).
    const kept: Tensor[] = [y1, xhat1, rstd1, q!, k!, v!, p!, merged, ln1.gamma, at.wQkv, at.wOut];
    let f: Tensor2D = a;
    if (mlp) {
      const h = tf.add(x2, a);
      const [y2, xhat2, rstd2] = ownLayerNormForward(h, ln2.gamma, ln2.beta, LAYER_NORM_EPS);
      const [g, s] = ownGeluForward(matmul2d(y2 as Tensor2D, mlp.w1, false, false, mlp.b1));
      f = tf.add(a, matmul2d(g as Tensor2D, mlp.w2, false, false, mlp.b2)) as Tensor2D;
      kept.push(y2!, xhat2!, rstd2!, g!, s!, ln2.gamma, mlp.w1, mlp.w2);
    }
    save(bias === undefined ? kept : [...kept, bias]);
    return {
      value: tf.reshape(f, [b, t, d]),
      gradFunc: (dy: Tensor3D, saved: Tensor[]) =>
        tf.tidy(() => backward(tf.reshape(dy, [n, d]) as Tensor2D, saved, mlp !== undefined)),
    };
  }) as never) as unknown as (...xs: Tensor[]) => Tensor3D;

  function backward(dF: Tensor2D, saved: Tensor[], withMlp: boolean): Tensor[] {
    const [y1, xhat1, rstd1, q, k, v, p, merged, gamma1, wQkv, wOut] = saved.slice(
      0,
      11,
    ) as Tensor2D[];
    const grads: Tensor[] = [];
    let da = dF;
    let dh: Tensor | undefined;
    if (withMlp) {
      const [y2, xhat2, rstd2, g, s, gamma2, w1, w2] = saved.slice(11, 19) as Tensor2D[];
      const dg = matmul2d(dF, w2!, false, true);
      const du = ownGeluBackward(dg, g!, s!) as Tensor2D;
      const dy2 = matmul2d(du, w1!, false, true);
      const [dhLn, dgamma2, dbeta2] = ownLayerNormBackward(dy2, xhat2!, rstd2!, gamma2!);
      dh = dhLn!;
      da = tf.add(dF, dh) as Tensor2D;
      grads.push(
        dgamma2!,
        dbeta2!,
        matmul2d(y2!, du, true, false),
        columnSum(du),
        matmul2d(g!, dF, true, false),
        columnSum(dF),
      );
    }
    const dOut = splitHeads(
      tf.reshape(matmul2d(da, wOut!, false, true), [b, t, d]) as Tensor3D,
      heads,
    );
    const bias = saved[withMlp ? 19 : 11];
    const dqkv = mergeQkv(
      ownAttentionBackward(dOut, { q: q!, k: k!, v: v!, p: p!, bias }, scale) as Tensor4D[],
      n,
      d,
    );
    const [dx1, dgamma1, dbeta1] = ownLayerNormBackward(
      matmul2d(dqkv, wQkv!, false, true),
      xhat1!,
      rstd1!,
      gamma1!,
    );
    const dx = dh === undefined ? dx1! : tf.add(dx1!, dh);
    return [
      tf.reshape(dx, [b, t, d]),
      dgamma1!,
      dbeta1!,
      matmul2d(y1!, dqkv, true, false),
      columnSum(dqkv),
      matmul2d(merged!, da, true, false),
      columnSum(da),
      ...grads,
    ];
  }

  return op(...inputs);
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
