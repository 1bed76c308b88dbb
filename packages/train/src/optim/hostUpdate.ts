// AdamW's update (AdamW.ts, Loshchilov & Hutter 2019, Algorithm 2, with global-norm clipping)
// on host arrays: one pass per parameter block over its weights, gradients and moments, in float64
// per element, stored as float32.
//
// On backends whose tensors live in host memory (wasm, cpu), the update is memory traffic and
// kernel dispatch: the tensor form runs a dozen elementwise kernels per chunk, each a pass over
// the chunk (about 7 ms a step at the bench config on wasm). A single pass here reads each array
// once (about 3 ms for the same 875k parameters on one thread), and it runs on plain arrays,
// which may be SharedArrayBuffers: so the data-parallel step combines the replicas' gradients
// inside the same pass (g = sum_r share_r g_r, straight from each replica's buffer) and splits
// the parameters among the replicas, each updating its own range (ZeRO stage 1 of Rajbhandari et
// al. 2020, with the moments in memory every thread sees).
// Axis legend: P parameters (flat, parameter blocks one after another), R replicas.

/** One parameter's block in the flat arrays. */
export interface HostSlot {
  readonly size: number;
  /** Offset of the block in the weights array. */
  readonly p: number;
  /** Offset of the block in each gradient source and in the moment arrays. */
  readonly g: number;
  /** lambda, its decoupled weight decay (0 when exempt). */
  readonly decay: number;
}

/** A replica's gradients (flat, parameter blocks at HostSlot.g) and its share of the batch. */
export interface GradientSource {
  readonly data: Float32Array<ArrayBufferLike>;
  readonly share: number;
}

/** The per-update constants of AdamW.ts's equations. */
export interface HostUpdateScalars {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** lr_t, the scheduled learning rate. */
  readonly lr: number;
  /** The clipping factor min(1, c / (||G|| + 1e-6)), 1 without clipping. */
  readonly scale: number;
  /** The update count t (from 1): the bias corrections are 1 - beta^t. */
  readonly t: number;
}

/**
 * sum over slots[from..to) that are `present` of |sum_r share_r g_r|^2 (the squared global norm
 * of the combined gradient, over those slots).
 */
export function combinedSumOfSquares(slots: readonly HostSlot[], present: readonly boolean[], sources: readonly GradientSource[], from = 0, to = slots.length): number {
  let total = 0;
  const d0 = sources[0]?.data;
  const d1 = sources[1]?.data;
  const a = sources[0]?.share ?? 0;
  const b = sources[1]?.share ?? 0;
  for (let s = from; s < to; s++) {
    if (!present[s] || d0 === undefined) continue;
    const start = slots[s]!.g;
    const end = start + slots[s]!.size;
    // Loops per source count, as in hostAdamWUpdate.
    if (d1 === undefined) {
      for (let j = start; j < end; j++) total += (a * (d0[j] as number)) ** 2;
    } else if (sources.length === 2) {
      for (let j = start; j < end; j++) total += (a * (d0[j] as number) + b * (d1[j] as number)) ** 2;
    } else {
      for (let j = start; j < end; j++) {
        let g = 0;
        for (const src of sources) g += src.share * (src.data[j] as number);
        total += g * g;
      }
    }
  }
  return total;
}

let scratch = new Float32Array(0);

/** A scratch array of at least `n` floats (the combined gradient of three or more sources). */
function scratchOf(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch;
}

/**
 * theta, m, v of slots[from..to) that are `present` updated in place by one AdamW step on the
 * combined gradient g = scale * sum_r share_r g_r (AdamW.ts, top of file):
 *   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
 *   theta = theta - lr (mhat / (sqrt(vhat) + eps) + lambda theta).
 */
export function hostAdamWUpdate(
  slots: readonly HostSlot[],
  present: readonly boolean[],
  sources: readonly GradientSource[],
  weights: Float32Array<ArrayBufferLike>,
  m: Float32Array<ArrayBufferLike>,
  v: Float32Array<ArrayBufferLike>,
  k: HostUpdateScalars,
  from = 0,
  to = slots.length,
): void {
  const { beta1, beta2, epsilon, lr } = k;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const inverseBc1 = 1 / (1 - beta1 ** k.t);
  const inverseBc2 = 1 / (1 - beta2 ** k.t);
  // The scale folds into each source's share. The loop reads two sources, g = a d0 + b d1: one
  // source is itself twice with b = 0, and three or more are first summed into a scratch array.
  // (V8 does not hoist a test of the source count out of the loop: a loop over the sources, or
  // a helper per element, runs about 2x slower.)
  const shares = sources.map((src) => src.share * k.scale);
  if (sources.length === 0) return;
  const many = sources.length > 2;
  const d0 = many ? scratchOf(sources[0]!.data.length) : sources[0]!.data;
  const d1 = many || sources.length === 1 ? d0 : sources[1]!.data;
  const a = many ? 1 : shares[0]!;
  const b = many || sources.length === 1 ? 0 : shares[1]!;
  for (let s = from; s < to; s++) {
    if (!present[s]) continue;
    const slot = slots[s]!;
    const start = slot.g;
    const end = start + slot.size;
    const shift = slot.p - start;
    const decay = slot.decay;
    if (many) {
      d0.fill(0, start, end);
      sources.forEach((src, r) => {
        for (let j = start; j < end; j++) d0[j] = (d0[j] as number) + (shares[r] as number) * (src.data[j] as number);
      });
    }
    for (let j = start; j < end; j++) {
      const g = a * (d0[j] as number) + b * (d1[j] as number);
      const mj = beta1 * (m[j] as number) + c1 * g;
      const vj = beta2 * (v[j] as number) + c2 * g * g;
      m[j] = mj;
      v[j] = vj;
      const theta = weights[j + shift] as number;
      weights[j + shift] = theta - lr * ((mj * inverseBc1) / (Math.sqrt(vj * inverseBc2) + epsilon) + decay * theta);
    }
  }
}

/**
 * Splits slots into `parts` contiguous ranges of about equal total size (at slot boundaries):
 * the replicas' shares of a sharded update. Returns parts + 1 boundaries, from 0 to slots.length.
 */
export function splitSlots(slots: readonly HostSlot[], parts: number): number[] {
  const total = slots.reduce((n, s) => n + s.size, 0);
  const bounds = [0];
  let acc = 0;
  let s = 0;
  for (let part = 1; part < parts; part++) {
    const target = (total * part) / parts;
    // Take slots while the boundary gets closer to the target.
    while (s < slots.length && Math.abs(acc + slots[s]!.size - target) <= Math.abs(acc - target)) acc += slots[s++]!.size;
    bounds.push(s);
  }
  bounds.push(slots.length);
  return bounds;
}
