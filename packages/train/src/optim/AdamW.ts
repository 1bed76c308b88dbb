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
  adamwUpdate,
  adamwUpdateParts,
  ConfigError,
  ownAdamWPartsKernels,
  concatFlat,
  requireInt,
  requireNumber,
  splitFlat,
  tf,
  type AdamWUpdateOptions,
  type NamedTensorMap,
  type Tensor,
  type Variable,
} from '@moderoute/core';
import { isLaterParameter } from '../checkpoint/laterParameters.js';
import type { HostTensor } from '../checkpoint/safetensors.js';
import { CheckpointError } from '../errors.js';
import {
  OPTIMIZER_STATE,
  defaultDecayPredicate,
  type AdamWConfig,
  type AdamWStepResult,
} from './adamwConfig.js';
import { compareShapes } from './compareShapes.js';
import {
  DEFAULT_CHUNK_FLOATS,
  buildChunks,
  chunkState,
  flatMoment,
  presenceMask,
  type Chunk,
  type Slot,
} from './flatMoments.js';
import { checkedGradients, globalGradNorm } from './gradients.js';

export * from './adamwConfig.js';
export { compareShapes } from './compareShapes.js';

/**
 * AdamW over named variables. Owns its moment variables: call dispose() when done.
 *
 * The moments of all parameters live in two flat float32 buffers (parameter order, each
 * parameter one contiguous block), so that an update runs each equation above once over every
 * parameter: the gradients and parameters are flattened and concatenated (core's concatFlat),
 * the update is a dozen elementwise kernels on the flat vectors, and the new parameters are
 * split back (splitFlat) and assigned: 23 kernels per update, where per-parameter updates took
 * 1028 kernels for the bench model's 54 parameters, which cost more in dispatch than in
 * arithmetic (docs/performance.md, round 2). The state is still exported and imported per
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
    this.chunks = buildChunks(params, decay, chunkFloats, this.weightDecay, this.slotOf);
  }

  /** The number of updates applied so far (t). */
  get step(): number {
    return this.t;
  }

  /** Whether `name` gets weight decay. */
  decaysParameter(name: string): boolean {
    return this.slotOf.get(name)?.decays ?? false;
  }

  /** The optimizer's hyperparameters, defaults filled. */
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

  /**
   * Applies one update with learning rate `lr` (from the schedule). `grads` maps parameter
   * names to gradients of the same shapes; they stay owned by the caller.
   */
  apply(grads: ReadonlyMap<string, Tensor> | NamedTensorMap, lr: number): AdamWStepResult {
    requireNumber('lr', lr, { min: 0 });
    const byName = checkedGradients(this.params, grads);
    const chunks = this.chunkList();
    // ||G||_2 over every gradient; read back once (it decides whether to apply, and is logged).
    const gradNorm = globalGradNorm(byName);
    if (!Number.isFinite(gradNorm)) return { gradNorm, applied: false, step: this.t };

    const t = this.t + 1;
    const scale = this.clipNorm > 0 ? Math.min(1, this.clipNorm / (gradNorm + 1e-6)) : 1;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const scalars = {
      scale,
      beta1: this.beta1,
      beta2: this.beta2,
      bc1,
      bc2,
      epsilon: this.epsilon,
    };
    for (const chunk of chunks) {
      const present = chunk.slots.map((s) => byName.has(s.name));
      if (!present.some((x) => x)) continue;
      if (ownAdamWPartsKernels()) {
        this.applyParts(chunk, byName, { ...scalars, lr });
        continue;
      }
      // The chunk's gradients as one flat vector, zeros for parameters without one. Each
      // expression runs in its own tidy and frees its temporaries at once, so an update holds
      // only a few chunk-sized buffers.
      tf.tidy(() => {
        const { m, v } = chunk;
        const g = tf.tidy(() =>
          concatFlat(
            chunk.slots.map((s) => {
              const grad = byName.get(s.name);
              if (grad === undefined) return tf.zeros([s.size]);
              return grad.dtype === 'float32' ? grad : tf.cast(grad, 'float32');
            }),
          ),
        );
        const p = concatFlat(chunk.slots.map((s) => this.params.get(s.name) as Variable));
        const anyDecay = this.weightDecay > 0 && chunk.slots.some((s, i) => present[i] && s.decays);
        // The clip's scale, the moments and the decoupled decay in one update (core's adamwUpdate:
        // one own kernel on wasm).
        let [mNew, vNew, pNew] = adamwUpdate(g, m, v, p, {
          ...scalars,
          lr,
          decay: !anyDecay ? undefined : (chunk.decayVector ?? this.weightDecay),
        });
        g.dispose();
        if (!present.every((x) => x)) {
          // Parameters without a gradient keep their weights and moments.
          const mask = presenceMask(chunk, present);
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

  /**
   * One chunk's update where the own kernels serve: each parameter with a gradient updated where
   * it lies (adamwUpdateParts, one kernel), without gathering the chunk's gradients and
   * parameters into flat vectors and splitting the result; the same values as the flat update.
   */
  private applyParts(
    chunk: Chunk,
    byName: ReadonlyMap<string, Tensor>,
    options: Omit<AdamWUpdateOptions, 'decay'>,
  ): void {
    tf.tidy(() => {
      const slots = chunk.slots.filter((s) => byName.has(s.name));
      const parts = slots.map((s) => {
        const grad = byName.get(s.name)!;
        return {
          g: grad.dtype === 'float32' ? grad : tf.cast(grad, 'float32'),
          p: this.params.get(s.name) as Variable,
          offset: s.offset,
          decay: s.decays ? this.weightDecay : 0,
        };
      });
      const next = adamwUpdateParts(parts, chunk.m, chunk.v, options);
      chunk.m.assign(next.m);
      chunk.v.assign(next.v);
      slots.forEach((s, i) => (this.params.get(s.name) as Variable).assign(next.params[i]!));
    });
  }

  /**
   * The optimizer's state as named tensors (step and moments), for checkpoints; the caller frees
   * them.
   */
  getState(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    out.set(OPTIMIZER_STATE.step, tf.scalar(this.t, 'int32'));
    for (const chunk of this.chunkList()) chunkState(chunk, out);
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
      // A parameter added after the checkpoint was written starts with zero moments.
      if (isLaterParameter(name) && !state.has(OPTIMIZER_STATE.m + name)) continue;
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
    tf.tidy(() => {
      for (const chunk of this.chunkList()) {
        chunk.m.assign(flatMoment(chunk, state, OPTIMIZER_STATE.m));
        chunk.v.assign(flatMoment(chunk, state, OPTIMIZER_STATE.v));
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
