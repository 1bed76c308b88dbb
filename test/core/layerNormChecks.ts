// The layer-norm checks both the tfjs path's spec (layerNorm.spec.ts) and the own kernels' spec
// (layerNormKernel.spec.ts) run: directional derivatives against finite differences, and no leaks.
import fc from 'fast-check';
import { layerNorm, tf, type Tensor, type Tensor1D } from '@moderoute/core';
import { checkDirectionalDerivatives, expectNoLeaks, randomTensor, runs } from '@moderoute/testing';

/**
 * layerNorm's gradients (x, gamma, beta) of sum(y * w) against finite differences on random
 * [n, d] inputs, d in [3, maxWidth]: d >= 3 and well-spread rows, since layer norm of nearly
 * constant rows is too curved for float32 finite differences. `before` runs first in each case.
 */
export function checkLayerNormFiniteDifferences(maxWidth: number, before?: () => void): void {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 3, max: maxWidth }),
      fc.nat(1e6),
      (n, d, seed) => {
        tf.tidy(() => {
          before?.();
          const w = randomTensor([n, d], seed + 9);
          const inputs = [
            randomTensor([n, d], seed, 3),
            randomTensor([d], seed + 1),
            randomTensor([d], seed + 2),
          ];
          checkDirectionalDerivatives(
            (x, g, b) => tf.sum(tf.mul(layerNorm(x as Tensor, g as Tensor1D, b as Tensor1D), w)),
            inputs,
            { epsilon: 2e-3 },
          );
        });
      },
    ),
    runs(8),
  );
}

/** layerNorm's forward and gradients on `shape` leave no tensor behind. */
export function checkLayerNormLeaks(shape: number[]): void {
  const d = shape[shape.length - 1] as number;
  const x = randomTensor(shape, 1);
  const g = tf.variable(tf.ones([d]));
  const b = tf.variable(tf.zeros([d]));
  expectNoLeaks(() => tf.variableGrads(() => tf.sum(layerNorm(x, g as Tensor1D, b as Tensor1D))));
  tf.dispose([x, g, b]);
}
