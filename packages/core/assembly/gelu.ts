// GELU in its sigmoid form (Hendrycks & Gimpel 2016, section 2), forward and backward, on the
// memory of the wasm backend that runs it: every argument but the size is a byte offset of a
// tensor's data in that memory. AssemblyScript, compiled by scripts/build-wasm-kernels.mjs; the
// same formulas as src/primitives/activations.ts's tfjs path:
//   s = sigmoid(1.702 x), y = x s;  dx = dy (s + 1.702 x s (1 - s)) = dy (s + 1.702 y (1 - s)).
// The forward writes y and s; the backward reads y (which the next layer keeps anyway) and s,
// so x need not be kept and the backward computes no exponential.
// 128-bit SIMD over 4 floats at a time, a scalar loop for the last n % 4 with the same
// arithmetic, so that a value does not depend on its position.
//
// sigmoid(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0, with e = exp(-|z|) (never
// overflows). exp(t), t in [-87, 0]: t = k ln2 + r with k = round(t / ln2), |r| <= ln2 / 2 (ln2
// split in two, Cody & Waite, so that k ln2 is exact); k comes from adding 1.5 * 2^23 + 127,
// which leaves k + 127 in the low mantissa bits, so 2^k is those bits shifted into the exponent
// (k >= -126: a normal float). exp(r) = 1 + r + r^2 P(r), P of degree 3 fitted to exp's relative
// error on [-ln2/2, ln2/2] (1.7e-7 in float32), evaluated as (P0 + P1 r) + r^2 (P2 + P3 r).
// Constants live in mutable globals: a v128.const costs V8 several instructions per use, a
// global one load (measured: about 1.3x on the forward).

const ALPHA: f32 = 1.702;
const T_MIN: f32 = -87.0;
const MAGIC: f32 = 12583039.0; // 1.5 * 2^23 + 127
const LOG2E: f32 = 1.44269504;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.1219444e-4;
const P0: f32 = 0.49999141693115234;
const P1: f32 = 0.1666688621044159;
const P2: f32 = 0.04189857468008995;
const P3: f32 = 0.008333805948495865;

let alpha4 = f32x4.splat(ALPHA);
let tMin4 = f32x4.splat(T_MIN);
let magic4 = f32x4.splat(MAGIC);
let log2e4 = f32x4.splat(LOG2E);
let ln2Hi4 = f32x4.splat(LN2_HI);
let ln2Lo4 = f32x4.splat(LN2_LO);
let p04 = f32x4.splat(P0);
let p14 = f32x4.splat(P1);
let p24 = f32x4.splat(P2);
let p34 = f32x4.splat(P3);
let one4 = f32x4.splat(1);
let zero4 = f32x4.splat(0);
let sign4 = i32x4.splat(0x80000000);

// A class only to carry `@inline` (Prettier rejects a decorator on a plain function).
class Sigmoid {
  /** sigmoid(1.702 x) of 4 floats. */
  @inline static of4(x: v128): v128 {
    const z = f32x4.mul(x, alpha4);
    // -|z| by setting the sign bit; pmax is one instruction (max's NaN rules cost several).
    const t = f32x4.pmax(v128.or(z, sign4), tMin4);
    const kb = f32x4.add(f32x4.mul(t, log2e4), magic4);
    const pow = i32x4.shl(kb, 23);
    const k = f32x4.sub(kb, magic4);
    const r = f32x4.sub(f32x4.sub(t, f32x4.mul(k, ln2Hi4)), f32x4.mul(k, ln2Lo4));
    const r2 = f32x4.mul(r, r);
    const lo = f32x4.add(f32x4.mul(p14, r), p04);
    const hi = f32x4.add(f32x4.mul(p34, r), p24);
    const p = f32x4.add(lo, f32x4.mul(r2, hi));
    const e = f32x4.mul(f32x4.add(f32x4.add(f32x4.mul(p, r2), r), one4), pow);
    const d = f32x4.div(one4, f32x4.add(one4, e));
    return v128.bitselect(d, f32x4.mul(e, d), f32x4.ge(z, zero4));
  }

  /** sigmoid(1.702 x) of one float, the same arithmetic as of4. */
  @inline static of1(x: f32): f32 {
    const z = x * ALPHA;
    const a = -Mathf.abs(z);
    const t = a < T_MIN ? T_MIN : a;
    const kb = t * LOG2E + MAGIC;
    const k = kb - MAGIC;
    const r = t - k * LN2_HI - k * LN2_LO;
    const r2 = r * r;
    const p = P1 * r + P0 + r2 * (P3 * r + P2);
    const e = (p * r2 + r + 1) * reinterpret<f32>(reinterpret<i32>(kb) << 23);
    const d: f32 = 1 / (1 + e);
    return z >= 0 ? d : e * d;
  }
}

/** y = x s and s = sigmoid(1.702 x), float32[n], from x float32[n]. */
export function geluForward(x: usize, y: usize, s: usize, n: i32): void {
  const n4 = n & ~3;
  for (let j = 0; j < n4; j += 4) {
    const p = (<usize>j) << 2;
    const x4 = v128.load(x + p);
    const s4 = Sigmoid.of4(x4);
    v128.store(s + p, s4);
    v128.store(y + p, f32x4.mul(x4, s4));
  }
  for (let j = n4; j < n; j++) {
    const p = (<usize>j) << 2;
    const xj = load<f32>(x + p);
    const sj = Sigmoid.of1(xj);
    store<f32>(s + p, sj);
    store<f32>(y + p, xj * sj);
  }
}

/** dx float32[n] from dy, y and s float32[n] (the forward's): dx = dy (s + 1.702 y (1 - s)). */
export function geluBackward(dy: usize, y: usize, s: usize, dx: usize, n: i32): void {
  const n4 = n & ~3;
  for (let j = 0; j < n4; j += 4) {
    const p = (<usize>j) << 2;
    const s4 = v128.load(s + p);
    const ds = f32x4.mul(f32x4.mul(alpha4, v128.load(y + p)), f32x4.sub(one4, s4));
    v128.store(dx + p, f32x4.mul(v128.load(dy + p), f32x4.add(s4, ds)));
  }
  for (let j = n4; j < n; j++) {
    const p = (<usize>j) << 2;
    const sj = load<f32>(s + p);
    store<f32>(dx + p, load<f32>(dy + p) * (sj + ALPHA * load<f32>(y + p) * (1 - sj)));
  }
}
