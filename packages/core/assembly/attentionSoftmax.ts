// The softmax rows of the attention-core kernels (attention.ts): a numerically stable softmax row
// (row max subtracted) with a vectorised exp, its backward, and the test for the exactly causal
// bias. Every address is a byte offset in the wasm backend's memory.

import { maxLanes, sumLanes } from './simd';

const MASKED_LOGIT: f32 = -1e9;
/** Below this, expf is subnormal or 0: exp4 returns 0 (the 2^n scaling needs n >= -126). */
const EXP_LOW: f32 = -87.33654;

/**
 * exp(x) on 4 lanes (Cephes expf: x = n ln2 + r, a degree-6 polynomial in r, then 2^n in the
 * exponent bits), within 2 ulp; 0 below EXP_LOW; NaN stays NaN.
 */
export function exp4(x: v128): v128 {
  const xc = f32x4.max(x, f32x4.splat(EXP_LOW));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.1219444e-4)));
  let p = f32x4.splat(1.98756915e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  const two = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, two), f32x4.lt(x, f32x4.splat(EXP_LOW)));
}

/** Whether bias float32[T, T] is exactly the causal bias: 0 for key <= query, MASKED_LOGIT after. */
export function isCausal(bias: usize, t: i32): bool {
  for (let i = 0; i < t; i++) {
    const row = bias + <usize>i * <usize>t * 4;
    for (let j = 0; j < t; j++) {
      const b = load<f32>(row + ((<usize>j) << 2));
      if (b != (j <= i ? <f32>0 : MASKED_LOGIT)) return false;
    }
  }
  return true;
}

/**
 * p[0, len) = softmax(s[0, len) + bias[0, len)) (bias 0: none), p[len, t) = 0. s is overwritten.
 */
export function softmaxRow(s: usize, bias: usize, p: usize, len: i32, t: i32): void {
  const len4 = len & ~3;
  let m4 = f32x4.splat(-Infinity);
  let m: f32 = -Infinity;
  if (bias != 0) {
    for (let j = 0; j < len4; j += 4) {
      const a = (<usize>j) << 2;
      v128.store(s + a, f32x4.add(v128.load(s + a), v128.load(bias + a)));
    }
    for (let j = len4; j < len; j++) {
      const a = (<usize>j) << 2;
      store<f32>(s + a, load<f32>(s + a) + load<f32>(bias + a));
    }
  }
  for (let j = 0; j < len4; j += 4) m4 = f32x4.max(m4, v128.load(s + ((<usize>j) << 2)));
  m = maxLanes(m4);
  for (let j = len4; j < len; j++) m = Mathf.max(m, load<f32>(s + ((<usize>j) << 2)));
  const mm = f32x4.splat(m);
  let z4 = f32x4.splat(0);
  for (let j = 0; j < len4; j += 4) {
    const a = (<usize>j) << 2;
    const e = exp4(f32x4.sub(v128.load(s + a), mm));
    v128.store(p + a, e);
    z4 = f32x4.add(z4, e);
  }
  let z: f32 = sumLanes(z4);
  for (let j = len4; j < len; j++) {
    const a = (<usize>j) << 2;
    const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(s + a) - m)), 0);
    store<f32>(p + a, e);
    z += e;
  }
  const inv: f32 = <f32>1 / z;
  const inv4 = f32x4.splat(inv);
  for (let j = 0; j < len4; j += 4) {
    const a = (<usize>j) << 2;
    v128.store(p + a, f32x4.mul(v128.load(p + a), inv4));
  }
  for (let j = len4; j < len; j++) {
    const a = (<usize>j) << 2;
    store<f32>(p + a, load<f32>(p + a) * inv);
  }
  if (len < t) memory.fill(p + ((<usize>len) << 2), 0, (<usize>(t - len)) << 2);
}

/**
 * ds[0, len) = p * (dp - sum_j p dp) over [0, len) (the softmax's backward), ds[len] = 0 when
 * len < t (read by the row and column pairs of attention.ts's backward).
 */
export function softmaxGradRow(p: usize, dp: usize, ds: usize, len: i32, t: i32): void {
  const len4 = len & ~3;
  let c4 = f32x4.splat(0);
  for (let j = 0; j < len4; j += 4) {
    const a = (<usize>j) << 2;
    c4 = f32x4.add(c4, f32x4.mul(v128.load(p + a), v128.load(dp + a)));
  }
  let c: f32 = sumLanes(c4);
  for (let j = len4; j < len; j++) {
    const a = (<usize>j) << 2;
    c += load<f32>(p + a) * load<f32>(dp + a);
  }
  const cc = f32x4.splat(c);
  for (let j = 0; j < len4; j += 4) {
    const a = (<usize>j) << 2;
    v128.store(ds + a, f32x4.mul(v128.load(p + a), f32x4.sub(v128.load(dp + a), cc)));
  }
  for (let j = len4; j < len; j++) {
    const a = (<usize>j) << 2;
    store<f32>(ds + a, load<f32>(p + a) * (load<f32>(dp + a) - c));
  }
  if (len < t) store<f32>(ds + ((<usize>len) << 2), 0);
}
