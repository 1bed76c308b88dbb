// Sparse softmax cross-entropy with a fused gradient.
// Axis legend: N rows (tokens), V classes.
//
// loss = (1 / W) * sum_n w_n * (logsumexp(z_n) - z_n[y_n]), W = sum_n w_n (weights mark real
// tokens). Gradient: dz_n = (w_n / W) * (softmax(z_n) - onehot(y_n)).
// On wasm with core's own kernels, each row's softmax, logsumexp and class logit come from one
// kernel pass and the gradient from another (core's crossEntropyKernel.ts); elsewhere tfjs ops.
import {
  CROSS_ENTROPY_BACKWARD,
  CROSS_ENTROPY_FORWARD,
  ownCrossEntropyKernels,
  ShapeError,
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
} from '@moderoute/core';

/** Mean cross-entropy in nats of logits float32[N, V] against int32[N] targets, weighted by float32[N] (default 1). */
export function sparseCrossEntropy(
  logits: Tensor2D,
  targets: Tensor1D,
  weights?: Tensor1D,
): Scalar {
  const [n, v] = logits.shape;
  if (targets.rank !== 1 || targets.shape[0] !== n || targets.dtype !== 'int32') {
    throw new ShapeError(
      'targets',
      `${targets.dtype}${JSON.stringify(targets.shape)}`,
      `int32[${n}] (one class per row of logits)`,
    );
  }
  // In a tidy: the default weights are made here.
  return tf.tidy(() => {
    const w = weights ?? (tf.ones([n]) as Tensor1D);
    const own = logits.dtype === 'float32' && ownCrossEntropyKernels();
    const op = tf.customGrad<Scalar>((...inputs) => {
      const [z, save] = inputs as [Tensor2D, (saved: Tensor[]) => void];
      // Per row, logsumexp(z_n) - z_n[y_n], and what the gradient's softmax(z) - onehot(y) needs:
      // the own kernel's softmax and the classes, or z and the one-hot rows.
      let rowLoss: Tensor;
      let kept: Tensor[];
      if (own) {
        const [p, loss] = tf
          .engine()
          .runKernel(CROSS_ENTROPY_FORWARD, { logits: z, targets }, {}) as Tensor[];
        [rowLoss, kept] = [loss!, [p!, targets]];
      } else {
        const onehot = tf.oneHot(targets, v).cast('float32');
        rowLoss = tf.sub(tf.logSumExp(z, -1), tf.sum(tf.mul(z, onehot), -1));
        kept = [z, onehot];
      }
      const total = tf.maximum(tf.sum(w), 1e-9);
      // Everything the backward reads is saved: tf.grads disposes the forward's other tensors,
      // including ones this function closes over, before backprop.
      save([...kept, total, w]);
      return {
        value: tf.div(tf.sum(tf.mul(rowLoss, w)), total) as Scalar,
        gradFunc: (dy: Scalar, [a, b, stotal, sw]: Tensor[]) => {
          // Shape: [N], each row's factor (w_n / W) dy
          const scale = tf.div(tf.mul(sw as Tensor, dy), stotal as Tensor);
          if (own) {
            const kernelInputs = { p: a as Tensor, targets: b as Tensor, scale };
            return (
              tf.engine().runKernel(CROSS_ENTROPY_BACKWARD, kernelInputs, {}) as Tensor[]
            )[0]!;
          }
          // Shape: [N] -> [N, 1]
          return tf.mul(tf.sub(tf.softmax(a as Tensor2D), b as Tensor), tf.reshape(scale, [n, 1]));
        },
      };
    });
    return op(logits);
  });
}
