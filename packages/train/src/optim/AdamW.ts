// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay
// Regularization", Algorithm 2), with global-norm gradient clipping (Pascanu et al. 2013).
//
// For each parameter theta with gradient g at update t = 1, 2, ... and learning rate lr_t:
//
//   clip:   g <- g * min(1, c / (||G||_2 + 1e-6)),  ||G||_2 = sqrt(sum over all parameters of |g|^2)
//   m_t     = beta1 * m_{t-1} + (1 - beta1) * g
//   v_t     = beta2 * v_{t-1} + (1 - beta2) * g^2
//   mhat_t  = m_t / (1 - beta1^t),   vhat_t = v_t / (1 - beta2^t)
//   theta_t = theta_{t-1} - lr_t * (mhat_t / (sqrt(vhat_t) + eps) + lambda * theta_{t-1})
//
// The paper writes the last line eta_t * (alpha * mhat / (sqrt(vhat) + eps) + lambda * theta)
// with a schedule multiplier eta_t; here, as in PyTorch's and Optax's AdamW, the decay is scaled
// by the whole scheduled rate lr_t = alpha * eta_t, so lambda = 0.1 means what it means in
// GPT-style configs. lambda is 0 for parameters the decay predicate excludes (biases and norm
// gains by default). Parameters without a gradient in an update are left untouched (no moment
// update, no decay), as in PyTorch.
import {
  ConfigError,
  concatFlat,
  requireInt,
  requireNumber,
  splitFlat,
  tf,
  type NamedTensorMap,
  type Tensor,
  type Variable,
} from '@moderoute/core';
import type { HostTensor } from '../checkpoint/safetensors.js';
import { CheckpointError } from '../errors.js';

/** Decides whether a parameter gets weight decay, from its stable name and shape. */
export type DecayPredicate = (name: string, shape: readonly number[]) => boolean;

/** Last name segments that mark a bias or a normalisation gain/shift. */
const NO_DECAY_LEAF = /^(bias|biases|b\d*|beta|gamma|gain|g|scale)$|bias$/i;
/** Name segments of normalisation modules (every parameter inside is exempt). */
const NORM_SEGMENT = /^(ln\w*|\w*norm\w*)$/i;

/**
 * The default decay rule: decay every parameter except those whose dotted name says it is a bias
 * or belongs to a normalisation layer: the last segment is `bias`, `b`, `b1`, ..., `beta`,
 * `gamma`, `gain`, `g` or `scale` (or ends in `bias`), or any segment is `ln...` or contains
 * `norm` (`blocks.0.ln1.gamma`, `lnFinal.beta`, `blocks.2.mlp.b1` are exempt;
 * `blocks.0.attn.wQkv`, `embed.weight` decay).
 */
export const defaultDecayPredicate: DecayPredicate = (name) => {
  const segments = name.split(/[./]/);
  const leaf = segments[segments.length - 1] ?? '';
  return !(NO_DECAY_LEAF.test(leaf) || segments.some((s) => NORM_SEGMENT.test(s)));
};

export interface AdamWConfig {
  /** beta1, decay of the first moment; default 0.9. */
  readonly beta1?: number;
  /** beta2, decay of the second moment; default 0.95 (the GPT-3 setting for language models). */
  readonly beta2?: number;
  /** eps, added to sqrt(vhat); default 1e-8. */
  readonly epsilon?: number;
  /** lambda, decoupled weight decay; default 0.1. */
  readonly weightDecay?: number;
  /** c, maximum global gradient norm; default 1. 0 or Infinity disables clipping. */
  readonly clipNorm?: number;
  /** Which parameters get weight decay; default `defaultDecayPredicate`. */
  readonly decay?: DecayPredicate;
  /**
   * Floats per update chunk; default 2^18 (1 MB). Parameters are updated in chunks of about this
   * size (a larger parameter is a chunk of its own), each as one flat vector: a few kernels per
   * chunk instead of per parameter, and temporaries a few chunks large instead of a few times all
   * parameters.
   */
  readonly chunkFloats?: number;
}

/** What one update did. */
export interface AdamWStepResult {
  /** Global L2 norm of the gradients before clipping. */
  readonly gradNorm: number;
  /** False when the gradient norm was not finite: then nothing was changed. */
  readonly applied: boolean;
  /** The update count t after this call. */
  readonly step: number;
}

