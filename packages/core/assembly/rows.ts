// The row scatter-add of src/primitives/gather.ts (a gather's gradient: the embedding table's,
// duplicate ids summed), on the memory of the wasm backend that runs it: every argument but the
// sizes is a byte offset of a tensor's data in that memory. AssemblyScript, compiled by
// scripts/build-wasm-kernels.mjs; the same sums in the same order as gather.ts's JavaScript
// kernel (out zeroed, then each row added in index order), so the two agree to the bit.
// Indices are checked by the caller. 128-bit SIMD over 4 floats, a scalar loop for the last d % 4.

/** out float32[numRows, d] = 0, then out[idx[i]] += rows[i] for i = 0..m-1 (repeated indices sum). */
export function scatterAddRows(
  rows: usize,
  idx: usize,
  out: usize,
  m: i32,
  d: i32,
  numRows: i32,
): void {
  const rowBytes = (<usize>d) << 2;
  memory.fill(out, 0, <usize>numRows * rowBytes);
  const d4 = d & ~3;
  for (let i = 0; i < m; i++) {
    const o = out + <usize>load<i32>(idx + ((<usize>i) << 2)) * rowBytes;
    const s = rows + <usize>i * rowBytes;
    for (let j = 0; j < d4; j += 4) {
      const q = (<usize>j) << 2;
      v128.store(o + q, f32x4.add(v128.load(o + q), v128.load(s + q)));
    }
    for (let j = d4; j < d; j++) {
      const q = (<usize>j) << 2;
      store<f32>(o + q, load<f32>(o + q) + load<f32>(s + q));
    }
  }
}
