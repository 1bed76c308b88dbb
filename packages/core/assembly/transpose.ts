// Transposes of float32 tensors on the memory of the wasm backend that runs them (issue 19): every
// argument but the sizes is a byte offset of a tensor's data in that memory. AssemblyScript,
// compiled by scripts/build-wasm-kernels.mjs; src/primitives/transposeKernel.ts collapses a
// permutation to one of these forms first. A pure data move: floats are moved as 32-bit patterns
// (loads, shuffles, stores; no arithmetic), so NaN payloads, infinities and -0 stay bit for bit.
//
// transposeSwap: y[b, j, i] = x[b, i, j] for x [n, r, c], in TILE x TILE tiles (both tiles stay in
// the first-level cache) of 4 x 4 blocks: four v128 rows, transposed by two rounds of shuffles
// (interleave pairs of rows, then pairs of 64-bit halves), four v128 stores. Rows r % 4 and
// columns c % 4 at the edges move one float at a time.
// transposeBlocks: y[b, j, i, :] = x[b, i, j, :] for x [n, a, b', k]: whole blocks of k floats,
// v128 at a time, written in order.

/** The four rows of the 4 x 4 block of x at row i, column j (row stride `rs` bytes) to y's. */
// A class only to carry `@inline` (Prettier rejects a decorator on a plain function).
class Block {
  @inline static move(x: usize, y: usize, xs: usize, ys: usize): void {
    const a0 = v128.load(x);
    const a1 = v128.load(x + xs);
    const a2 = v128.load(x + 2 * xs);
    const a3 = v128.load(x + 3 * xs);
    // [a00 a10 a01 a11], [a02 a12 a03 a13], [a20 a30 a21 a31], [a22 a32 a23 a33]
    const t0 = i32x4.shuffle(a0, a1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(a0, a1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(a2, a3, 0, 4, 1, 5);
    const t3 = i32x4.shuffle(a2, a3, 2, 6, 3, 7);
    v128.store(y, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(y + ys, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
    v128.store(y + 2 * ys, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
    v128.store(y + 3 * ys, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
  }
}

/** One [r, c] matrix at x to its transpose [c, r] at y. */
function swapOne(x: usize, y: usize, r: i32, c: i32): void {
  const xs = (<usize>c) << 2;
  const ys = (<usize>r) << 2;
  const r4 = r & ~3;
  const r16 = r & ~15;
  const c4 = c & ~3;
  // 16 rows at a time: each step writes 64 bytes (a cache line) of four rows of y.
  for (let i = 0; i < r16; i += 16) {
    const xi = x + <usize>i * xs;
    const yi = y + ((<usize>i) << 2);
    for (let j = 0; j < c4; j += 4) {
      const xj = xi + ((<usize>j) << 2);
      const yj = yi + <usize>j * ys;
      Block.move(xj, yj, xs, ys);
      Block.move(xj + 4 * xs, yj + 16, xs, ys);
      Block.move(xj + 8 * xs, yj + 32, xs, ys);
      Block.move(xj + 12 * xs, yj + 48, xs, ys);
    }
  }
  for (let i = r16; i < r4; i += 4)
    for (let j = 0; j < c4; j += 4)
      Block.move(
        x + <usize>i * xs + ((<usize>j) << 2),
        y + ((<usize>i) << 2) + <usize>j * ys,
        xs,
        ys,
      );
  // The last c % 4 columns of the first r4 rows, then the last r % 4 rows.
  for (let i = 0; i < r4; i++)
    for (let j = c4; j < c; j++)
      store<u32>(
        y + <usize>j * ys + ((<usize>i) << 2),
        load<u32>(x + <usize>i * xs + ((<usize>j) << 2)),
      );
  for (let i = r4; i < r; i++)
    for (let j = 0; j < c; j++)
      store<u32>(
        y + <usize>j * ys + ((<usize>i) << 2),
        load<u32>(x + <usize>i * xs + ((<usize>j) << 2)),
      );
}

/** y [n, c, r] from x [n, r, c]: each of the n matrices transposed. */
export function transposeSwap(x: usize, y: usize, n: i32, r: i32, c: i32): void {
  const size = <usize>r * <usize>c * 4;
  for (let b = 0; b < n; b++) swapOne(x + <usize>b * size, y + <usize>b * size, r, c);
}

/** y [n, b, a, k] from x [n, a, b, k]: the middle two axes swapped, blocks of k floats whole. */
export function transposeBlocks(x: usize, y: usize, n: i32, a: i32, b: i32, k: i32): void {
  const kb = (<usize>k) << 2;
  const k16 = kb & ~15;
  const rowA = <usize>b * kb; // x's stride along a
  let dst = y;
  for (let m = 0; m < n; m++) {
    const xm = x + <usize>m * <usize>a * rowA;
    for (let j = 0; j < b; j++) {
      let src = xm + <usize>j * kb;
      for (let i = 0; i < a; i++) {
        let o: usize = 0;
        for (; o < k16; o += 16) v128.store(dst + o, v128.load(src + o));
        for (; o < kb; o += 4) store<u32>(dst + o, load<u32>(src + o));
        dst += kb;
        src += rowA;
      }
    }
  }
}

/** y from x, `n` floats (the identity permutation). */
export function copyFloats(x: usize, y: usize, n: i32): void {
  memory.copy(y, x, (<usize>n) << 2);
}