/** Prefixes of the optimizer state tensors (`m.<name>`, `v.<name>`) and the step tensor. */
export const OPTIMIZER_STATE = { step: 'step', m: 'm.', v: 'v.' } as const;

/** Where one parameter's moments sit in the flat moment buffers. */
interface Slot {
  readonly name: string;
  readonly shape: readonly number[];
  /** Offset in its chunk's flat vectors. */
  readonly offset: number;
  readonly size: number;
  readonly decays: boolean;
}

/** Consecutive parameters updated as one flat vector, with their moments. */
interface Chunk {
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

const DEFAULT_CHUNK_FLOATS = 1 << 18;

/**
 * AdamW over named variables. Owns its moment variables: call dispose() when done.
 *
 * The moments of all parameters live in two flat float32 buffers (parameter order, each
 * parameter one contiguous block), so that an update runs each equation above once over every
 * parameter: the gradients and parameters are flattened and concatenated (core's concatFlat),
 * the update is a dozen elementwise kernels on the flat vectors, and the new parameters are
 * split back (splitFlat) and assigned: 23 kernels per update. Per-parameter updates took 1028
 * kernels for the bench model's 54 parameters (10.6-12.3 ms on wasm against 7.0-7.3 now),
 * which cost more in dispatch than in arithmetic. The state is still exported and imported per
 * parameter name (`m.<name>`,
 * `v.<name>`), so checkpoints do not depend on this layout.
 */
export class AdamW {
  readonly className = 'AdamW';
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly clipNorm: number;
  private readonly slotOf = new Map<string, Slot>();
  private chunks: Chunk[] | undefined;
  private t = 0;

  constructor(
    readonly params: ReadonlyMap<string, Variable>,
    config: AdamWConfig = {},
  ) {
    this.beta1 = requireNumber('beta1', config.beta1 ?? 0.9, { min: 0, max: 1 });
    this.beta2 = requireNumber('beta2', config.beta2 ?? 0.95, { min: 0, max: 1 });
    if (this.beta1 >= 1) throw new ConfigError('beta1', this.beta1, 'a number in [0, 1)');
    if (this.beta2 >= 1) throw new ConfigError('beta2', this.beta2, 'a number in [0, 1)');
    this.epsilon = requireNumber('epsilon', config.epsilon ?? 1e-8, {
      min: 0,
      minInclusive: false,
    });
    this.weightDecay = requireNumber('weightDecay', config.weightDecay ?? 0.1, { min: 0 });
    const clip = config.clipNorm ?? 1;
    this.clipNorm = clip === Infinity ? 0 : requireNumber('clipNorm', clip, { min: 0 });
    const decay = config.decay ?? defaultDecayPredicate;
    const chunkFloats = requireInt('chunkFloats', config.chunkFloats ?? DEFAULT_CHUNK_FLOATS, {
      min: 1,
    });
    const groups: Slot[][] = [];
    let group: Slot[] = [];
    let offset = 0;
    for (const [name, p] of params) {
      if (p.dtype !== 'float32')
        throw new ConfigError(`params["${name}"].dtype`, p.dtype, 'float32');
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
      this.slotOf.set(name, slot);
      offset += p.size;
    }
    if (group.length > 0) groups.push(group);
    this.chunks = groups.map((slots) => {
      const size = slots.reduce((n, s) => n + s.size, 0);
      // tf.variable keeps its initial tensor alive beside it: dispose that one.
      const zeros = tf.zeros([size]);
      const m = tf.variable(zeros, false);
      const v = tf.variable(zeros, false);
      zeros.dispose();
      const decayed = slots.filter((s) => s.decays).reduce((n, s) => n + s.size, 0);
      let decayVector: Tensor | undefined;
      if (this.weightDecay > 0 && decayed > 0 && decayed < size) {
        const lambda = new Float32Array(size);
        for (const s of slots)
          if (s.decays) lambda.fill(this.weightDecay, s.offset, s.offset + s.size);
        decayVector = tf.tensor1d(lambda);
      }
      return { slots, size, m, v, decayVector, presence: undefined };
    });
  }

  /** The number of updates applied so far (t). */
  get step(): number {
    return this.t;
  }

  /** Whether `name` gets weight decay. */
  decaysParameter(name: string): boolean {
    return this.slotOf.get(name)?.decays ?? false;
  }

