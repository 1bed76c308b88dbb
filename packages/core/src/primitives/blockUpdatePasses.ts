// The forward and backward passes of a pre-LN block's residual update on core's own kernels
// (blockUpdate.ts gives the equations and the backward's chain): the bodies of the custom
// gradients of fusedBlockUpdate and fusedRoutedUpdate (routedUpdate.ts), and the checks run
// before their kernels read anything.
// Axis legend: B batch, T tokens, D width, H heads, Dh = D / H, N = B T rows, F MLP hidden width.
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from '../tf.js';
import { ownGeluBackward, ownGeluForward } from './geluKernel.js';
import { ownLayerNormBackward, ownLayerNormForward } from './layerNormKernel.js';
import { ownAttentionQkvBackward, ownAttentionQkvForward } from './attentionQkvKernel.js';
import { attentionBias } from './attention.js';
import { LAYER_NORM_EPS } from './layerNorm.js';
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

/** The sizes of one pass: B sequences of T tokens of width D, H heads. */
export interface BlockShape {
  readonly b: number;
  readonly t: number;
  readonly d: number;
  readonly heads: number;
}

/** The parameters in the custom gradients' input order (their gradients come in this order). */
export function blockParamList(params: BlockUpdateParams): Tensor[] {
  const { ln1, attention: at, ln2, mlp } = params;
  const list: Tensor[] = [ln1.gamma, ln1.beta, at.wQkv, at.bQkv, at.wOut, at.bOut];
  if (mlp) list.push(ln2.gamma, ln2.beta, mlp.w1, mlp.b1, mlp.w2, mlp.b2);
  return list;
}

/**
 * Refuses what the own kernels would read out of bounds: x not float32[B, T, D], heads not
 * dividing D, a parameter or the mask of another shape; each error names the parameter.
 */
export function checkBlockUpdate(
  x: Tensor3D,
  p: BlockUpdateParams,
  heads: number,
  mask?: Tensor,
): void {
  if (x.rank !== 3 || x.dtype !== 'float32')
    throw new ShapeError('x', `${x.dtype}${JSON.stringify(x.shape)}`, 'float32[B, T, D]');
  const [b, t, d] = x.shape;
  checkBlockParams(d, p, heads);
  if (mask !== undefined && (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t))
    throw new ShapeError('mask.shape', mask.shape, `[${b}, ${t}] (one flag per token)`);
}

/**
 * Refuses heads not dividing the width d, or a parameter of another shape or dtype than a block
 * of width d has; each error names the parameter.
 */
export function checkBlockParams(d: number, p: BlockUpdateParams, heads: number): void {
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
}

/**
 * f of rows x2 float32[N, D] (B sequences of T) on the own kernels: f float32[N, D] and the
 * tensors the backward reads (`kept`, to be saved by the caller's custom gradient).
 */
export function ownBlockForward(
  x2: Tensor2D,
  shape: BlockShape,
  params: BlockUpdateParams,
  causal: boolean,
  mask?: Tensor,
): { f: Tensor2D; kept: Tensor[] } {
  const { b, t, d, heads } = shape;
  const { ln1, attention: at, ln2, mlp } = params;
  const [y1, xhat1, rstd1] = ownLayerNormForward(x2, ln1.gamma, ln1.beta, LAYER_NORM_EPS) as [
    Tensor2D,
    Tensor,
    Tensor,
  ];
  // The heads read from the projection and merged where they lie (attentionQkvKernel.ts).
  const qkv = matmul2d(y1, at.wQkv, false, false, at.bQkv);
  const bias = attentionBias(t, causal, mask);
  const [merged, p] = ownAttentionQkvForward(qkv, b, heads, bias, 1 / Math.sqrt(d / heads));
  const a = matmul2d(merged, at.wOut, false, false, at.bOut);
  // What the backward reads, in this order (the MLP's part only with an MLP).
  const kept: Tensor[] = [y1, xhat1, rstd1, qkv, p, merged, ln1.gamma, at.wQkv, at.wOut];
  let f: Tensor2D = a;
  if (mlp) {
    const h = tf.add(x2, a);
    const [y2, xhat2, rstd2] = ownLayerNormForward(h, ln2.gamma, ln2.beta, LAYER_NORM_EPS);
    const [g, s] = ownGeluForward(matmul2d(y2 as Tensor2D, mlp.w1, false, false, mlp.b1));
    f = tf.add(a, matmul2d(g as Tensor2D, mlp.w2, false, false, mlp.b2)) as Tensor2D;
    kept.push(y2!, xhat2!, rstd2!, g!, s!, ln2.gamma, mlp.w1, mlp.w2);
  }
  if (bias !== undefined) kept.push(bias);
  return { f, kept };
}

/**
 * The backward of ownBlockForward from dF float32[N, D] and its `kept` tensors: the gradients of
 * the rows x2 (float32[N, D]) and of the parameters, in blockParamList's order.
 */
export function ownBlockBackward(
  dF: Tensor2D,
  saved: Tensor[],
  shape: BlockShape,
  withMlp: boolean,
): Tensor[] {
  const { b, d, heads } = shape;
  const [y1, xhat1, rstd1, qkv, p, merged, gamma1, wQkv, wOut] = saved.slice(0, 9) as Tensor2D[];
  const grads: Tensor[] = [];
  let da = dF;
  let dh: Tensor | undefined;
  if (withMlp) {
    const [y2, xhat2, rstd2, g, s, gamma2, w1, w2] = saved.slice(9, 17) as Tensor2D[];
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
  const bias = saved[withMlp ? 17 : 9];
  const dqkv = ownAttentionQkvBackward(
    matmul2d(da, wOut!, false, true),
    { qkv: qkv!, p: p!, bias },
    b,
    heads,
    1 / Math.sqrt(d / heads),
  );
  const [dx1, dgamma1, dbeta1] = ownLayerNormBackward(
    matmul2d(dqkv, wQkv!, false, true),
    xhat1!,
    rstd1!,
    gamma1!,
  );
  return [
    dh === undefined ? dx1! : tf.add(dx1!, dh),
    dgamma1!,
    dbeta1!,
    matmul2d(y1!, dqkv, true, false),
    columnSum(dqkv),
    matmul2d(merged!, da, true, false),
    columnSum(da),
    ...grads,
  ];
}
