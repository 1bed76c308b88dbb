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
import { ConfigError, requireInt, requireNumber, tf, type NamedTensorMap, type Tensor, type Variable } from '@moderoute/core';
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

/** AdamW over named variables. Owns its moment variables: call dispose() when done. */
export class AdamW {
  readonly className = 'AdamW';
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly clipNorm: number;
  private readonly decays = new Map<string, boolean>();
  private readonly m = new Map<string, Variable>();
  private readonly v = new Map<string, Variable>();
  private t = 0;

  constructor(
    readonly params: ReadonlyMap<string, Variable>,
    config: AdamWConfig = {},
  ) {
    this.beta1 = requireNumber('beta1', config.beta1 ?? 0.9, { min: 0, max: 1 });
    this.beta2 = requireNumber('beta2', config.beta2 ?? 0.95, { min: 0, max: 1 });
    if (this.beta1 >= 1) throw new ConfigError('beta1', this.beta1, 'a number in [0, 1)');
    if (this.beta2 >= 1) throw new ConfigError('beta2', this.beta2, 'a number in [0, 1)');
    this.epsilon = requireNumber('epsilon', config.epsilon ?? 1e-8, { min: 0, minInclusive: false });
    this.weightDecay = requireNumber('weightDecay', config.weightDecay ?? 0.1, { min: 0 });
    const clip = config.clipNorm ?? 1;
    this.clipNorm = clip === Infinity ? 0 : requireNumber('clipNorm', clip, { min: 0 });
    const decay = config.decay ?? defaultDecayPredicate;
    for (const [name, p] of params) {
      this.decays.set(name, decay(name, p.shape));
      // tf.variable keeps its initial tensor alive beside it: dispose that one.
      for (const moments of [this.m, this.v]) {
        const zeros = tf.zerosLike(p);
        moments.set(name, tf.variable(zeros, false));
        zeros.dispose();
      }
    }
  }

  /** The number of updates applied so far (t). */
  get step(): number {
    return this.t;
  }

  /** Whether `name` gets weight decay. */
  decaysParameter(name: string): boolean {
    return this.decays.get(name) ?? false;
  }

  getConfig(): { beta1: number; beta2: number; epsilon: number; weightDecay: number; clipNorm: number } {
    return { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay, clipNorm: this.clipNorm };
  }

