// AdamW's update of a group of parameters whose moments lie in one flat pair of buffers, without
// first gathering the gradients and parameters into flat vectors and splitting the result (three
// copies of every parameter per step). The same update as adamwUpdate (adamw.ts: Loshchilov &
// Hutter 2019, Algorithm 2, the clip's scale first, the decay scaled by lr), per parameter:
//   m'[o_i : o_i + n_i], v'[o_i : o_i + n_i], p_i' = adamwUpdate(g_i, m[o_i ...], v[o_i ...], p_i)
// with parameter i's own decay rate (0: none); the moments of the entries no parameter covers are
// copied unchanged. On wasm, with core's own kernels, one kernel that runs the own AdamW kernel's
// loop (assembly/adamw.ts) on each parameter where it lies; elsewhere adamwUpdate per parameter.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';
import { ShapeError } from '../errors.js';
import { adamwUpdate, type AdamWUpdateOptions } from './adamw.js';
import { ADAMW_SCALARS } from './adamwKernel.js';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/**
 * Kernel name: inputs {m, v} float32[N] and {g<i>, p<i>} float32 per part, attrs the scalars of
 * ModerouteAdamWUpdate plus `offsets` and `decays` (one per part) -> [m', v', p<i>'...].
 */
export const ADAMW_PARTS = 'ModerouteAdamWParts';

ownKernel(ADAMW_PARTS, ['adamwUpdate'], ({ inputs, attrs, backend, exports, offset }) => {
  const m = inputs['m'] as TensorInfo;
  const v = inputs['v'] as TensorInfo;
  const n = m.shape[0] as number;
  const offsets = attrs['offsets'] as number[];
  const decays = attrs['decays'] as number[];
  const parts = offsets.map((_, i) => ({
    g: inputs[`g${i}`] as TensorInfo,
    p: inputs[`p${i}`] as TensorInfo,
  }));
  const mOut = backend.makeOutput([n], 'float32');
  const vOut = backend.makeOutput([n], 'float32');
  const pOut = parts.map(({ p }) => backend.makeOutput([...p.shape], 'float32'));
  const covered = parts.reduce((s, { p }) => s + tf.util.sizeFromShape(p.shape), 0);
  if (covered < n) {
    // Entries of no part keep their moments: copy all, then the parts overwrite theirs.
    backend.typedArrayFromHeap(mOut).set(backend.typedArrayFromHeap(m));
    backend.typedArrayFromHeap(vOut).set(backend.typedArrayFromHeap(v));
  }
  const scalars = ADAMW_SCALARS.map((k) => attrs[k] as number);
  parts.forEach(({ g, p }, i) => {
    const at = 4 * (offsets[i] as number);
    const decay = decays[i] as number;
    exports['adamwUpdate']!(
      offset(g),
      offset(m) + at,
      offset(v) + at,
      offset(p),
      0,
      offset(mOut) + at,
      offset(vOut) + at,
      offset(pOut[i]),
      tf.util.sizeFromShape(p.shape),
      ...scalars,
      decay,
      decay > 0 ? 1 : 0,
    );
  });
  return [mOut, vOut, ...pOut];
});

/** Whether adamwUpdateParts runs the own kernel here: on, registered and instantiable. */
export function ownAdamWPartsKernels(): boolean {
  return ownKernelsServe(ADAMW_PARTS);
}

/** One parameter of adamwUpdateParts: its gradient, its value and where its moments lie. */
export interface AdamWPart {
  /** float32, the parameter's shape. */
  readonly g: Tensor;
  readonly p: Tensor;
  /** Offset of its moments in the flat m and v. */
  readonly offset: number;
  /** Its decoupled weight decay rate (0: none). */
  readonly decay: number;
}

/** The parts' checks: float32 g and p of one shape, moments inside m, in order, not overlapping. */
function checkParts(parts: readonly AdamWPart[], m: Tensor, v: Tensor): void {
  const n = m.size;
  if (m.rank !== 1 || m.dtype !== 'float32')
    throw new ShapeError('m.shape', m.shape, 'float32 of rank 1, [N]');
  if (v.rank !== 1 || v.size !== n || v.dtype !== 'float32')
    throw new ShapeError('v.shape', v.shape, `float32 [${n}] like m`);
  let end = 0;
  parts.forEach(({ g, p, offset }, i) => {
    if (p.dtype !== 'float32' || g.dtype !== 'float32')
      throw new ShapeError(`parts[${i}].dtype`, `${g.dtype}, ${p.dtype}`, 'float32 g and p');
    if (!tf.util.arraysEqual(g.shape, p.shape))
      throw new ShapeError(`parts[${i}].g.shape`, g.shape, `[${p.shape.join(', ')}] like p`);
    if (!Number.isInteger(offset) || offset < end || offset + p.size > n)
      throw new ShapeError(
        `parts[${i}].offset`,
        String(offset),
        `an integer in [${end}, ${n - p.size}] (parts in order, inside m, not overlapping)`,
      );
    end = offset + p.size;
  });
}

/**
 * AdamW's update of the parameters `parts` whose moments lie in the flat m and v (float32[N]):
 * [m', v'] float32[N] and each part's new value (new tensors; the inputs are left as they are).
 * The moments outside every part are copied unchanged. The same values as adamwUpdate on each
 * part's slice of the moments with its own decay rate.
 */
export function adamwUpdateParts(
  parts: readonly AdamWPart[],
  m: Tensor,
  v: Tensor,
  o: Omit<AdamWUpdateOptions, 'decay'>,
): { m: Tensor; v: Tensor; params: Tensor[] } {
  checkParts(parts, m, v);
  if (ownAdamWPartsKernels()) {
    const inputs: Record<string, Tensor> = { m, v };
    parts.forEach(({ g, p }, i) => {
      inputs[`g${i}`] = g;
      inputs[`p${i}`] = p;
    });
    const attrs = {
      scale: o.scale,
      beta1: o.beta1,
      oneMinusBeta1: 1 - o.beta1,
      beta2: o.beta2,
      oneMinusBeta2: 1 - o.beta2,
      bc1: o.bc1,
      bc2: o.bc2,
      eps: o.epsilon,
      lr: o.lr,
      offsets: parts.map((part) => part.offset),
      decays: parts.map((part) => part.decay),
    };
    const [mNew, vNew, ...params] = tf.engine().runKernel(ADAMW_PARTS, inputs, attrs) as Tensor[];
    return { m: mNew!, v: vNew!, params };
  }
  return tf.tidy(() => {
    const ms: Tensor[] = [];
    const vs: Tensor[] = [];
    const params: Tensor[] = [];
    let at = 0;
    const keep = (end: number) => {
      if (end <= at) return;
      ms.push(tf.slice(m, [at], [end - at]));
      vs.push(tf.slice(v, [at], [end - at]));
    };
    for (const { g, p, offset, decay } of parts) {
      keep(offset);
      const slice = (x: Tensor) => tf.reshape(tf.slice(x, [offset], [p.size]), [p.size]);
      const flat = (x: Tensor) => tf.reshape(x, [p.size]);
      const [mi, vi, pi] = adamwUpdate(flat(g), slice(m), slice(v), flat(p), {
        ...o,
        ...(decay > 0 ? { decay } : {}),
      });
      ms.push(mi);
      vs.push(vi);
      params.push(tf.reshape(pi, p.shape));
      at = offset + p.size;
    }
    keep(m.size);
    const join = (xs: Tensor[]) => (xs.length === 1 ? xs[0]! : tf.concat(xs));
    return { m: join(ms), v: join(vs), params };
  });
}
