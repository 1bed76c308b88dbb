// One AdamW update over flat parameter, moment and gradient vectors (Loshchilov & Hutter 2019,
// algorithm 2; Kingma & Ba 2015, algorithm 1, with bias correction), as @moderoute/train's AdamW
// applies it to each chunk of parameters:
//   g' = g * scale (the global-norm clip), m' = beta1 m + (1 - beta1) g',
//   v' = beta2 v + (1 - beta2) g'^2,
//   p' = p - lr ((m' / bc1) / (sqrt(v' / bc2) + eps) + decay p),  bc_i = 1 - beta_i^t.
// On wasm, when core's own kernels are registered (adamwKernel.ts), the whole update is one
// kernel (assembly/adamw.ts: the same operations in the same order, so the same bits); elsewhere
// the tfjs ops below. No gradient: an optimizer runs outside the tape.
import { tf, type Tensor } from '../tf.js';
import { ADAMW_UPDATE, ownAdamWKernels } from './adamwKernel.js';

/** The scalars of one AdamW update (the bias corrections already for its step). */
export interface AdamWUpdateOptions {
  /** Factor on the gradient first (the global-norm clip's; 1: none). */
  readonly scale: number;
  readonly beta1: number;
  readonly beta2: number;
  /** 1 - beta1^t. */
  readonly bc1: number;
  /** 1 - beta2^t. */
  readonly bc2: number;
  readonly epsilon: number;
  readonly lr: number;
  /** Decoupled weight decay: none, one rate, or a rate per entry (float32[N]). */
  readonly decay?: number | Tensor;
}

/**
 * The new moments and parameters [m', v', p'] (float32[N] each, new tensors) from the gradient g
 * and the current m, v, p (float32[N] each, left as they are).
 */
export function adamwUpdate(
  g: Tensor,
  m: Tensor,
  v: Tensor,
  p: Tensor,
  o: AdamWUpdateOptions,
): [Tensor, Tensor, Tensor] {
  const { scale, beta1, beta2, bc1, bc2, epsilon, lr, decay } = o;
  if (ownAdamWKernels()) {
    const decayMode = decay === undefined ? 0 : typeof decay === 'number' ? 1 : 2;
    const inputs: Record<string, Tensor> = { g, m, v, p };
    if (decayMode === 2) inputs['decay'] = decay as Tensor;
    const attrs = {
      scale,
      beta1,
      oneMinusBeta1: 1 - beta1,
      beta2,
      oneMinusBeta2: 1 - beta2,
      bc1,
      bc2,
      eps: epsilon,
      lr,
      decayScalar: typeof decay === 'number' ? decay : 0,
      decayMode,
    };
    return tf.engine().runKernel(ADAMW_UPDATE, inputs, attrs) as [Tensor, Tensor, Tensor];
  }
  // Each expression in its own tidy frees its temporaries at once, so an update holds only a few
  // vector-sized buffers.
  return tf.tidy(() => {
    const gs = scale === 1 ? g : tf.mul(g, scale);
    const mNew = tf.tidy(() => tf.add(tf.mul(m, beta1), tf.mul(gs, 1 - beta1)));
    const vNew = tf.tidy(() => tf.add(tf.mul(v, beta2), tf.mul(tf.square(gs), 1 - beta2)));
    const pNew = tf.tidy(() => {
      // mhat / (sqrt(vhat) + eps)
      const adam = tf.tidy(() =>
        tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), epsilon)),
      );
      const delta = decay === undefined ? adam : tf.tidy(() => tf.add(adam, tf.mul(p, decay)));
      return tf.sub(p, tf.mul(delta, lr));
    });
    return [mNew, vNew, pNew] as [Tensor, Tensor, Tensor];
  });
}