  getConfig(): {
    beta1: number;
    beta2: number;
    epsilon: number;
    weightDecay: number;
    clipNorm: number;
  } {
    return {
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: this.weightDecay,
      clipNorm: this.clipNorm,
    };
  }

  private chunkList(): Chunk[] {
    if (this.chunks === undefined)
      throw new ConfigError('optimizer', 'disposed', 'an AdamW that was not disposed');
    return this.chunks;
  }

  /** bool[size]: true where a chunk's parameter has a gradient in this update (cached by signature). */
  private presenceMask(chunk: Chunk, present: readonly boolean[]): Tensor {
    const key = present.map((x) => (x ? '1' : '0')).join('');
    if (chunk.presence?.key !== key) {
      chunk.presence?.mask.dispose();
      const mask = new Uint8Array(chunk.size);
      chunk.slots.forEach((s, i) => present[i] && mask.fill(1, s.offset, s.offset + s.size));
      chunk.presence = { key, mask: tf.keep(tf.tensor1d(mask, 'bool')) };
    }
    return chunk.presence.mask;
  }

  /**
   * Applies one update with learning rate `lr` (from the schedule). `grads` maps parameter
   * names to gradients of the same shapes; they stay owned by the caller.
   */
  apply(grads: ReadonlyMap<string, Tensor> | NamedTensorMap, lr: number): AdamWStepResult {
    requireNumber('lr', lr, { min: 0 });
    const entries: [string, Tensor][] =
      grads instanceof Map
        ? [...(grads as ReadonlyMap<string, Tensor>).entries()]
        : Object.entries(grads as NamedTensorMap);
    const byName = new Map<string, Tensor>();
    for (const [name, g] of entries) {
      const p = this.params.get(name);
      if (p === undefined)
        throw new ConfigError(
          'grads',
          name,
          `a parameter name of this optimizer (${this.params.size} known)`,
        );
      if (!tf.util.arraysEqual(g.shape, p.shape))
        throw new ConfigError(
          `grads["${name}"].shape`,
          g.shape,
          `[${p.shape.join(', ')}] like the parameter`,
        );
      byName.set(name, g);
    }
    const chunks = this.chunkList();
    // ||G||_2 over every gradient; read back once (it decides whether to apply, and is logged).
    const gradNorm =
      byName.size === 0
        ? 0
        : tf.tidy(
            () =>
              tf
                .sqrt(
                  tf.addN(
                    [...byName.values()].map((g) =>
                      tf.sum(tf.square(g.dtype === 'float32' ? g : tf.cast(g, 'float32'))),
                    ),
                  ),
                )
                .dataSync()[0] as number,
          );
    if (!Number.isFinite(gradNorm)) return { gradNorm, applied: false, step: this.t };

    const t = this.t + 1;
    const scale = this.clipNorm > 0 ? Math.min(1, this.clipNorm / (gradNorm + 1e-6)) : 1;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    for (const chunk of chunks) {
      const present = chunk.slots.map((s) => byName.has(s.name));
      if (!present.some((x) => x)) continue;
      // The chunk's gradients as one flat vector, zeros for parameters without one. Each
      // expression runs in its own tidy and frees its temporaries at once, so an update holds
      // only a few chunk-sized buffers.
      tf.tidy(() => {
        const { m, v } = chunk;
        const g = tf.tidy(() => {
          const flat = concatFlat(
            chunk.slots.map((s) => {
              const grad = byName.get(s.name);
              if (grad === undefined) return tf.zeros([s.size]);
              return grad.dtype === 'float32' ? grad : tf.cast(grad, 'float32');
            }),
          );
          return scale === 1 ? flat : tf.mul(flat, scale);
        });
        let mNew = tf.tidy(() => tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        let vNew = tf.tidy(() =>
          tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)),
        );
        g.dispose();
        const p = concatFlat(chunk.slots.map((s) => this.params.get(s.name) as Variable));
        const anyDecay = this.weightDecay > 0 && chunk.slots.some((s, i) => present[i] && s.decays);
        let pNew = tf.tidy(() => {
          // mhat / (sqrt(vhat) + eps)
          const adam = tf.tidy(() =>
            tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), this.epsilon)),
          );
          const delta = !anyDecay
            ? adam
            : tf.tidy(() =>
                tf.add(
                  adam,
                  chunk.decayVector !== undefined
                    ? tf.mul(p, chunk.decayVector)
                    : tf.mul(p, this.weightDecay),
                ),
              );
          return tf.sub(p, tf.mul(delta, lr));
        });
        if (!present.every((x) => x)) {
          // Parameters without a gradient keep their weights and moments.
          const mask = this.presenceMask(chunk, present);
          mNew = tf.where(mask, mNew, m);
          vNew = tf.where(mask, vNew, v);
          pNew = tf.where(mask, pNew, p);
        }
        m.assign(mNew);
        v.assign(vNew);
        const parts = splitFlat(
          pNew,
          chunk.slots.map((s) => s.shape),
        );
        chunk.slots.forEach((s, i) => {
          if (present[i]) (this.params.get(s.name) as Variable).assign(parts[i] as Tensor);
        });
      });
    }
    this.t = t;
    return { gradNorm, applied: true, step: t };
  }

  getState(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    out.set(OPTIMIZER_STATE.step, tf.scalar(this.t, 'int32'));
    for (const chunk of this.chunkList()) {
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
    return out;
  }

  /**
   * Restores a state written by getState. Every name and shape is checked before anything is
   * assigned, so a mismatched state changes nothing. `file` names the source in errors.
   */
  setState(state: ReadonlyMap<string, Tensor | HostTensor>, file = 'optimizer state'): void {
    this.chunkList();
    const expected = new Map<string, readonly number[]>([[OPTIMIZER_STATE.step, []]]);
    for (const [name, p] of this.params) {
      expected.set(OPTIMIZER_STATE.m + name, p.shape);
      expected.set(OPTIMIZER_STATE.v + name, p.shape);
    }
    const problems = compareShapes(expected, new Map([...state].map(([k, t]) => [k, t.shape])));
    if (problems.length > 0)
      throw new CheckpointError(
        file,
        'mismatch',
        `does not match the model's parameters: ${problems.join('; ')}`,
      );
    const stepEntry = state.get(OPTIMIZER_STATE.step) as Tensor | HostTensor;
    const step = (
      stepEntry instanceof tf.Tensor ? stepEntry.dataSync()[0] : stepEntry.data[0]
    ) as number;
    if (!Number.isInteger(step) || step < 0)
      throw new CheckpointError(file, 'corrupt', `has step ${step}, not an integer >= 0`);
    const flat = (chunk: Chunk, prefix: string): Tensor => {
      const host = new Float32Array(chunk.size);
      for (const s of chunk.slots) {
        const x = state.get(prefix + s.name) as Tensor | HostTensor;
        host.set(x instanceof tf.Tensor ? x.dataSync() : x.data, s.offset);
      }
      return tf.tensor1d(host);
    };
    tf.tidy(() => {
      for (const chunk of this.chunkList()) {
        chunk.m.assign(flat(chunk, OPTIMIZER_STATE.m));
        chunk.v.assign(flat(chunk, OPTIMIZER_STATE.v));
      }
    });
    this.t = step;
  }

  /** Frees the moment variables (not the parameters). */
  dispose(): void {
    for (const chunk of this.chunks ?? [])
      tf.dispose(
        [chunk.m, chunk.v, chunk.decayVector, chunk.presence?.mask].filter(
          (x): x is Tensor => x !== undefined,
        ),
      );
    this.chunks = undefined;
  }
}

/**
 * Compares expected names and shapes with actual ones; returns one message per difference
 * (missing, unexpected, wrong shape), at most 8 of each kind, empty when they agree.
 */
export function compareShapes(
  expected: ReadonlyMap<string, readonly number[]>,
  actual: ReadonlyMap<string, readonly number[]>,
): string[] {
  const list = (xs: string[]) =>
    xs.length > 8 ? `${xs.slice(0, 8).join(', ')} and ${xs.length - 8} more` : xs.join(', ');
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const unexpected = [...actual.keys()].filter((k) => !expected.has(k));
  const wrong = [...expected]
    .filter(
      ([k, s]) => actual.has(k) && !tf.util.arraysEqual(actual.get(k) as number[], s as number[]),
    )
    .map(
      ([k, s]) =>
        `${k} has shape [${(actual.get(k) as number[]).join(', ')}], expected [${s.join(', ')}]`,
    );
  const out: string[] = [];
  if (missing.length) out.push(`missing ${list(missing)}`);
  if (unexpected.length) out.push(`unexpected ${list(unexpected)}`);
  if (wrong.length) out.push(list(wrong));
  return out;
}
