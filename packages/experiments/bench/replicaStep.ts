// One replica's share of a training step at the bench config, as `bench/shard.ts` times it and its
// `--sibling` neighbour (sibling.ts) runs it: a batch of token rows, and the loss's forward and
// backward pass (no optimizer), read back so that the backend has finished.
import { tf, type Tensor2D } from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import { SEQ } from '../src/bench/config.js';

/** `rows` random rows of SEQ tokens (vocabulary 256) and their next tokens, seeded. */
export function replicaBatch(rows: number, seed: number): { inputs: Tensor2D; targets: Tensor2D } {
  return tf.tidy(() => {
    const ids = tf.randomUniform([rows, SEQ + 1], 0, 256, 'int32', seed);
    return {
      inputs: tf.slice(ids, [0, 0], [rows, SEQ]) as Tensor2D,
      targets: tf.slice(ids, [0, 1], [rows, SEQ]) as Tensor2D,
    };
  });
}

/** The loss of `model` on the batch and its gradients, computed and freed; returns the ms taken. */
export function forwardBackward(model: LanguageModel, inputs: Tensor2D, targets: Tensor2D): number {
  const start = performance.now();
  const { value, grads } = tf.variableGrads(
    () => model.loss(inputs, targets, { training: true }).loss,
    model.trainableVariables(),
  );
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
  return performance.now() - start;
}
