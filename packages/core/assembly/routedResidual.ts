// The epilogue of a routed block (Raposo et al. 2024, eq. 1: x_i + r_i f(x_i) for the selected
// tokens, x_i for the others), forward and backward, on the memory of the wasm backend that runs
// it: every argument but the sizes is a byte offset of a tensor's data in that memory.
// AssemblyScript, compiled by scripts/build-wasm-kernels.mjs; the same values as
// src/primitives/routedResidual.ts's tfjs path:
//   out = x, then out[idx[n]] += w[n] * rows[n] for n = 0..N-1 (repeated indices sum);
//   backward: drows[n] = w[n] * dy[idx[n]], dw[n] = dy[idx[n]] . rows[n] (dx = dy: the caller's).
// Indices are checked by the caller. 128-bit SIMD over 4 floats, a scalar loop for the last D % 4.

import { sumLanes } from './simd';

/** out float32[m, d] = x float32[m, d] plus w[n] * rows[n] float32[n, d] added at rows idx int32[n]. */
export function routedResidualForward(
  x: usize,
  rows: usize,
  w: usize,
  idx: usize,
  out: usize,
  m: i32,
  n: i32,
  d: i32,
): void {
  const rowBytes = (<usize>d) << 2;
  memory.copy(out, x, <usize>m * rowBytes);
  const d4 = d & ~3;
  for (let r = 0; r < n; r++) {
    const o = out + <usize>load<i32>(idx + ((<usize>r) << 2)) * rowBytes;
    const s = rows + <usize>r * rowBytes;
    const g: f32 = load<f32>(w + ((<usize>r) << 2));
    const g4 = f32x4.splat(g);
    for (let j = 0; j < d4; j += 4) {
      const q = (<usize>j) << 2;
      v128.store(o + q, f32x4.add(v128.load(o + q), f32x4.mul(g4, v128.load(s + q))));
    }
    for (let j = d4; j < d; j++) {
      const q = (<usize>j) << 2;
      store<f32>(o + q, load<f32>(o + q) + g * load<f32>(s + q));
    }
  }
}

/** drows float32[n, d] and dw float32[n] from dy float32[m, d], rows float32[n, d], w float32[n], idx. */
export function routedResidualBackward(
  dy: usize,
  rows: usize,
  w: usize,
  idx: usize,
  drows: usize,
  dw: usize,
  n: i32,
  d: i32,
): void {
  const rowBytes = (<usize>d) << 2;
  const d4 = d & ~3;
  for (let r = 0; r < n; r++) {
    const src = dy + <usize>load<i32>(idx + ((<usize>r) << 2)) * rowBytes;
    const s = rows + <usize>r * rowBytes;
    const o = drows + <usize>r * rowBytes;
    const g: f32 = load<f32>(w + ((<usize>r) << 2));
    const g4 = f32x4.splat(g);
    let dot4 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const q = (<usize>j) << 2;
      const dy4 = v128.load(src + q);
      v128.store(o + q, f32x4.mul(g4, dy4));
      dot4 = f32x4.add(dot4, f32x4.mul(dy4, v128.load(s + q)));
    }
    let dot: f32 = sumLanes(dot4);
    for (let j = d4; j < d; j++) {
      const q = (<usize>j) << 2;
      const dyj = load<f32>(src + q);
      store<f32>(o + q, g * dyj);
      dot += dyj * load<f32>(s + q);
    }
    store<f32>(dw + ((<usize>r) << 2), dot);
  }
}
