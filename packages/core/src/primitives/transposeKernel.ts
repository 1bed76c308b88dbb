// Core's own transpose kernel on the wasm backend (issue 19, assembly/transpose.ts): it overrides
// wasm's tfjs 'Transpose' kernel (about 2 ns per float, some 6% of a training step), so every
// transpose runs it: matmul.ts's transpose2d/transposeLast, attention's head split and merge, and
// tfjs's own gradient of Transpose. A float32 transpose whose permutation collapses to a batched
// 2-D swap, a swap of two axes over contiguous blocks, or the identity runs the own kernel; any
// other (int32 and other dtypes, other permutations, empty tensors) and every backend but wasm
// keep tfjs's kernel, as do the own kernels switched off (setOwnKernels, MODEROUTE_OWN_KERNELS=0).
import '@tensorflow/tfjs-backend-wasm';
import { tf } from '../tf.js';
import { ownKernelOverride, ownKernelsServe } from './ownKernels.js';

/**
 * A transpose reduced to its simplest form (input axes of size 1 dropped, axes that stay adjacent
 * and in order merged): `swap` y[n, c, r] = x[n, r, c]; `blocks` y[n, b, a, k] = x[n, a, b, k]
 * (k > 1); `copy` the identity.
 */
export type CollapsedTranspose =
  | { readonly kind: 'swap'; readonly n: number; readonly r: number; readonly c: number }
  | {
      readonly kind: 'blocks';
      readonly n: number;
      readonly a: number;
      readonly b: number;
      readonly k: number;
    }
  | { readonly kind: 'copy' };

/**
 * The form of transposing `shape` by `perm`, or undefined when it collapses to none of the
 * supported ones (y[i0, ..] = x[.., i_perm] as tf.transpose: output axis j is input axis perm[j]).
 */
export function collapseTranspose(
  shape: readonly number[],
  perm: readonly number[],
): CollapsedTranspose | undefined {
  // (Plain loops: this runs on every transpose, some hundred per training step.)
  // renumbered[i]: input axis i's number once the axes of size 1 are dropped.
  const renumbered: number[] = [];
  let kept = 0;
  for (const d of shape) renumbered.push(d === 1 ? -1 : kept++);
  // Runs of output axes that read consecutive (renumbered) input axes merge into one group:
  // output group g reads input axes starts[g] .. starts[g] + lengths[g] - 1, of `sizes[g]` floats.
  const starts: number[] = [];
  const lengths: number[] = [];
  const sizes: number[] = [];
  for (const axis of perm) {
    const i = renumbered[axis]!;
    if (i < 0) continue;
    const g = starts.length - 1;
    if (g >= 0 && starts[g]! + lengths[g]! === i) {
      lengths[g]! += 1;
      sizes[g]! *= shape[axis]!;
    } else {
      starts.push(i);
      lengths.push(1);
      sizes.push(shape[axis]!);
    }
  }
  // q[g]: the place of output group g among the groups in input order; s: their sizes in it.
  const q: number[] = [];
  const s: number[] = [];
  for (const start of starts) q.push(starts.filter((t) => t < start).length);
  for (let g = 0; g < q.length; g++) s[q[g]!] = sizes[g]!;
  const is = (...order: number[]) => order.length === q.length && order.every((a, i) => q[i] === a);
  if (q.length <= 1) return { kind: 'copy' };
  if (is(1, 0)) return { kind: 'swap', n: 1, r: s[0]!, c: s[1]! };
  if (is(0, 2, 1)) return { kind: 'swap', n: s[0]!, r: s[1]!, c: s[2]! };
  if (is(1, 0, 2)) return { kind: 'blocks', n: 1, a: s[0]!, b: s[1]!, k: s[2]! };
  if (is(0, 2, 1, 3)) return { kind: 'blocks', n: s[0]!, a: s[1]!, b: s[2]!, k: s[3]! };
  return undefined;
}

ownKernelOverride(
  tf.Transpose,
  ['transposeSwap', 'transposeBlocks', 'copyFloats'],
  ({ inputs, attrs, backend, exports, offset }) => {
    const x = inputs['x']!;
    const perm = attrs['perm'] as number[];
    const count = x.shape.reduce((a, b) => a * b, 1);
    if (x.dtype !== 'float32' || count === 0) return undefined;
    const form = collapseTranspose(x.shape, perm);
    if (form === undefined) return undefined;
    const y = backend.makeOutput(
      perm.map((axis) => x.shape[axis]!),
      'float32',
    );
    if (form.kind === 'swap')
      exports['transposeSwap']!(offset(x), offset(y), form.n, form.r, form.c);
    else if (form.kind === 'blocks')
      exports['transposeBlocks']!(offset(x), offset(y), form.n, form.a, form.b, form.k);
    else exports['copyFloats']!(offset(x), offset(y), count);
    return y;
  },
);

/** Whether wasm's Transpose runs the own kernel here: on, built and instantiable for the backend. */
export function ownTransposeKernel(): boolean {
  return ownKernelsServe(tf.Transpose);
}