  /**
   * Applies one update with learning rate `lr` (from the schedule). `grads` maps parameter
   * names to gradients of the same shapes; they stay owned by the caller.
   */
  apply(grads: ReadonlyMap<string, Tensor> | NamedTensorMap, lr: number): AdamWStepResult {
    requireNumber('lr', lr, { min: 0 });
    const entries = grads instanceof Map ? [...grads.entries()] : Object.entries(grads as NamedTensorMap);
    for (const [name, g] of entries) {
      const p = this.params.get(name);
      if (p === undefined) throw new ConfigError('grads', name, `a parameter name of this optimizer (${this.params.size} known)`);
      if (!tf.util.arraysEqual(g.shape, p.shape)) throw new ConfigError(`grads["${name}"].shape`, g.shape, `[${p.shape.join(', ')}] like the parameter`);
    }
    // ||G||_2 over every gradient; read back once (it decides whether to apply, and is logged).
    const gradNorm = tf.tidy(() => {
      const sq = entries.map(([, g]) => tf.sum(tf.square(tf.cast(g, 'float32'))));
      return sq.length === 0 ? 0 : tf.sqrt(tf.addN(sq)).dataSync()[0] as number;
    });
    if (!Number.isFinite(gradNorm)) return { gradNorm, applied: false, step: this.t };

    const t = this.t + 1;
    const scale = this.clipNorm > 0 ? Math.min(1, this.clipNorm / (gradNorm + 1e-6)) : 1;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    tf.tidy(() => {
      for (const [name, grad] of entries) {
        const p = this.params.get(name) as Variable;
        const m = this.m.get(name) as Variable;
        const v = this.v.get(name) as Variable;
        const g = scale === 1 ? grad : tf.mul(grad, scale);
        const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        // mhat / (sqrt(vhat) + eps)
        const adam = tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), this.epsilon));
        const lambda = this.decays.get(name) ? this.weightDecay : 0;
        const delta = lambda > 0 ? tf.add(adam, tf.mul(p, lambda)) : adam;
        m.assign(mNew);
        v.assign(vNew);
        p.assign(tf.sub(p, tf.mul(delta, lr)));
      }
    });
    this.t = t;
    return { gradNorm, applied: true, step: t };
  }

  /**
   * The optimizer state as named tensors for a checkpoint: `step` int32[] and, per parameter,
   * `m.<name>` and `v.<name>` float32 of its shape. The caller disposes them.
   */
  getState(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    out.set(OPTIMIZER_STATE.step, tf.scalar(this.t, 'int32'));
    for (const name of this.params.keys()) {
      out.set(OPTIMIZER_STATE.m + name, tf.clone(this.m.get(name) as Variable));
      out.set(OPTIMIZER_STATE.v + name, tf.clone(this.v.get(name) as Variable));
    }
    return out;
  }

  /**
   * Restores a state written by getState. Every name and shape is checked before anything is
   * assigned, so a mismatched state changes nothing. `file` names the source in errors.
   */
  setState(state: ReadonlyMap<string, Tensor | HostTensor>, file = 'optimizer state'): void {
    const expected = new Map<string, readonly number[]>([[OPTIMIZER_STATE.step, []]]);
    for (const [name, p] of this.params) {
      expected.set(OPTIMIZER_STATE.m + name, p.shape);
      expected.set(OPTIMIZER_STATE.v + name, p.shape);
    }
    const problems = compareShapes(expected, new Map([...state].map(([k, t]) => [k, t.shape])));
    if (problems.length > 0) throw new CheckpointError(file, 'mismatch', `does not match the model's parameters: ${problems.join('; ')}`);
    const stepEntry = state.get(OPTIMIZER_STATE.step) as Tensor | HostTensor;
    const step = (stepEntry instanceof tf.Tensor ? stepEntry.dataSync()[0] : stepEntry.data[0]) as number;
    if (!Number.isInteger(step) || step < 0) throw new CheckpointError(file, 'corrupt', `has step ${step}, not an integer >= 0`);
    const asFloat = (x: Tensor | HostTensor): Tensor =>
      x instanceof tf.Tensor ? tf.cast(x, 'float32') : tf.tensor(Float32Array.from(x.data), [...x.shape], 'float32');
    tf.tidy(() => {
      for (const name of this.params.keys()) {
        (this.m.get(name) as Variable).assign(asFloat(state.get(OPTIMIZER_STATE.m + name) as Tensor | HostTensor));
        (this.v.get(name) as Variable).assign(asFloat(state.get(OPTIMIZER_STATE.v + name) as Tensor | HostTensor));
      }
    });
    this.t = step;
  }

  /** Frees the moment variables (not the parameters). */
  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/**
 * Compares expected names and shapes with actual ones; returns one message per difference
 * (missing, unexpected, wrong shape), at most 8 of each kind, empty when they agree.
 */
export function compareShapes(expected: ReadonlyMap<string, readonly number[]>, actual: ReadonlyMap<string, readonly number[]>): string[] {
  const list = (xs: string[]) => (xs.length > 8 ? `${xs.slice(0, 8).join(', ')} and ${xs.length - 8} more` : xs.join(', '));
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const unexpected = [...actual.keys()].filter((k) => !expected.has(k));
  const wrong = [...expected]
    .filter(([k, s]) => actual.has(k) && !tf.util.arraysEqual(actual.get(k) as number[], s as number[]))
    .map(([k, s]) => `${k} has shape [${(actual.get(k) as number[]).join(', ')}], expected [${s.join(', ')}]`);
  const out: string[] = [];
  if (missing.length) out.push(`missing ${list(missing)}`);
  if (unexpected.length) out.push(`unexpected ${list(unexpected)}`);
  if (wrong.length) out.push(list(wrong));
  return out;
}
