// Putting checkpoint weights into a model's variables, by name, after checking every name and
// shape (browser-safe: no file system; loadCheckpoint.ts and CheckpointStore.ts re-export it).
import { tf, type Tensor, type Variable } from '@moderoute/core';
import { CheckpointError } from '../errors.js';
import { compareShapes } from '../optim/compareShapes.js';
import { CHECKPOINT_FILES } from './checkpointFormat.js';
import { fromHostTensor } from './hostTensors.js';
import { isLaterParameter } from './laterParameters.js';
import type { HostTensor } from './safetensors.js';

/** Names and shapes of variables, for LoadOptions.expectWeights. */
export function shapesOf(
  variables: ReadonlyMap<string, Variable | Tensor>,
): Map<string, readonly number[]> {
  return new Map([...variables].map(([k, v]) => [k, v.shape]));
}

/**
 * Assigns checkpoint weights to variables by name. Every name and shape is checked first, so a
 * mismatched checkpoint changes no variable. `file` names the source in errors.
 */
export function assignWeights(
  variables: ReadonlyMap<string, Variable>,
  weights: ReadonlyMap<string, HostTensor>,
  file: string = CHECKPOINT_FILES.model,
): void {
  // Untrained state a checkpoint lacks (v.trainable false: the MoD threshold rule's tau, added
  // after the first checkpoints were written) keeps its initial value, and LATER_PARAMETERS it
  // lacks are zeroed, so those still load.
  const later = isLaterParameter;
  const expected = new Map(
    [...variables].filter(([name, v]) => (v.trainable && !later(name)) || weights.has(name)),
  );
  const problems = compareShapes(
    shapesOf(expected),
    new Map([...weights].map(([k, t]) => [k, t.shape])),
  );
  if (problems.length > 0)
    throw new CheckpointError(file, 'mismatch', `does not match the model: ${problems.join('; ')}`);
  for (const [name, v] of variables)
    if (v.trainable && later(name) && !weights.has(name)) tf.tidy(() => v.assign(tf.zerosLike(v)));
  for (const [name, v] of expected) {
    tf.tidy(() => {
      const t = fromHostTensor(weights.get(name) as HostTensor);
      v.assign(t.dtype === v.dtype ? t : tf.cast(t, v.dtype));
    });
  }
}
