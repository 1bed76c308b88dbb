// The products of the attention-core kernels (attention.ts), row by row: keys packed in blocks of
// 4 (transposed), scores of a query against 4 keys at a time (one splat and contiguous f32x4 loads
// over Dh), and sums of rows scaled by one coefficient each, 16 floats of a row at a time (a
// scalar loop for the last Dh % 4); the two-row forms load each key block or row once for two
// outputs. Every address is a byte offset in the wasm backend's memory.

/** dst[jb][d][l] = src[4 jb + l][d] for T rows of Dh floats rowStride bytes apart (rows past T: 0). */
export function packBlocks(src: usize, dst: usize, t: i32, dh: i32, rowStride: usize): void {
  const nb = (t + 3) >> 2;
  for (let jb = 0; jb < nb; jb++) {
    for (let l = 0; l < 4; l++) {
      const j = jb * 4 + l;
      const out = dst + ((<usize>(jb * dh)) << 4) + ((<usize>l) << 2);
      if (j < t) {
        const row = src + <usize>j * rowStride;
        for (let d = 0; d < dh; d++)
          store<f32>(out + ((<usize>d) << 4), load<f32>(row + ((<usize>d) << 2)));
      } else {
        for (let d = 0; d < dh; d++) store<f32>(out + ((<usize>d) << 4), 0);
      }
    }
  }
}

/** out[j] = scale * (x . row j) for the first 4 ceil(len / 4) rows packed by packBlocks. */
export function dotBlocks(
  x: usize,
  packed: usize,
  out: usize,
  len: i32,
  dh: i32,
  scale: f32,
): void {
  const nb = (len + 3) >> 2;
  const stride = (<usize>dh) << 4;
  const s4 = f32x4.splat(scale);
  let jb = 0;
  for (; jb + 4 <= nb; jb += 4) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let base = packed + <usize>jb * stride;
    for (let d = 0; d < dh; d++) {
      const xd = v128.load32_splat(x + ((<usize>d) << 2));
      a0 = f32x4.add(a0, f32x4.mul(xd, v128.load(base)));
      a1 = f32x4.add(a1, f32x4.mul(xd, v128.load(base + stride)));
      a2 = f32x4.add(a2, f32x4.mul(xd, v128.load(base + 2 * stride)));
      a3 = f32x4.add(a3, f32x4.mul(xd, v128.load(base + 3 * stride)));
      base += 16;
    }
    const o = out + ((<usize>jb) << 4);
    v128.store(o, f32x4.mul(a0, s4));
    v128.store(o + 16, f32x4.mul(a1, s4));
    v128.store(o + 32, f32x4.mul(a2, s4));
    v128.store(o + 48, f32x4.mul(a3, s4));
  }
  for (; jb < nb; jb++) {
    let a = f32x4.splat(0);
    let base = packed + <usize>jb * stride;
    for (let d = 0; d < dh; d++) {
      a = f32x4.add(a, f32x4.mul(v128.load32_splat(x + ((<usize>d) << 2)), v128.load(base)));
      base += 16;
    }
    v128.store(out + ((<usize>jb) << 4), f32x4.mul(a, s4));
  }
}

/** dotBlocks for two query rows x0, x1 (each packed key block loaded once for both). */
export function dotBlocks2(
  x0: usize,
  x1: usize,
  packed: usize,
  out0: usize,
  out1: usize,
  len: i32,
  dh: i32,
  scale: f32,
): void {
  const nb = (len + 3) >> 2;
  const stride = (<usize>dh) << 4;
  const s4 = f32x4.splat(scale);
  let jb = 0;
  for (; jb + 4 <= nb; jb += 4) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0);
    let b1 = f32x4.splat(0);
    let b2 = f32x4.splat(0);
    let b3 = f32x4.splat(0);
    let base = packed + <usize>jb * stride;
    for (let d = 0; d < dh; d++) {
      const u = v128.load32_splat(x0 + ((<usize>d) << 2));
      const w = v128.load32_splat(x1 + ((<usize>d) << 2));
      const k0 = v128.load(base);
      const k1 = v128.load(base + stride);
      const k2 = v128.load(base + 2 * stride);
      const k3 = v128.load(base + 3 * stride);
      a0 = f32x4.add(a0, f32x4.mul(u, k0));
      a1 = f32x4.add(a1, f32x4.mul(u, k1));
      a2 = f32x4.add(a2, f32x4.mul(u, k2));
      a3 = f32x4.add(a3, f32x4.mul(u, k3));
      b0 = f32x4.add(b0, f32x4.mul(w, k0));
      b1 = f32x4.add(b1, f32x4.mul(w, k1));
      b2 = f32x4.add(b2, f32x4.mul(w, k2));
      b3 = f32x4.add(b3, f32x4.mul(w, k3));
      base += 16;
    }
    const o0 = out0 + ((<usize>jb) << 4);
    const o1 = out1 + ((<usize>jb) << 4);
    v128.store(o0, f32x4.mul(a0, s4));
    v128.store(o0 + 16, f32x4.mul(a1, s4));
    v128.store(o0 + 32, f32x4.mul(a2, s4));
    v128.store(o0 + 48, f32x4.mul(a3, s4));
    v128.store(o1, f32x4.mul(b0, s4));
    v128.store(o1 + 16, f32x4.mul(b1, s4));
    v128.store(o1 + 32, f32x4.mul(b2, s4));
    v128.store(o1 + 48, f32x4.mul(b3, s4));
  }
  for (; jb < nb; jb++) {
    let a = f32x4.splat(0);
    let b = f32x4.splat(0);
    let base = packed + <usize>jb * stride;
    for (let d = 0; d < dh; d++) {
      const k = v128.load(base);
      a = f32x4.add(a, f32x4.mul(v128.load32_splat(x0 + ((<usize>d) << 2)), k));
      b = f32x4.add(b, f32x4.mul(v128.load32_splat(x1 + ((<usize>d) << 2)), k));
      base += 16;
    }
    v128.store(out0 + ((<usize>jb) << 4), f32x4.mul(a, s4));
    v128.store(out1 + ((<usize>jb) << 4), f32x4.mul(b, s4));
  }
}

