// The weighted sum of a data-parallel step's gradients, parameter by parameter, where one
// replica's gradients are tensors of their own and every other replica's lie in one flat vector:
//   g_i = w_0 own_i + sum over r of w_{r+1} flat_r[o_i : o_i + n_i]   (own_i absent: 0)
// each product rounded before it is added, in replica order, as tfjs's Mul then Add. On wasm,
// with core's own kernels, one kernel (assembly/weightedSum.ts) that writes each g_i in one pass
// over its sources; elsewhere the tfjs ops per parameter.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';
import { ShapeError } from '../errors.js';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/**
 * Kernel name: inputs {flat<r>} float32[N] per other replica and {own<i>} for the parts that have
 * one, attrs `shapes`, `offsets`, `own` (1 where part i has own<i>) and `weights` -> [g<i>...].
 */
export const COMBINE_PARTS = 'ModerouteCombineParts';

ownKernel(COMBINE_PARTS, ['scaleInto', 'addScaled'], (call) => {
  const { inputs, attrs, backend, exports, offset } = call;
  const shapes = attrs['shapes'] as unknown as number[][];
  const offsets = attrs['offsets'] as number[];
  const own = attrs['own'] as number[];
  const weights = attrs['weights'] as number[];
  const flats = weights.slice(1).map((_, r) => inputs[`flat${r}`] as TensorInfo);
  const outs = shapes.map((shape) => backend.makeOutput(shape, 'float32'));
  outs.forEach((out, i) => {
    const n = tf.util.sizeFromShape(shapes[i]!);
    if (own[i] === 1) exports['scaleInto']!(offset(inputs[`own${i}`]), offset(out), n, weights[0]!);
    else backend.typedArrayFromHeap(out).fill(0);
    flats.forEach((flat, r) =>
      exports['addScaled']!(offset(flat) + 4 * offsets[i]!, offset(out), n, weights[r + 1]!),
    );
  });
  return outs;
});

/** Whether combineParts runs the own kernel here: on, registered and instantiable. */
export function ownCombineKernels(): boolean {
  return ownKernelsServe(COMBINE_PARTS);
}

/** One parameter of combineParts: its shape, its gradient from the first replica (if any), its offset. */
export interface CombinedPart {
  readonly shape: readonly number[];
  /** float32 of `shape`, or undefined: the first replica's rows did not reach it (0). */
  readonly own?: Tensor;
  /** Where it lies in each flat vector. */
  readonly offset: number;
}

/**
 * g_i = weights[0] own_i + sum over r of weights[r + 1] flats[r][offset_i ...] for each part i
 * (see the top of this file): new float32 tensors of the parts' shapes. `flats` are float32[N]
 * vectors (one per other replica), `weights` has one weight per replica, the first one's first.
 */
export function combineParts(
  parts: readonly CombinedPart[],
  flats: readonly Tensor[],
  weights: readonly number[],
): Tensor[] {
  if (weights.length !== flats.length + 1)
    throw new ShapeError(
      'weights',
      `${weights.length} weights`,
      `${flats.length + 1}, one per replica`,
    );
  const n = flats[0]?.size ?? Infinity;
  flats.forEach((f, r) => {
    if (f.rank !== 1 || f.dtype !== 'float32' || (r > 0 && f.size !== n))
      throw new ShapeError(`flats[${r}].shape`, f.shape, `float32 [N], N the same for each`);
  });
  parts.forEach(({ shape, own, offset }, i) => {
    if (
      own !== undefined &&
      (own.dtype !== 'float32' || !tf.util.arraysEqual(own.shape, [...shape]))
    )
      throw new ShapeError(`parts[${i}].own.shape`, own.shape, `float32 [${shape.join(', ')}]`);
    const size = tf.util.sizeFromShape([...shape]);
    if (!Number.isInteger(offset) || offset < 0 || offset + size > n)
      throw new ShapeError(`parts[${i}].offset`, String(offset), `within the flat vectors (${n})`);
  });
  if (ownCombineKernels()) {
    const inputs: Record<string, Tensor> = {};
    flats.forEach((f, r) => {
      inputs[`flat${r}`] = f;
    });
    parts.forEach(({ own }, i) => {
      if (own !== undefined) inputs[`own${i}`] = own;
    });
    const attrs = {
      shapes: parts.map((p) => [...p.shape]),
      offsets: parts.map((p) => p.offset),
      own: parts.map((p) => (p.own === undefined ? 0 : 1)),
      weights: [...weights],
    };
    return tf.engine().runKernel(COMBINE_PARTS, inputs, attrs as never) as Tensor[];
  }
  return parts.map(({ shape, own, offset }) =>
    tf.tidy(() => {
      const size = tf.util.sizeFromShape([...shape]);
      let sum = tf.mul(own ?? tf.zeros([...shape]), weights[0]!);
      flats.forEach((f, r) => {
        const slice = tf.reshape(tf.slice(f, [offset], [size]), [...shape]);
        sum = tf.add(sum, tf.mul(slice, weights[r + 1]!));
      });
      return sum;
    }),
  );
}
