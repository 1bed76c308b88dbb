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
    if (logits.dtype === 'float32' && ownCrossEntropyKernels())
      return ownKernelLoss(logits, targets, w);
    const op = tf.customGrad<Scalar>((...inputs) => {
      const [z, save] = inputs as [Tensor2D, (saved: Tensor[]) => void];
      const onehot = tf.oneHot(targets, v).cast('float32');
      const lse = tf.logSumExp(z, -1);
      const picked = tf.sum(tf.mul(z, onehot), -1);
      const total = tf.maximum(tf.sum(w), 1e-9);
      // Everything the backward reads is saved: tf.grads disposes the forward's other tensors,
      // including ones this function closes over, before backprop.
      save([z, onehot, total, w]);
      return {
        value: tf.div(tf.sum(tf.mul(tf.sub(lse, picked), w)), total) as Scalar,
        gradFunc: (dy: Scalar, [sz, soh, stotal, sw]: Tensor[]) => {
          // Shape: weights [N] -> [N, 1]
          const scale = tf.reshape(tf.div(tf.mul(sw as Tensor, dy), stotal as Tensor), [n, 1]);
          return tf.mul(tf.sub(tf.softmax(sz as Tensor2D), soh as Tensor), scale);
        },
      };
    });
    return op(logits);
  });
}

/** sparseCrossEntropy on core's own kernels: the same loss and gradient (see the top). */
function ownKernelLoss(logits: Tensor2D, targets: Tensor1D, w: Tensor1D): Scalar {
  const n = logits.shape[0];
  const op = tf.customGrad<Scalar>((...inputs) => {
    const [z, save] = inputs as [Tensor2D, (saved: Tensor[]) => void];
    const [p, rowLoss] = tf
      .engine()
      .runKernel(CROSS_ENTROPY_FORWARD, { logits: z, targets }, {}) as Tensor[];
    const total = tf.maximum(tf.sum(w), 1e-9);
    save([p as Tensor, targets, total, w]);
    return {
      value: tf.div(tf.sum(tf.mul(rowLoss as Tensor, w)), total) as Scalar,
      gradFunc: (dy: Scalar, [sp, st, stotal, sw]: Tensor[]) => {
        // Shape: [N], one factor per row
        const scale = tf.reshape(tf.div(tf.mul(sw as Tensor, dy), stotal as Tensor), [n]);
        const inputs = { p: sp as Tensor, targets: st as Tensor, scale };
        return (tf.engine().runKernel(CROSS_ENTROPY_BACKWARD, inputs, {}) as Tensor[])[0]!;
      },
    };
  });
  return op(logits);
}
