// Helpers of transposeKernel.spec.ts and its child fixture: transposes with core's own kernel and
// with tfjs's, compared bit for bit (a transpose moves floats: NaN payloads, infinities and -0
// must come out as they went in).
import { tf, withOwnKernels, type Tensor } from '@moderoute/core';

/** Floats that a lossy move would change: NaNs with payloads and sign, infinities, -0, subnormals. */
const SPECIAL = new Uint32Array([
  0x7fc00000, 0xffc00001, 0x7f800001, 0x7f800000, 0xff800000, 0x80000000, 0x00000001, 0x807fffff,
]);

/** Distinct bit patterns of `size` floats, every seventh a special one (all of them in 56). */
export function patternBits(size: number, seed: number): Uint32Array {
  const bits = new Uint32Array(size);
  for (let i = 0; i < size; i++)
    bits[i] =
      i % 7 === 3 ? SPECIAL[(i + seed) % SPECIAL.length]! : (0x3f800000 + i * 977 + seed) >>> 0;
  return bits;
}

/** A float32 tensor of `shape` holding patternBits. */
export function patternTensor(shape: readonly number[], seed: number): Tensor {
  const bits = patternBits(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  return tf.tensor(new Float32Array(bits.buffer), [...shape], 'float32');
}

/** The output of tf.transpose(x, perm) as raw 32-bit patterns, with the own kernels `on` or not. */
export function transposedBits(x: Tensor, perm: readonly number[], on: boolean): Uint32Array {
  return withOwnKernels(on, () => {
    const y = tf.transpose(x, [...perm]);
    try {
      const data = y.dataSync();
      return new Uint32Array(data.buffer, data.byteOffset, data.length).slice();
    } finally {
      y.dispose();
    }
  });
}

/** How many entries of tf.transpose(x, perm) differ (as bits) between the own kernel and tfjs's. */
export function transposeMismatches(x: Tensor, perm: readonly number[]): number {
  const own = transposedBits(x, perm, true);
  const ref = transposedBits(x, perm, false);
  if (own.length !== ref.length) return Math.max(own.length, ref.length);
  let count = 0;
  for (let i = 0; i < own.length; i++) if (own[i] !== ref[i]) count++;
  return count;
}
