// The attention core (Vaswani et al. 2017, eq. 1) per (batch, head) slice, forward and backward,
// on the memory of the wasm backend that runs it: every argument but the sizes is a byte offset
// of a tensor's data in that memory. The same formulas as src/primitives/attention.ts's tfjs path:
//   S = (Q K^T) * scale + bias, P = softmax(S) (row max subtracted), O = P V;
//   dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = dS K * scale,
//   dK = dS^T Q * scale.
// The bias float32[Bb, 1, 1 or T, T] is broadcast over heads (and over the batch when Bb = 1).
// When it is exactly the causal bias (0 at and below the diagonal, MASKED_LOGIT above) the keys
// after each query are skipped: exp(-1e9 - max) is 0 in float32, so those probabilities are
// exactly 0 on the tfjs path too. Products (attentionProducts.ts): S and dP as 4 keys at a time
// against a query row (keys packed in blocks of 4, transposed, in `scratch`), so the inner loop
// is one splat and contiguous f32x4 loads over Dh; O, dQ, dK and dV as sums of rows scaled by one
// coefficient each, two output rows per pass over the rows, 16 floats at a time. The passes
// (attend, attendBackward) take each operand's layout of rows as strides: the exports here for
// q, k, v, o float32[N, T, Dh], attentionQkv.ts's for a block's projection float32[B T, 3 D].

import { dotBlocks, dotBlocks2, packBlocks, sumRows2, sumRowsFrom } from './attentionProducts';
import { isCausal, softmaxGradRow, softmaxRow } from './attentionSoftmax';

/** Whether the keys after each query can be skipped: the bias is one exactly causal [T, T]. */
function skipsAfterQuery(bias: usize, biasBatches: i32, biasRows: i32, t: i32): bool {
  return bias != 0 && biasBatches == 1 && biasRows == t && isCausal(bias, t);
}

/**
 * o float32[N, T, Dh] and p float32[N, T, T] from q, k, v float32[N, T, Dh] and bias
 * float32[biasBatches, 1, biasRows, T] (offset 0: none; biasRows T, or 1 for one row for every
 * query; slice s uses bias batch s / heads when biasBatches > 1).
 * scratch: 4 ceil(T / 4) (Dh + 2) floats.
 */
export function attentionForward(
  q: usize,
  k: usize,
  v: usize,
  bias: usize,
  o: usize,
  p: usize,
  scratch: usize,
  n: i32,
  t: i32,
  dh: i32,
  heads: i32,
  biasBatches: i32,
  biasRows: i32,
  scale: f32,
): void {
  const slice = <usize>t * <usize>dh * 4;
  const xb = <usize>heads * slice;
  const row = <usize>dh * 4;
  attend(
    q,
    k,
    v,
    xb,
    slice,
    row,
    bias,
    o,
    xb,
    slice,
    row,
    p,
    scratch,
    n,
    t,
    dh,
    heads,
    biasBatches,
    biasRows,
    scale,
  );
}

/** The byte offset of slice s = b H + h: b batch + h head (Binaryen inlines it at -O3). */
function sliceAt(s: i32, heads: i32, batch: usize, head: usize): usize {
  return <usize>(s / heads) * batch + <usize>(s % heads) * head;
}

/**
 * attentionForward on q, k, v and o in any layout of rows: slice s = b H + h of q at
 * q + b xb + h xh, its T rows xRow bytes apart (k and v likewise), o's at o + b ob + h oh with
 * rows oRow apart. With q, k, v the thirds of a projection float32[B T, 3 D] and o
 * float32[B T, D], the heads are read and merged where they lie (attentionQkvForward).
 */
export function attend(
  q: usize,
  k: usize,
  v: usize,
  xb: usize,
  xh: usize,
  xRow: usize,
  bias: usize,
  o: usize,
  ob: usize,
  oh: usize,
  oRow: usize,
  p: usize,
  scratch: usize,
  n: i32,
  t: i32,
  dh: i32,
  heads: i32,
  biasBatches: i32,
  biasRows: i32,
  scale: f32,
): void {
  const causal = skipsAfterQuery(bias, biasBatches, biasRows, t);
  const biasRow = <usize>(biasRows == 1 ? 0 : t) * 4;
  const t4 = (t + 3) & ~3;
  const kt = scratch;
  const srow = scratch + <usize>t4 * <usize>dh * 4;
  const srow1 = srow + ((<usize>t4) << 2);
  const square = <usize>t * <usize>t * 4;
  const rowBytes = <usize>t * 4;
  for (let s = 0; s < n; s++) {
    const at = sliceAt(s, heads, xb, xh);
    const qs = q + at;
    const vs = v + at;
    const os = o + sliceAt(s, heads, ob, oh);
    const ps = p + <usize>s * square;
    const biasBatch = <usize>(biasBatches == 1 ? 0 : s / heads) * <usize>biasRows * <usize>t * 4;
    packBlocks(k + at, kt, t, dh, xRow);
    // Query rows in pairs: row i's probability for key i + 1 is an exact 0 when causal.
    for (let i = 0; i < t; i += 2) {
      const two = i + 1 < t;
      const len0 = causal ? i + 1 : t;
      const len1 = causal ? i + 2 : t;
      const p0 = ps + <usize>i * rowBytes;
      const q0 = qs + <usize>i * xRow;
      const o0 = os + <usize>i * oRow;
      const b0 = causal || bias == 0 ? 0 : bias + biasBatch + <usize>i * biasRow;
      if (two) dotBlocks2(q0, q0 + xRow, kt, srow, srow1, len1, dh, scale);
      else dotBlocks(q0, kt, srow, len0, dh, scale);
      softmaxRow(srow, b0, p0, len0, t);
      if (two) {
        softmaxRow(srow1, b0 == 0 ? 0 : b0 + biasRow, p0 + rowBytes, len1, t);
        sumRows2(p0, p0 + rowBytes, 4, vs, xRow, len1, o0, o0 + oRow, dh, 1);
      } else sumRowsFrom(p0, 4, vs, xRow, len0, o0, dh, 1, 0);
    }
  }
}

