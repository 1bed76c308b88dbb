// A general product C = op(A) op(B) (+ a bias row), op transposing or not, and column sums, on the
// memory of the wasm backend that runs them: every argument but the sizes and flags is a byte
// offset of a tensor's data in that memory (0: no bias). AssemblyScript, compiled by
// scripts/build-wasm-kernels.mjs; the products of src/primitives/matmul.ts (a linear layer's
// forward with its bias, its input gradient dy W^T and its weight gradient x^T dy, every operand
// read where it lies).
//   C[i, j] = (sum over r of op(A)[i, r] op(B)[r, j]) + bias[j];   s[j] = sum over r of X[r, j].
// Register tiles of 4 rows by 8 columns (eight 128-bit accumulators). Each column panel of op(B)
// is first copied to a contiguous scratch panel: that reads B^T in place, and keeps rows of B a
// power of two apart (N = 1024 floats) from sharing cache sets. XNNPACK, behind tfjs's
// BatchMatMul, packs the whole of B on every call and reads neither operand transposed; these
// tiles run faster on this machine (docs/performance.md, round 8). The tile loads every element
// of A splat, transposed or not (no shuffle), and is inlined at one call site per form of A;
// B^T's panels are copied 4 x 4 blocks at a time through registers, and A^T's strips of four
// rows once per call (round 11). A product of fewer than DIRECT_ROWS rows reads an untransposed
// B where it lies, rows bK bytes apart, instead of copying its panels: a panel serves m / 4 tiles,
// and at a few rows (a decoded token, a routed block's few tokens) the copy of all of B took as
// long as the product (round 12). The last m % 4 rows run one row at a time, the last n % 8
// columns as scalars; every sum runs over r in order from 0, and the bias is added to it after,
// as tfjs's separate Add does.

// c + a b per lane (Binaryen inlines it at -O3).
function mulAdd(c: v128, a: v128, b: v128): v128 {
  return f32x4.add(c, f32x4.mul(a, b));
}

// A class only to carry `@inline` (Prettier rejects a decorator on a plain function): the tile
// inlined at each of its two call sites in gemm, compiled once per form of A.
class Tiles {
  /**
   * Four rows i..i+3 of C at columns j..j+7 (pc, rows cRow bytes apart) from op(A)'s rows at pa and
   * a panel of op(B) (pb, rows bStep bytes apart: 32 in a copied panel), plus the bias at pbias
   * (0: none). `trans`:
   * op(A)[i + q, r] at pa + r * aK + 4q; else at pa + q * aRow + 4r. Either way each element is
   * loaded splat into the four lanes (one load each: a shuffle would take an arithmetic slot).
   */
  @inline static tile4x8(
    pa: usize,
    aRow: usize,
    aK: usize,
    trans: bool,
    pb: usize,
    bStep: usize,
    k: i32,
    pbias: usize,
    pc: usize,
    cRow: usize,
  ): void {
    // Bytes between the four rows' elements at one r: 4 (A^T: adjacent) or aRow.
    const q: usize = trans ? 4 : aRow;
    let c00 = f32x4.splat(0);
    let c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0);
    let c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0);
    let c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0);
    let c31 = f32x4.splat(0);
    for (let r = 0; r < k; r++) {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      const a0 = v128.load32_splat(pa);
      const a1 = v128.load32_splat(pa + q);
      const a2 = v128.load32_splat(pa + 2 * q);
      const a3 = v128.load32_splat(pa + 3 * q);
      c00 = mulAdd(c00, a0, b0);
      c01 = mulAdd(c01, a0, b1);
      c10 = mulAdd(c10, a1, b0);
      c11 = mulAdd(c11, a1, b1);
      c20 = mulAdd(c20, a2, b0);
      c21 = mulAdd(c21, a2, b1);
      c30 = mulAdd(c30, a3, b0);
      c31 = mulAdd(c31, a3, b1);
      pa += aK;
      pb += bStep;
    }
    if (pbias != 0) {
      const d0 = v128.load(pbias);
      const d1 = v128.load(pbias, 16);
      c00 = f32x4.add(c00, d0);
      c01 = f32x4.add(c01, d1);
      c10 = f32x4.add(c10, d0);
      c11 = f32x4.add(c11, d1);
      c20 = f32x4.add(c20, d0);
      c21 = f32x4.add(c21, d1);
      c30 = f32x4.add(c30, d0);
      c31 = f32x4.add(c31, d1);
    }
    v128.store(pc, c00);
    v128.store(pc, c01, 16);
    v128.store(pc + cRow, c10);
    v128.store(pc + cRow, c11, 16);
    v128.store(pc + 2 * cRow, c20);
    v128.store(pc + 2 * cRow, c21, 16);
    v128.store(pc + 3 * cRow, c30);
    v128.store(pc + 3 * cRow, c31, 16);
  }
}

