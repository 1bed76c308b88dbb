// Layer norm over rows of D floats (Ba et al. 2016), forward and backward, on the memory of the
// wasm backend that runs it: every argument but the sizes is a byte offset of a tensor's data in
// that memory. AssemblyScript, compiled by scripts/build-wasm-kernels.mjs; the same formulas as
// src/primitives/layerNorm.ts's tfjs path (biased variance):
//   xhat = (x - mean(x)) * rstd, rstd = 1 / sqrt(var(x) + eps), y = xhat * gamma + beta;
//   with g = dy * gamma: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dgamma = sum_rows(dy * xhat), dbeta = sum_rows(dy).
// 128-bit SIMD over 4 floats at a time, a scalar loop for the last D % 4. (No `@inline`
// decorator: Prettier rejects it on a function; -O3 inlines `sumLanes` anyway.)

import { sumLanes } from './simd';

/** y, xhat float32[n, d] and rstd float32[n] from x float32[n, d], gamma and beta float32[d]. */
export function layerNormForward(
  x: usize,
  gamma: usize,
  beta: usize,
  y: usize,
  xhat: usize,
  rstd: usize,
  n: i32,
  d: i32,
  eps: f32,
): void {
  const invD: f32 = 1.0 / <f32>d;
  const d4 = d & ~3;
  for (let r = 0; r < n; r++) {
    const row = <usize>r * <usize>d * 4;
    let s4 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) s4 = f32x4.add(s4, v128.load(x + row + ((<usize>j) << 2)));
    let s: f32 = sumLanes(s4);
    for (let j = d4; j < d; j++) s += load<f32>(x + row + ((<usize>j) << 2));
    const mean: f32 = s * invD;
    const m4 = f32x4.splat(mean);
    let v4 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const c = f32x4.sub(v128.load(x + row + ((<usize>j) << 2)), m4);
      v4 = f32x4.add(v4, f32x4.mul(c, c));
    }
    let v: f32 = sumLanes(v4);
    for (let j = d4; j < d; j++) {
      const c: f32 = load<f32>(x + row + ((<usize>j) << 2)) - mean;
      v += c * c;
    }
    const rs: f32 = 1.0 / Mathf.sqrt(v * invD + eps);
    store<f32>(rstd + ((<usize>r) << 2), rs);
    const r4 = f32x4.splat(rs);
    for (let j = 0; j < d4; j += 4) {
      const p = row + ((<usize>j) << 2);
      const xh = f32x4.mul(f32x4.sub(v128.load(x + p), m4), r4);
      v128.store(xhat + p, xh);
      const q = (<usize>j) << 2;
      v128.store(y + p, f32x4.add(f32x4.mul(xh, v128.load(gamma + q)), v128.load(beta + q)));
    }
    for (let j = d4; j < d; j++) {
      const p = row + ((<usize>j) << 2);
      const xh: f32 = (load<f32>(x + p) - mean) * rs;
      store<f32>(xhat + p, xh);
      store<f32>(
        y + p,
        xh * load<f32>(gamma + ((<usize>j) << 2)) + load<f32>(beta + ((<usize>j) << 2)),
      );
    }
  }
}

/** dx float32[n, d], dgamma and dbeta float32[d] from dy, xhat float32[n, d], rstd float32[n], gamma. */
export function layerNormBackward(
  dy: usize,
  xhat: usize,
  rstd: usize,
  gamma: usize,
  dx: usize,
  dgamma: usize,
  dbeta: usize,
  n: i32,
  d: i32,
): void {
  const invD: f32 = 1.0 / <f32>d;
  const d4 = d & ~3;
  memory.fill(dgamma, 0, (<usize>d) << 2);
  memory.fill(dbeta, 0, (<usize>d) << 2);
  for (let r = 0; r < n; r++) {
    const row = <usize>r * <usize>d * 4;
    let sg4 = f32x4.splat(0);
    let sgx4 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const p = row + ((<usize>j) << 2);
      const q = (<usize>j) << 2;
      const dy4 = v128.load(dy + p);
      const xh4 = v128.load(xhat + p);
      const g4 = f32x4.mul(dy4, v128.load(gamma + q));
      sg4 = f32x4.add(sg4, g4);
      sgx4 = f32x4.add(sgx4, f32x4.mul(g4, xh4));
      v128.store(dgamma + q, f32x4.add(v128.load(dgamma + q), f32x4.mul(dy4, xh4)));
      v128.store(dbeta + q, f32x4.add(v128.load(dbeta + q), dy4));
    }
    let sg: f32 = sumLanes(sg4);
    let sgx: f32 = sumLanes(sgx4);
    for (let j = d4; j < d; j++) {
      const p = row + ((<usize>j) << 2);
      const q = (<usize>j) << 2;
      const dyj = load<f32>(dy + p);
      const xhj = load<f32>(xhat + p);
      const g: f32 = dyj * load<f32>(gamma + q);
      sg += g;
      sgx += g * xhj;
      store<f32>(dgamma + q, load<f32>(dgamma + q) + dyj * xhj);
      store<f32>(dbeta + q, load<f32>(dbeta + q) + dyj);
    }
    const mg: f32 = sg * invD;
    const mgx: f32 = sgx * invD;
    const rs: f32 = load<f32>(rstd + ((<usize>r) << 2));
    const mg4 = f32x4.splat(mg);
    const mgx4 = f32x4.splat(mgx);
    const rs4 = f32x4.splat(rs);
    for (let j = 0; j < d4; j += 4) {
      const p = row + ((<usize>j) << 2);
      const g4 = f32x4.mul(v128.load(dy + p), v128.load(gamma + ((<usize>j) << 2)));
      const t = f32x4.sub(f32x4.sub(g4, mg4), f32x4.mul(v128.load(xhat + p), mgx4));
      v128.store(dx + p, f32x4.mul(rs4, t));
    }
    for (let j = d4; j < d; j++) {
      const p = row + ((<usize>j) << 2);
      const g: f32 = load<f32>(dy + p) * load<f32>(gamma + ((<usize>j) << 2));
      store<f32>(dx + p, rs * (g - mg - load<f32>(xhat + p) * mgx));
    }
  }
}
