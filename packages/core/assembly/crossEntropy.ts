// Softmax cross-entropy rows against one class each (the language model's next-token loss,
// packages/model/src/crossEntropy.ts), forward and backward, on the memory of the wasm backend
// that runs them: every argument but the sizes is a byte offset of a tensor's data there.
//   forward, per row n of z float32[N, V] with class y_n (int32):
//     m = max_j z_nj,  S = sum_j exp(z_nj - m),  p_nj = exp(z_nj - m) / S,
//     loss_n = (m + log S) - z_n,y_n   (logsumexp minus the class's logit; no class term when
//     y_n lies outside [0, V), as a one-hot row of zeros gives);
//   backward: dz_nj = (p_nj - [j == y_n]) scale_n.
// The row max is subtracted before exp (no overflow); exp4 is attention's (within 2 ulp).

import { exp4 } from './attentionSoftmax';
import { maxLanes, sumLanes } from './simd';

/** p float32[N, V] and loss float32[N] from logits z float32[N, V] and classes y int32[N]. */
export function crossEntropyForward(
  z: usize,
  y: usize,
  p: usize,
  loss: usize,
  n: i32,
  v: i32,
): void {
  const v4 = v & ~3;
  const row: usize = (<usize>v) << 2;
  for (let i = 0; i < n; i++) {
    const zr = z + <usize>i * row;
    const pr = p + <usize>i * row;
    let m4 = f32x4.splat(-Infinity);
    for (let j = 0; j < v4; j += 4) m4 = f32x4.max(m4, v128.load(zr + ((<usize>j) << 2)));
    let m = maxLanes(m4);
    for (let j = v4; j < v; j++) m = Mathf.max(m, load<f32>(zr + ((<usize>j) << 2)));
    const mm = f32x4.splat(m);
    let s4 = f32x4.splat(0);
    for (let j = 0; j < v4; j += 4) {
      const a = (<usize>j) << 2;
      const e = exp4(f32x4.sub(v128.load(zr + a), mm));
      v128.store(pr + a, e);
      s4 = f32x4.add(s4, e);
    }
    let s = sumLanes(s4);
    for (let j = v4; j < v; j++) {
      const a = (<usize>j) << 2;
      const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(zr + a) - m)), 0);
      store<f32>(pr + a, e);
      s += e;
    }
    const inv4 = f32x4.splat(<f32>1 / s);
    for (let j = 0; j < v4; j += 4) {
      const a = (<usize>j) << 2;
      v128.store(pr + a, f32x4.mul(v128.load(pr + a), inv4));
    }
    for (let j = v4; j < v; j++) {
      const a = (<usize>j) << 2;
      store<f32>(pr + a, load<f32>(pr + a) / s);
    }
    const c = load<i32>(y + ((<usize>i) << 2));
    const picked: f32 = c >= 0 && c < v ? load<f32>(zr + ((<usize>c) << 2)) : 0;
    store<f32>(loss + ((<usize>i) << 2), m + Mathf.log(s) - picked);
  }
}

/** dz float32[N, V] = (p - onehot(y)) scale, with scale float32[N] per row. */
export function crossEntropyBackward(
  p: usize,
  y: usize,
  scale: usize,
  dz: usize,
  n: i32,
  v: i32,
): void {
  const v4 = v & ~3;
  const row: usize = (<usize>v) << 2;
  for (let i = 0; i < n; i++) {
    const pr = p + <usize>i * row;
    const dr = dz + <usize>i * row;
    const k = load<f32>(scale + ((<usize>i) << 2));
    const k4 = f32x4.splat(k);
    for (let j = 0; j < v4; j += 4) {
      const a = (<usize>j) << 2;
      v128.store(dr + a, f32x4.mul(v128.load(pr + a), k4));
    }
    for (let j = v4; j < v; j++) {
      const a = (<usize>j) << 2;
      store<f32>(dr + a, load<f32>(pr + a) * k);
    }
    const c = load<i32>(y + ((<usize>i) << 2));
    if (c >= 0 && c < v) {
      const a = (<usize>c) << 2;
      store<f32>(dr + a, (load<f32>(pr + a) - 1) * k);
    }
  }
}