/** One row of C at columns j..j+7 from op(A)'s row at pa (elements aK bytes apart) and a panel (rows bStep bytes apart). */
function tile1x8(
  pa: usize,
  aK: usize,
  pb: usize,
  bStep: usize,
  k: i32,
  pbias: usize,
  pc: usize,
): void {
  let c0 = f32x4.splat(0);
  let c1 = f32x4.splat(0);
  for (let r = 0; r < k; r++) {
    const a = v128.load32_splat(pa);
    c0 = mulAdd(c0, a, v128.load(pb));
    c1 = mulAdd(c1, a, v128.load(pb, 16));
    pa += aK;
    pb += bStep;
  }
  if (pbias != 0) {
    c0 = f32x4.add(c0, v128.load(pbias));
    c1 = f32x4.add(c1, v128.load(pbias, 16));
  }
  v128.store(pc, c0);
  v128.store(pc, c1, 16);
}

/** Copies op(B)[r, j..j+7] for every r to panel + 32 r: op(B)[r, j + q] at pb + r * bK + q * bCol. */
function packPanel(pb: usize, bK: usize, bCol: usize, k: i32, panel: usize): void {
  if (bCol == 4) {
    for (let r = 0; r < k; r++) {
      const src = pb + <usize>r * bK;
      const dst = panel + ((<usize>r) << 5);
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
    }
    return;
  }
  // op(B) = B^T: each of the 8 columns is a contiguous row of B. Four rows of B at a time, 4 x 4
  // blocks transposed in registers; the last k % 4 one by one.
  const k4 = k & ~3;
  for (let h: usize = 0; h < 2; h++) {
    const s0 = pb + h * 4 * bCol;
    const s1 = s0 + bCol;
    const s2 = s1 + bCol;
    const s3 = s2 + bCol;
    const dst = panel + (h << 4);
    for (let r = 0; r < k4; r += 4) {
      const o = (<usize>r) << 2;
      const x0 = v128.load(s0 + o);
      const x1 = v128.load(s1 + o);
      const x2 = v128.load(s2 + o);
      const x3 = v128.load(s3 + o);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      const d = dst + ((<usize>r) << 5);
      v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(d + 32, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
      v128.store(d + 64, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
      v128.store(d + 96, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
    }
  }
  for (let q = 0; q < 8; q++) {
    const src = pb + <usize>q * bCol;
    const dst = panel + ((<usize>q) << 2);
    for (let r = k4; r < k; r++)
      store<f32>(dst + ((<usize>r) << 5), load<f32>(src + <usize>r * bK));
  }
}

/**
 * Copies op(A) = A^T's rows i..i+3 (A's columns, at pa + r * aK + 4q for r < k) to strip + 16 r:
 * one v128 per r, so that a tile reads them in order (A's rows a power of two apart would
 * otherwise share a few cache sets, and each tile would fetch them again).
 */
function packStrip(pa: usize, aK: usize, k: i32, strip: usize): void {
  for (let r = 0; r < k; r++) v128.store(strip + ((<usize>r) << 4), v128.load(pa + <usize>r * aK));
}

/** Products of fewer rows read an untransposed B in place, not through a copied panel (see the top). */
const DIRECT_ROWS: i32 = 16;

/**
 * c float32[m, n] = op(a) op(b) (+ bias float32[n]): a float32[m, k], or float32[k, m] read as its
 * transpose (transA 1); b float32[k, n], or float32[n, k] read as its transpose (transB 1).
 * `panel`: scratch of k * 8 floats, and for transA another (m - m % 4) * k after them.
 */
export function gemm(
  a: usize,
  b: usize,
  bias: usize,
  c: usize,
  m: i32,
  k: i32,
  n: i32,
  transA: i32,
  transB: i32,
  panel: usize,
): void {
  const trans = transA != 0;
  // Bytes between op(A)'s rows, and between its elements along r; likewise op(B)'s along r and j.
  const aRow: usize = trans ? 4 : (<usize>k) << 2;
  const aK: usize = trans ? (<usize>m) << 2 : 4;
  const bK: usize = transB != 0 ? 4 : (<usize>n) << 2;
  const bCol: usize = transB != 0 ? (<usize>k) << 2 : 4;
  const row: usize = (<usize>n) << 2;
  const n8 = n & ~7;
  const m4 = m & ~3;
  const direct = transB == 0 && m < DIRECT_ROWS;
  const bStep: usize = direct ? bK : 32;
  // A^T: its four-row strips copied once, after the panel, each read in order by its tiles.
  const strips = panel + ((<usize>k) << 5);
  if (trans)
    for (let i = 0; i < m4; i += 4)
      packStrip(a + <usize>i * aRow, aK, k, strips + <usize>i * ((<usize>k) << 2));
  for (let j = 0; j < n8; j += 8) {
    const col = (<usize>j) << 2;
    const pbias = bias == 0 ? 0 : bias + col;
    if (!direct) packPanel(b + <usize>j * bCol, bK, bCol, k, panel);
    const pb = direct ? b + col : panel;
    // Two call sites, so that each inlined tile loop is compiled for one form of A.
    if (trans)
      for (let i = 0; i < m4; i += 4)
        Tiles.tile4x8(
          strips + <usize>i * ((<usize>k) << 2),
          4,
          16,
          true,
          pb,
          bStep,
          k,
          pbias,
          c + <usize>i * row + col,
          row,
        );
    else
      for (let i = 0; i < m4; i += 4)
        Tiles.tile4x8(
          a + <usize>i * aRow,
          aRow,
          aK,
          false,
          pb,
          bStep,
          k,
          pbias,
          c + <usize>i * row + col,
          row,
        );
    for (let i = m4; i < m; i++)
      tile1x8(a + <usize>i * aRow, aK, pb, bStep, k, pbias, c + <usize>i * row + col);
  }
  for (let i = 0; i < m; i++)
    for (let j = n8; j < n; j++) {
      let s: f32 = 0;
      let pa = a + <usize>i * aRow;
      let pb = b + <usize>j * bCol;
      for (let r = 0; r < k; r++) {
        s += load<f32>(pa) * load<f32>(pb);
        pa += aK;
        pb += bK;
      }
      if (bias != 0) s += load<f32>(bias + ((<usize>j) << 2));
      store<f32>(c + <usize>i * row + ((<usize>j) << 2), s);
    }
}

/** s float32[n] = the sums of x float32[rows, n] over its rows, in row order. */
export function columnSums(x: usize, s: usize, rows: i32, n: i32): void {
  const n4 = n & ~3;
  const row: usize = (<usize>n) << 2;
  memory.fill(s, 0, row);
  for (let r = 0; r < rows; r++) {
    const px = x + <usize>r * row;
    for (let j = 0; j < n4; j += 4) {
      const q = (<usize>j) << 2;
      v128.store(s + q, f32x4.add(v128.load(s + q), v128.load(px + q)));
    }
    for (let j = n4; j < n; j++) {
      const q = (<usize>j) << 2;
      store<f32>(s + q, load<f32>(s + q) + load<f32>(px + q));
    }
  }
}
