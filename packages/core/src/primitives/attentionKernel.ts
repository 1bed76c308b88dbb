// Core's own attention-core kernels on the wasm backend (issue 19): forward and backward of
// assembly/attention.ts, declared through ownKernels.ts (instantiated on the backend's own memory,
// registered for `wasm` only). scaledDotProductAttention (attention.ts) dispatches to them when
// `ownAttentionKernels()` says they serve the active backend and the inputs fit them, else it runs
// its tfjs ops.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';
import { ownKernel, ownKernelsServe, withScratch, type OwnKernelCall } from './ownKernels.js';

/** Kernel names: inputs {q, k, v, bias?} float32[B, H, T, Dh], attr scale -> [o, p]. */
export const ATTENTION_FORWARD = 'ModerouteAttention';
/** Inputs {dout, q, k, v, p, bias?}, attr scale -> [dq, dk, dv]. */
export const ATTENTION_BACKWARD = 'ModerouteAttentionGrad';

/** The bias input's offset (0: none), batches and rows, as the module functions take them. */
export function biasLayout(call: OwnKernelCall) {
  const bias = call.inputs['bias'];
  return {
    bias: bias === undefined ? 0 : call.offset(bias),
    biasBatches: bias === undefined ? 1 : (bias.shape[0] as number),
    biasRows: bias === undefined ? 1 : (bias.shape[2] as number),
  };
}

/** Sizes, the scratch size and the bias's layout. */
function layout(call: OwnKernelCall, shape: number[]) {
  const [b, h, t, dh] = shape as [number, number, number, number];
  return { b, h, t, dh, n: b * h, ...biasLayout(call), scratch: 4 * Math.ceil(t / 4) * (dh + 2) };
}

ownKernel(ATTENTION_FORWARD, ['attentionForward'], (call) => {
  const { inputs, attrs, backend, exports, offset } = call;
  const q = inputs['q']!;
  const { b, h, t, dh, n, bias, biasBatches, biasRows, scratch } = layout(call, q.shape);
  const o = backend.makeOutput([b, h, t, dh], 'float32');
  const p = backend.makeOutput([n, t, t], 'float32');
  const [k, v] = [offset(inputs['k']), offset(inputs['v'])];
  withScratch(call, scratch, (s) =>
    exports['attentionForward']!(
      offset(q),
      k,
      v,
      bias,
      offset(o),
      offset(p),
      s,
      n,
      t,
      dh,
      h,
      biasBatches,
      biasRows,
      attrs['scale'] as number,
    ),
  );
  return [o, p];
});

ownKernel(ATTENTION_BACKWARD, ['attentionBackward'], (call) => {
  const { inputs, attrs, backend, exports, offset } = call;
  const q = inputs['q']!;
  const { b, h, t, dh, n, bias, biasBatches, biasRows, scratch } = layout(call, q.shape);
  const grads: TensorInfo[] = [0, 1, 2].map(() => backend.makeOutput([b, h, t, dh], 'float32'));
  const saved = [offset(q), offset(inputs['k']), offset(inputs['v']), offset(inputs['p']), bias];
  withScratch(call, scratch + t * t, (s) =>
    exports['attentionBackward']!(
      offset(inputs['dout']),
      ...saved,
      ...grads.map(offset),
      s,
      n,
      t,
      dh,
      biasBatches,
      biasRows,
      attrs['scale'] as number,
    ),
  );
  return grads;
});

/** Whether the attention core runs the own kernels here: on, registered and instantiable. */
export function ownAttentionKernels(): boolean {
  return ownKernelsServe(ATTENTION_FORWARD, ATTENTION_BACKWARD);
}

/**
 * Whether the own kernels take these inputs: float32 q, k, v [B, H, T, Dh] and no bias or a
 * float32 one of shape [1 or B, 1, 1 or T, T] (other broadcasts go to the tfjs path).
 */
export function attentionKernelsFit(
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  bias: TensorInfo | undefined,
): boolean {
  const [b, , t] = q.shape;
  if (![q, k, v].every((x) => x.dtype === 'float32')) return false;
  if (bias === undefined) return true;
  const [bb, one, tq, tk] = bias.shape;
  return (
    bias.dtype === 'float32' &&
    bias.shape.length === 4 &&
    (bb === 1 || bb === b) &&
    one === 1 &&
    (tq === 1 || tq === t) &&
    tk === t
  );
}

/** The forward kernel on q, k, v float32[B, H, T, Dh] (and the bias, when given): [o, p]. */
export function ownAttentionForward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  bias: Tensor | undefined,
  scale: number,
): Tensor[] {
  const inputs: Record<string, Tensor> = bias === undefined ? { q, k, v } : { q, k, v, bias };
  return tf.engine().runKernel(ATTENTION_FORWARD, inputs, { scale }) as Tensor[];
}

/** The backward kernel from the forward's inputs and p: [dq, dk, dv]. */
export function ownAttentionBackward(
  dout: Tensor,
  saved: { q: Tensor; k: Tensor; v: Tensor; p: Tensor; bias: Tensor | undefined },
  scale: number,
): Tensor[] {
  const { q, k, v, p, bias } = saved;
  const inputs: Record<string, Tensor> = { dout, q, k, v, p };
  if (bias !== undefined) inputs['bias'] = bias;
  return tf.engine().runKernel(ATTENTION_BACKWARD, inputs, { scale }) as Tensor[];
}
