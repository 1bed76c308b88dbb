// A product with one output column, y = x w (x float32[n, k], w float32[k, 1]), and its
// gradients, on the memory of the wasm backend that runs it: every argument but the sizes is a
// byte offset of a tensor's data in that memory. AssemblyScript, compiled by
// scripts/build-wasm-kernels.mjs; the same values as the 2-D products of src/primitives/linear.ts:
//   y[r] = x[r] . w;   backward: dx[r] = dy[r] * w (an outer product), dw = sum over r of dy[r] x[r].
// XNNPACK runs these as general products: a transpose of x for dw, and a packed right operand
// made anew on every call. 128-bit SIMD over 4 floats, a scalar loop for the last k % 4.

import { sumLanes } from './simd';

/** y float32[n] = x float32[n, k] times w float32[k]. */
export function matVecForward(x: usize, w: usize, y: usize, n: i32, k: i32): void {
  const k4 = k & ~3;
  for (let r = 0; r < n; r++) {
    const row = <usize>r * <usize>k * 4;
    let s4 = f32x4.splat(0);
    for (let j = 0; j < k4; j += 4) {
      const q = (<usize>j) << 2;
      s4 = f32x4.add(s4, f32x4.mul(v128.load(x + row + q), v128.load(w + q)));
    }
    let s: f32 = sumLanes(s4);
    for (let j = k4; j < k; j++) {
      const q = (<usize>j) << 2;
      s += load<f32>(x + row + q) * load<f32>(w + q);
    }
    store<f32>(y + ((<usize>r) << 2), s);
  }
}

/** dx float32[n, k] = dy[r] * w per row, dw float32[k] = sum over r of dy[r] x[r], from dy float32[n]. */
export function matVecBackward(
  dy: usize,
  x: usize,
  w: usize,
  dx: usize,
  dw: usize,
  n: i32,
  k: i32,
): void {
  const k4 = k & ~3;
  memory.fill(dw, 0, (<usize>k) << 2);
  for (let r = 0; r < n; r++) {
    const row = <usize>r * <usize>k * 4;
    const g: f32 = load<f32>(dy + ((<usize>r) << 2));
    const g4 = f32x4.splat(g);
    for (let j = 0; j < k4; j += 4) {
      const q = (<usize>j) << 2;
      v128.store(dx + row + q, f32x4.mul(g4, v128.load(w + q)));
      v128.store(dw + q, f32x4.add(v128.load(dw + q), f32x4.mul(g4, v128.load(x + row + q))));
    }
    for (let j = k4; j < k; j++) {
      const q = (<usize>j) << 2;
      store<f32>(dx + row + q, g * load<f32>(w + q));
      store<f32>(dw + q, load<f32>(dw + q) + g * load<f32>(x + row + q));
    }
  }
}
