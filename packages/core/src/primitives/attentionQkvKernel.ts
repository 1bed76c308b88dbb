// The attention core on a block's Q/K/V projection where it lies (issue 19): the own kernels of
// assembly/attention.ts's attentionQkvForward and attentionQkvBackward, declared through
// ownKernels.ts. They read each head's queries, keys and values straight from qkv
// float32[B T, 3 D] (Q, K, V side by side, heads of Dh inside each) and write the output with
// its heads merged, float32[B T, D], so that the fused block update (blockUpdatePasses.ts) runs
// no split of Q/K/V into heads, no merge of the heads, and none of their gradients' copies: the
// same sums as attentionKernel.ts's kernels on the split tensors, bit for bit.
// Axis legend: B batch, T tokens, D width, H heads, Dh = D / H.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../tf.js';
import { ConfigError, ShapeError } from '../errors.js';
import { biasLayout } from './attentionKernel.js';
import { ownKernel, ownKernelsServe, withScratch, type OwnKernelCall } from './ownKernels.js';

/** Kernel name: inputs {qkv [B T, 3D], bias?}, attrs {batch, heads, scale} -> [o [B T, D], p [B H, T, T]]. */
export const ATTENTION_QKV_FORWARD = 'ModerouteAttentionQkv';
/** Inputs {dout [B T, D], qkv, p, bias?}, attrs {batch, heads, scale} -> [dqkv [B T, 3D]]. */
export const ATTENTION_QKV_BACKWARD = 'ModerouteAttentionQkvGrad';

/** Sizes from qkv's shape and the attributes, the scratch size and the bias's layout. */
function sizes(call: OwnKernelCall) {
  const qkv = call.inputs['qkv']!;
  const [rows, width] = qkv.shape as [number, number];
  const b = call.attrs['batch'] as number;
  const heads = call.attrs['heads'] as number;
  const t = rows / b;
  const d = width / 3;
  const dh = d / heads;
  return { b, t, d, dh, heads, ...biasLayout(call), scratch: 4 * Math.ceil(t / 4) * (dh + 2) };
}

ownKernel(ATTENTION_QKV_FORWARD, ['attentionQkvForward'], (call) => {
  const { inputs, attrs, backend, exports, offset } = call;
  const { b, t, d, dh, heads, bias, biasBatches, biasRows, scratch } = sizes(call);
  const o = backend.makeOutput([b * t, d], 'float32');
  const p = backend.makeOutput([b * heads, t, t], 'float32');
  withScratch(call, scratch, (s) =>
    exports['attentionQkvForward']!(
      offset(inputs['qkv']),
      bias,
      offset(o),
      offset(p),
      s,
      b,
      t,
      dh,
      heads,
      biasBatches,
      biasRows,
      attrs['scale'] as number,
    ),
  );
  return [o, p];
});

ownKernel(ATTENTION_QKV_BACKWARD, ['attentionQkvBackward'], (call) => {
  const { inputs, attrs, backend, exports, offset } = call;
  const { b, t, d, dh, heads, bias, biasBatches, biasRows, scratch } = sizes(call);
  const dqkv: TensorInfo = backend.makeOutput([b * t, 3 * d], 'float32');
  withScratch(call, scratch + t * t, (s) =>
    exports['attentionQkvBackward']!(
      offset(inputs['dout']),
      offset(inputs['qkv']),
      offset(inputs['p']),
      bias,
      offset(dqkv),
      s,
      b,
      t,
      dh,
      heads,
      biasBatches,
      biasRows,
      attrs['scale'] as number,
    ),
  );
  return [dqkv];
});

/** Whether the attention core on qkv runs the own kernels here: on, registered and instantiable. */
export function ownAttentionQkvKernels(): boolean {
  return ownKernelsServe(ATTENTION_QKV_FORWARD, ATTENTION_QKV_BACKWARD);
}

/** `t`'s dtype and shape, as an error message shows them. */
const shown = (t: Tensor) => `${t.dtype}${JSON.stringify(t.shape)}`;

/**
 * Refuses what the kernels would read out of bounds, naming the parameter: qkv not
 * float32[B T, 3D] for `batch` sequences, `heads` not dividing D, a bias not
 * float32[1 or B, 1, 1 or T, T].
 */
