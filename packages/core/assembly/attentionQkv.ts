// The attention core on a block's Q/K/V projection where it lies (src/primitives/
// attentionQkvKernel.ts): attention.ts's passes with the rows of each head read from qkv
// float32[B T, 3 D] (Q, K, V side by side, heads of Dh inside each: rows 3 D floats apart) and
// the output, or its gradient, float32[B T, D] with the heads merged (rows D floats apart).

import { attend, attendBackward } from './attention';

/**
 * The attention core on a projection qkv float32[B T, 3 D] (Q, K, V side by side, heads of Dh
 * inside each), into o float32[B T, D] with the heads merged, and p float32[B H, T, T]: the
 * heads read and written where they lie, no split or merge. Otherwise attentionForward's.
 */
export function attentionQkvForward(
  qkv: usize,
  bias: usize,
  o: usize,
  p: usize,
  scratch: usize,
  b: i32,
  t: i32,
  dh: i32,
  heads: i32,
  biasBatches: i32,
  biasRows: i32,
  scale: f32,
): void {
  const d = <usize>heads * <usize>dh * 4;
  const head = <usize>dh * 4;
  const xRow = 3 * d;
  attend(
    qkv,
    qkv + d,
    qkv + 2 * d,
    <usize>t * xRow,
    head,
    xRow,
    bias,
    o,
    <usize>t * d,
    head,
    d,
    p,
    scratch,
    b * heads,
    t,
    dh,
    heads,
    biasBatches,
    biasRows,
    scale,
  );
}

/**
 * attentionQkvForward's backward: dqkv float32[B T, 3 D] from dout float32[B T, D], the
 * forward's qkv and p, and its bias (only whether it is causal is read). Scratch as
 * attentionBackward's.
 */
export function attentionQkvBackward(
  dout: usize,
  qkv: usize,
  p: usize,
  bias: usize,
  dqkv: usize,
  scratch: usize,
  b: i32,
  t: i32,
  dh: i32,
  heads: i32,
  biasBatches: i32,
  biasRows: i32,
  scale: f32,
): void {
  const d = <usize>heads * <usize>dh * 4;
  const head = <usize>dh * 4;
  const xRow = 3 * d;
  attendBackward(
    dout,
    <usize>t * d,
    head,
    d,
    qkv,
    qkv + d,
    qkv + 2 * d,
    p,
    bias,
    dqkv,
    dqkv + d,
    dqkv + 2 * d,
    <usize>t * xRow,
    head,
    xRow,
    scratch,
    b * heads,
    t,
    dh,
    heads,
    biasBatches,
    biasRows,
    scale,
  );
}