/**
 * out float32[Dh] = scale * sum_{r < count} coef[r * coefStride] * rows[r] (count rows of Dh
 * floats, rowStride bytes apart), from column `from` on.
 */
export function sumRowsFrom(
  coef: usize,
  coefStride: usize,
  rows: usize,
  rowStride: usize,
  count: i32,
  out: usize,
  dh: i32,
  scale: f32,
  from: i32,
): void {
  const s4 = f32x4.splat(scale);
  let c = from;
  for (; c + 16 <= dh; c += 16) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let w = coef;
    let row = rows + ((<usize>c) << 2);
    for (let r = 0; r < count; r++) {
      const wr = v128.load32_splat(w);
      a0 = f32x4.add(a0, f32x4.mul(wr, v128.load(row)));
      a1 = f32x4.add(a1, f32x4.mul(wr, v128.load(row + 16)));
      a2 = f32x4.add(a2, f32x4.mul(wr, v128.load(row + 32)));
      a3 = f32x4.add(a3, f32x4.mul(wr, v128.load(row + 48)));
      w += coefStride;
      row += rowStride;
    }
    const o = out + ((<usize>c) << 2);
    v128.store(o, f32x4.mul(a0, s4));
    v128.store(o + 16, f32x4.mul(a1, s4));
    v128.store(o + 32, f32x4.mul(a2, s4));
    v128.store(o + 48, f32x4.mul(a3, s4));
  }
  for (; c + 4 <= dh; c += 4) {
    let a = f32x4.splat(0);
    let w = coef;
    let row = rows + ((<usize>c) << 2);
    for (let r = 0; r < count; r++) {
      a = f32x4.add(a, f32x4.mul(v128.load32_splat(w), v128.load(row)));
      w += coefStride;
      row += rowStride;
    }
    v128.store(out + ((<usize>c) << 2), f32x4.mul(a, s4));
  }
  for (; c < dh; c++) {
    let a: f32 = 0;
    let w = coef;
    let row = rows + ((<usize>c) << 2);
    for (let r = 0; r < count; r++) {
      a += load<f32>(w) * load<f32>(row);
      w += coefStride;
      row += rowStride;
    }
    store<f32>(out + ((<usize>c) << 2), a * scale);
  }
}

/**
 * sumRows for two coefficient sequences over the same rows (each row loaded once for both):
 * out0 = scale * sum_r coef0[r * coefStride] rows[r], out1 likewise from coef1.
 */
export function sumRows2(
  coef0: usize,
  coef1: usize,
  coefStride: usize,
  rows: usize,
  rowStride: usize,
  count: i32,
  out0: usize,
  out1: usize,
  dh: i32,
  scale: f32,
): void {
  const s4 = f32x4.splat(scale);
  let c = 0;
  for (; c + 16 <= dh; c += 16) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0);
    let b1 = f32x4.splat(0);
    let b2 = f32x4.splat(0);
    let b3 = f32x4.splat(0);
    let off: usize = 0;
    let row = rows + ((<usize>c) << 2);
    for (let r = 0; r < count; r++) {
      const wa = v128.load32_splat(coef0 + off);
      const wb = v128.load32_splat(coef1 + off);
      const r0 = v128.load(row);
      const r1 = v128.load(row + 16);
      const r2 = v128.load(row + 32);
      const r3 = v128.load(row + 48);
      a0 = f32x4.add(a0, f32x4.mul(wa, r0));
      a1 = f32x4.add(a1, f32x4.mul(wa, r1));
      a2 = f32x4.add(a2, f32x4.mul(wa, r2));
      a3 = f32x4.add(a3, f32x4.mul(wa, r3));
      b0 = f32x4.add(b0, f32x4.mul(wb, r0));
      b1 = f32x4.add(b1, f32x4.mul(wb, r1));
      b2 = f32x4.add(b2, f32x4.mul(wb, r2));
      b3 = f32x4.add(b3, f32x4.mul(wb, r3));
      off += coefStride;
      row += rowStride;
    }
    const o0 = out0 + ((<usize>c) << 2);
    const o1 = out1 + ((<usize>c) << 2);
    v128.store(o0, f32x4.mul(a0, s4));
    v128.store(o0 + 16, f32x4.mul(a1, s4));
    v128.store(o0 + 32, f32x4.mul(a2, s4));
    v128.store(o0 + 48, f32x4.mul(a3, s4));
    v128.store(o1, f32x4.mul(b0, s4));
    v128.store(o1 + 16, f32x4.mul(b1, s4));
    v128.store(o1 + 32, f32x4.mul(b2, s4));
    v128.store(o1 + 48, f32x4.mul(b3, s4));
  }
  if (c < dh) {
    // The last Dh % 16 floats, one output at a time.
    sumRowsFrom(coef0, coefStride, rows, rowStride, count, out0, dh, scale, c);
    sumRowsFrom(coef1, coefStride, rows, rowStride, count, out1, dh, scale, c);
  }
}
