// AdamW's flat moment buffers: consecutive parameters grouped into chunks, each updated as one
// flat vector with its moments (AdamW.ts says why), and the conversions between a chunk and the
// per-parameter state that checkpoints hold.
import { ConfigError, tf, type Tensor, type Variable } from '@moderoute/core';
import type { HostTensor } from '../checkpoint/safetensors.js';
import { OPTIMIZER_STATE, type DecayPredicate } from './adamwConfig.js';

/** Where one parameter's moments sit in the flat moment buffers. */
export interface Slot {
  readonly name: string;
  readonly shape: readonly number[];
  /** Offset in its chunk's flat vectors. */
  readonly offset: number;
  readonly size: number;
  readonly decays: boolean;
}

/** Consecutive parameters updated as one flat vector, with their moments. */
export interface Chunk {
  readonly slots: readonly Slot[];
  readonly size: number;
  /** float32[size] first and second moments, parameter blocks in `slots` order. */
  readonly m: Variable;
  readonly v: Variable;
  /** float32[size]: lambda for decayed parameters, 0 elsewhere (undefined when all or none decay). */
  readonly decayVector: Tensor | undefined;
  /** bool[size] for the last partial gradient set, by its presence signature. */
  presence: { key: string; mask: Tensor } | undefined;
}

/** Default most floats per chunk. */
export const DEFAULT_CHUNK_FLOATS = 1 << 18;

/**
 * Groups `params` into chunks of at most `chunkFloats` floats (a parameter larger than that is a
 * chunk of its own) with zeroed moments, and records each parameter's slot in `slotOf`.
 */
export function buildChunks(
  params: ReadonlyMap<string, Variable>,
  decay: DecayPredicate,
  chunkFloats: number,
  weightDecay: number,
  slotOf: Map<string, Slot>,
): Chunk[] {
  const groups: Slot[][] = [];
  let group: Slot[] = [];
  let offset = 0;
  for (const [name, p] of params) {
    if (p.dtype !== 'float32') throw new ConfigError(`params["${name}"].dtype`, p.dtype, 'float32');
    if (group.length > 0 && offset + p.size > chunkFloats) {
      groups.push(group);
      group = [];
      offset = 0;
    }
    const slot = {
      name,
      shape: [...p.shape],
      offset,
      size: p.size,
      decays: decay(name, p.shape),
    };
    group.push(slot);
    slotOf.set(name, slot);
    offset += p.size;
  }
  if (group.length > 0) groups.push(group);
  return groups.map((slots) => {
    const size = slots.reduce((n, s) => n + s.size, 0);
    // tf.variable keeps its initial tensor alive beside it: dispose that one.
    const zeros = tf.zeros([size]);
    const m = tf.variable(zeros, false);
    const v = tf.variable(zeros, false);
    zeros.dispose();
    const decayed = slots.filter((s) => s.decays).reduce((n, s) => n + s.size, 0);
    let decayVector: Tensor | undefined;
    if (weightDecay > 0 && decayed > 0 && decayed < size) {
      const lambda = new Float32Array(size);
      for (const s of slots) if (s.decays) lambda.fill(weightDecay, s.offset, s.offset + s.size);
      decayVector = tf.tensor1d(lambda);
    }
    return { slots, size, m, v, decayVector, presence: undefined };
  });
}

/**
 * bool[size]: true where a chunk's parameter has a gradient in this update (cached on the chunk
 * by presence signature).
 */
export function presenceMask(chunk: Chunk, present: readonly boolean[]): Tensor {
  const key = present.map((x) => (x ? '1' : '0')).join('');
  if (chunk.presence?.key !== key) {
    chunk.presence?.mask.dispose();
    const mask = new Uint8Array(chunk.size);
    chunk.slots.forEach((s, i) => present[i] && mask.fill(1, s.offset, s.offset + s.size));
    chunk.presence = { key, mask: tf.keep(tf.tensor1d(mask, 'bool')) };
  }
  return chunk.presence.mask;
}

/** Adds a chunk's moments to `out` per parameter name (`m.<name>`, `v.<name>`). */
export function chunkState(chunk: Chunk, out: Map<string, Tensor>): void {
  // One read of each buffer; every slice is copied into a tensor of its own.
  const mHost = chunk.m.dataSync() as Float32Array;
  const vHost = chunk.v.dataSync() as Float32Array;
  for (const s of chunk.slots) {
    out.set(
      OPTIMIZER_STATE.m + s.name,
      tf.tensor(mHost.slice(s.offset, s.offset + s.size), s.shape as number[], 'float32'),
    );
    out.set(
      OPTIMIZER_STATE.v + s.name,
      tf.tensor(vHost.slice(s.offset, s.offset + s.size), s.shape as number[], 'float32'),
    );
  }
}

/**
 * A chunk's flat moment (`prefix` m. or v.) gathered from a state by parameter name; zeros for a
 * parameter the state lacks (AdamW.setState allows that only for parameters added later).
 */
export function flatMoment(
  chunk: Chunk,
  state: ReadonlyMap<string, Tensor | HostTensor>,
  prefix: string,
): Tensor {
  const host = new Float32Array(chunk.size);
  for (const s of chunk.slots) {
    const x = state.get(prefix + s.name);
    if (x === undefined) continue;
    host.set(x instanceof tf.Tensor ? x.dataSync() : x.data, s.offset);
  }
  return tf.tensor1d(host);
}
