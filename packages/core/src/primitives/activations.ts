// Elementwise activations with fused, hand-written gradients.
// On wasm, when core's own kernels are registered (geluKernel.ts), GELU's forward and backward
// are one kernel each (assembly/gelu.ts, the same formulas); elsewhere the tfjs ops below.
import { tf, type Tensor } from '../tf.js';
import { ownGeluBackward, ownGeluForward, ownGeluKernels } from './geluKernel.js';

/** The constant of the sigmoid approximation of GELU (Hendrycks & Gimpel 2016, section 2). */
export const GELU_SIGMOID_ALPHA = 1.702;

/**
 * GELU, sigmoid form: gelu(x) = x * sigmoid(1.702 x) (Hendrycks & Gimpel 2016, section 2).
 * Chosen over the tanh and erf forms because wasm's sigmoid is much faster than its tanh
 * (docs/performance.md, "Backend facts"); the three forms differ by at most about 0.02.
 * Gradient: s + 1.702 x s (1 - s) with s = sigmoid(1.702 x).
 */
export const gelu: <T extends Tensor>(x: T) => T = tf.customGrad(((
  x: Tensor,
  save: (t: Tensor[]) => void,
) => {
  if (x.dtype === 'float32' && x.size > 0 && ownGeluKernels()) {
    // The kernel saves y and s, not x: y is kept anyway by the layer that consumes it.
    const [y, s] = ownGeluForward(x);
    save([y!, s!]);
    return {
      value: y!,
      gradFunc: (dy: Tensor, saved: Tensor[]) => ownGeluBackward(dy, saved[0]!, saved[1]!),
    };
  }
  const s = tf.sigmoid(tf.mul(x, GELU_SIGMOID_ALPHA));
  save([x, s]);
  return {
    value: tf.mul(x, s),
    // Inside tidy: tfjs runs a customGrad's gradFunc outside any per-node scope, so its
    // temporaries would otherwise live until the whole backward pass ends.
    gradFunc: (dy: Tensor, saved: Tensor[]) =>
      tf.tidy(() => {
        const [sx, ss] = saved as [Tensor, Tensor];
        // ds/dx = 1.702 s (1 - s)
        const inner = tf.add(ss, tf.mul(tf.mul(sx, GELU_SIGMOID_ALPHA), tf.mul(ss, tf.sub(1, ss))));
        return tf.mul(dy, inner);
      }),
  };
}) as never) as never;