/**
 * dq, dk, dv float32[N, T, Dh] from dout, q, k, v float32[N, T, Dh], p float32[N, T, T] (the
 * forward's) and the forward's bias (only whether it is causal is read). scratch:
 * 4 ceil(T / 4) (Dh + 2) + T^2 floats.
 */
export function attentionBackward(
  dout: usize,
  q: usize,
  k: usize,
  v: usize,
  p: usize,
  bias: usize,
  dq: usize,
  dk: usize,
  dv: usize,
  scratch: usize,
  n: i32,
  t: i32,
  dh: i32,
  biasBatches: i32,
  biasRows: i32,
  scale: f32,
): void {
  // One slice per "batch": slice s at s T Dh floats, whatever the heads.
  const slice = <usize>t * <usize>dh * 4;
  const row = <usize>dh * 4;
  attendBackward(
    dout,
    slice,
    0,
    row,
    q,
    k,
    v,
    p,
    bias,
    dq,
    dk,
    dv,
    slice,
    0,
    row,
    scratch,
    n,
    t,
    dh,
    1,
    biasBatches,
    biasRows,
    scale,
  );
}

/**
 * attentionBackward in any layout of rows, as `attend`'s: dout's slices at dout + b ob + h oh
 * (rows oRow apart); q, k, v's and dq, dk, dv's at b xb + h xh from each (rows xRow apart).
 */
export function attendBackward(
  dout: usize,
  ob: usize,
  oh: usize,
  oRow: usize,
  q: usize,
  k: usize,
  v: usize,
  p: usize,
  bias: usize,
  dq: usize,
  dk: usize,
  dv: usize,
  xb: usize,
  xh: usize,
  xRow: usize,
  scratch: usize,
  n: i32,
  t: i32,
  dh: i32,
  heads: i32,
  biasBatches: i32,
  biasRows: i32,
  scale: f32,
): void {
  const causal = skipsAfterQuery(bias, biasBatches, biasRows, t);
  const t4 = (t + 3) & ~3;
  const vt = scratch;
  const srow = scratch + <usize>t4 * <usize>dh * 4;
  const srow1 = srow + ((<usize>t4) << 2);
  const ds = srow1 + ((<usize>t4) << 2);
  const square = <usize>t * <usize>t * 4;
  const rowBytes = <usize>t * 4;
  for (let s = 0; s < n; s++) {
    const at = sliceAt(s, heads, xb, xh);
    const dos = dout + sliceAt(s, heads, ob, oh);
    const qs = q + at;
    const ks = k + at;
    const ps = p + <usize>s * square;
    packBlocks(v + at, vt, t, dh, xRow);
    // Query rows in pairs: dP into srow and srow1, then dS; dS[i][i + 1] = 0 when causal.
    for (let i = 0; i < t; i += 2) {
      const two = i + 1 < t;
      const len0 = causal ? i + 1 : t;
      const len1 = causal ? i + 2 : t;
      const p0 = ps + <usize>i * rowBytes;
      const d0 = ds + <usize>i * rowBytes;
      const g0 = dos + <usize>i * oRow;
      const out = dq + at + <usize>i * xRow;
      if (two) {
        dotBlocks2(g0, g0 + oRow, vt, srow, srow1, len1, dh, 1);
        softmaxGradRow(p0, srow, d0, len0, t);
        softmaxGradRow(p0 + rowBytes, srow1, d0 + rowBytes, len1, t);
        sumRows2(d0, d0 + rowBytes, 4, ks, xRow, len1, out, out + xRow, dh, scale);
      } else {
        dotBlocks(g0, vt, srow, len0, dh, 1);
        softmaxGradRow(p0, srow, d0, len0, t);
        sumRowsFrom(d0, 4, ks, xRow, len0, out, dh, scale, 0);
      }
    }
    // Columns in pairs: keys j, j + 1 get the queries i >= j when causal (P and dS are 0 at
    // [j][j + 1]), every query otherwise.
    for (let j = 0; j < t; j += 2) {
      const i0 = causal ? j : 0;
      const col = (<usize>i0 * <usize>t + <usize>j) << 2;
      const kj = at + <usize>j * xRow;
      const q0 = qs + <usize>i0 * xRow;
      const o0 = dos + <usize>i0 * oRow;
      const count = t - i0;
      if (j + 1 < t) {
        sumRows2(
          ds + col,
          ds + col + 4,
          rowBytes,
          q0,
          xRow,
          count,
          dk + kj,
          dk + kj + xRow,
          dh,
          scale,
        );
        sumRows2(ps + col, ps + col + 4, rowBytes, o0, oRow, count, dv + kj, dv + kj + xRow, dh, 1);
      } else {
        sumRowsFrom(ds + col, rowBytes, q0, xRow, count, dk + kj, dh, scale, 0);
        sumRowsFrom(ps + col, rowBytes, o0, oRow, count, dv + kj, dh, 1, 0);
      }
    }
  }
}
