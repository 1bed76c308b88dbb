// The sum of squares of float32 vectors (a gradient's squared L2 norm), on the memory of the wasm
// backend that runs it: offsets in bytes, sizes in floats. AssemblyScript, compiled by
// scripts/build-wasm-kernels.mjs; src/primitives/sumOfSquares.ts calls it once per tensor.
//   out[0] += sum over i of x[i]^2
// Four lanes of float32 sums over blocks of 1024 floats, each block's total added in float64 (a
// scalar loop for the last n % 4), the vector's total rounded once to float32 and added to out[0]:
// as accurate as float64 for a gradient's sizes, where one float32 running sum over 2^18 floats
// is off by about 1e-5 of the result.

import { sumLanes } from './simd';

/** Floats per block of float32 sums. */
const BLOCK = 1024;

/** out float32[1] += the sum of the squares of x float32[n]. */
export function sumOfSquaresAdd(x: usize, n: i32, out: usize): void {
  const n4 = n & ~3;
  let total: f64 = 0;
  for (let start = 0; start < n4; start += BLOCK) {
    const end = min(start + BLOCK, n4);
    let s4 = f32x4.splat(0);
    for (let i = start; i < end; i += 4) {
      const v = v128.load(x + ((<usize>i) << 2));
      s4 = f32x4.add(s4, f32x4.mul(v, v));
    }
    total += <f64>sumLanes(s4);
  }
  for (let i = n4; i < n; i++) {
    const v = <f64>load<f32>(x + ((<usize>i) << 2));
    total += v * v;
  }
  store<f32>(out, load<f32>(out) + <f32>total);
}