function checkQkv(qkv: Tensor, batch: number, heads: number, bias: Tensor | undefined): void {
  if (qkv.rank !== 2 || qkv.dtype !== 'float32' || (qkv.shape[1] as number) % 3 !== 0)
    throw new ShapeError('qkv', shown(qkv), 'float32[B T, 3 D]');
  const [rows, width] = qkv.shape as [number, number];
  if (!Number.isInteger(batch) || batch < 1 || rows % batch !== 0)
    throw new ConfigError('batch', batch, `a positive integer dividing qkv's ${rows} rows`);
  if (!Number.isInteger(heads) || heads < 1 || (width / 3) % heads !== 0)
    throw new ConfigError('heads', heads, `a positive integer dividing the width ${width / 3}`);
  if (bias === undefined) return;
  const t = rows / batch;
  const [bb, one, tq, tk] = bias.shape;
  const fits = (bb === 1 || bb === batch) && one === 1 && (tq === 1 || tq === t) && tk === t;
  if (bias.dtype !== 'float32' || bias.rank !== 4 || !fits)
    throw new ShapeError('bias', shown(bias), `float32[1 or ${batch}, 1, 1 or ${t}, ${t}]`);
}

/**
 * The forward kernel on qkv float32[B T, 3D] of `batch` sequences (and the bias, when given):
 * [o float32[B T, D] (heads merged), p float32[B H, T, T]].
 */
export function ownAttentionQkvForward(
  qkv: Tensor2D,
  batch: number,
  heads: number,
  bias: Tensor | undefined,
  scale: number,
): [Tensor2D, Tensor3D] {
  checkQkv(qkv, batch, heads, bias);
  const inputs: Record<string, Tensor> = bias === undefined ? { qkv } : { qkv, bias };
  return tf.engine().runKernel(ATTENTION_QKV_FORWARD, inputs, { batch, heads, scale }) as [
    Tensor2D,
    Tensor3D,
  ];
}

/** The backward kernel from dout float32[B T, D] and the forward's qkv, p and bias: dqkv. */
export function ownAttentionQkvBackward(
  dout: Tensor2D,
  saved: { qkv: Tensor2D; p: Tensor; bias: Tensor | undefined },
  batch: number,
  heads: number,
  scale: number,
): Tensor2D {
  const { qkv, p, bias } = saved;
  checkQkv(qkv, batch, heads, bias);
  const [rows, width] = qkv.shape as [number, number];
  const t = rows / batch;
  if (dout.dtype !== 'float32' || !tf.util.arraysEqual(dout.shape, [rows, width / 3]))
    throw new ShapeError('dout', shown(dout), `float32[${rows}, ${width / 3}]`);
  if (p.dtype !== 'float32' || !tf.util.arraysEqual(p.shape, [batch * heads, t, t]))
    throw new ShapeError('p', shown(p), `float32[${batch * heads}, ${t}, ${t}]`);
  const inputs: Record<string, Tensor> = { dout, qkv, p };
  if (bias !== undefined) inputs['bias'] = bias;
  return (
    tf.engine().runKernel(ATTENTION_QKV_BACKWARD, inputs, { batch, heads, scale }) as Tensor[]
  )[0] as Tensor2D;
}

/**
 * The attention core on a projection qkv float32[B T, 3D] of `batch` sequences, differentiable:
 * o float32[B T, D] with the heads merged, by the own kernels both ways (check that they serve
 * with ownAttentionQkvKernels). What multiHeadAttention runs on wasm, so that every attention
 * layer, not only the fused block update, reads the heads where they lie.
 */
export function attentionOnProjection(
  qkv: Tensor2D,
  batch: number,
  heads: number,
  bias: Tensor | undefined,
): Tensor2D {
  const scale = 1 / Math.sqrt((qkv.shape[1] as number) / 3 / heads);
  return tf.customGrad(((x: Tensor2D, save: (t: Tensor[]) => void) => {
    const [o, p] = ownAttentionQkvForward(x, batch, heads, bias, scale);
    save([x, p, ...(bias === undefined ? [] : [bias])]);
    return {
      value: o,
      gradFunc: (dout: Tensor2D, saved: Tensor[]) => {
        const [sx, sp, sbias] = saved as [Tensor2D, Tensor, Tensor?];
        return ownAttentionQkvBackward(dout, { qkv: sx, p: sp, bias: sbias }, batch, heads, scale);
      },
    };
  }) as never)(qkv) as Tensor2D;
}
