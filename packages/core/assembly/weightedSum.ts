// Scaled copies and sums of float32 vectors, on the memory of the wasm backend that runs them
// (offsets in bytes, sizes in floats). AssemblyScript, compiled by scripts/build-wasm-kernels.mjs;
// src/primitives/combineParts.ts builds a weighted sum of gradients from them:
//   scaleInto:  out[i] = a * x[i]
//   addScaled:  out[i] = out[i] + a * x[i]
// each product rounded to float32 before the sum, as tfjs's Mul then Add round them.

/** out float32[n] = a * x float32[n]. */
export function scaleInto(x: usize, out: usize, n: i32, a: f32): void {
  const n4 = n & ~3;
  const a4 = f32x4.splat(a);
  for (let i = 0; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(out + o, f32x4.mul(v128.load(x + o), a4));
  }
  for (let i = n4; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(out + o, load<f32>(x + o) * a);
  }
}

/** out float32[n] += a * x float32[n]. */
export function addScaled(x: usize, out: usize, n: i32, a: f32): void {
  const n4 = n & ~3;
  const a4 = f32x4.splat(a);
  for (let i = 0; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.mul(v128.load(x + o), a4)));
  }
  for (let i = n4; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(out + o, load<f32>(out + o) + load<f32>(x + o) * a);
  }
}
