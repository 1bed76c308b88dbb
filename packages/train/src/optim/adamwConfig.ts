// AdamW's configuration, its step result, its state names and the default decay rule.

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

/** AdamW's hyperparameters; every field has a default. */
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
