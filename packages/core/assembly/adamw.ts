// One AdamW update over flat float32 vectors (Loshchilov & Hutter 2019, algorithm 2; Kingma & Ba
// 2015, algorithm 1, with bias correction), on the memory of the wasm backend that runs it: every
// argument before n is a byte offset of a tensor's data in that memory. AssemblyScript, compiled
// by scripts/build-wasm-kernels.mjs; the same operations in the same order as
// src/primitives/adamw.ts's tfjs path, each rounded to float32 as tfjs's kernels round them, so
// that the two agree to the bit:
//   g' = g * scale
//   m' = m * beta1 + g' * (1 - beta1)
//   v' = v * beta2 + (g' * g') * (1 - beta2)
//   delta = (m' / bc1) / (sqrt(v' / bc2) + eps)  [+ p * decay]
//   p' = p - delta * lr
// decayMode: 0 no decay, 1 the scalar decayScalar, 2 the vector at `decay` (one value per entry).
// 128-bit SIMD over 4 floats at a time, a scalar loop for the last n % 4.

/** Writes m', v', p' (float32[n] each) from g, m, v, p (float32[n] each). */
export function adamwUpdate(
  g: usize,
  m: usize,
  v: usize,
  p: usize,
  decay: usize,
  mOut: usize,
  vOut: usize,
  pOut: usize,
  n: i32,
  scale: f32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  bc1: f32,
  bc2: f32,
  eps: f32,
  lr: f32,
  decayScalar: f32,
  decayMode: i32,
): void {
  const n4 = n & ~3;
  const s4 = f32x4.splat(scale);
  const b1 = f32x4.splat(beta1);
  const c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const c2 = f32x4.splat(oneMinusBeta2);
  const k1 = f32x4.splat(bc1);
  const k2 = f32x4.splat(bc2);
  const e4 = f32x4.splat(eps);
  const l4 = f32x4.splat(lr);
  const d4 = f32x4.splat(decayScalar);
  for (let i = 0; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    const gi = f32x4.mul(v128.load(g + o), s4);
    const mi = f32x4.add(f32x4.mul(v128.load(m + o), b1), f32x4.mul(gi, c1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + o), b2), f32x4.mul(f32x4.mul(gi, gi), c2));
    const pi = v128.load(p + o);
    let delta = f32x4.div(f32x4.div(mi, k1), f32x4.add(f32x4.sqrt(f32x4.div(vi, k2)), e4));
    if (decayMode === 1) delta = f32x4.add(delta, f32x4.mul(pi, d4));
    else if (decayMode === 2) delta = f32x4.add(delta, f32x4.mul(pi, v128.load(decay + o)));
    v128.store(mOut + o, mi);
    v128.store(vOut + o, vi);
    v128.store(pOut + o, f32x4.sub(pi, f32x4.mul(delta, l4)));
  }
  for (let i = n4; i < n; i++) {
    const o = (<usize>i) << 2;
    const gi: f32 = load<f32>(g + o) * scale;
    const mi: f32 = load<f32>(m + o) * beta1 + gi * oneMinusBeta1;
    const vi: f32 = load<f32>(v + o) * beta2 + gi * gi * oneMinusBeta2;
    const pi: f32 = load<f32>(p + o);
    let delta: f32 = mi / bc1 / (Mathf.sqrt(vi / bc2) + eps);
    if (decayMode === 1) delta += pi * decayScalar;
    else if (decayMode === 2) delta += pi * load<f32>(decay + o);
    store<f32>(mOut + o, mi);
    store<f32>(vOut + o, vi);
    store<f32>(pOut + o, pi - delta * lr);
  }
}
