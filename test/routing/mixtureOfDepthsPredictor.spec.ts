// The Mixture-of-Depths predictor rule (Raposo et al. 2024 section 3.5) tracking a router whose
// logits drift while it learns, as they do in training (docs/sampling.md, "The predictor rule"):
// the router's r = w . x turns and its scale swings 1 -> 5 -> 1; the predictor, trained by its
// own loss alone, must still rank held-out tokens as top-k does at the end.
import assert from 'node:assert/strict';
import { tf, type Scalar, type Tensor3D } from '@moderoute/core';
import { metricsOf, MixtureOfDepthsRouter, rootMeanSquaredError } from '@moderoute/routing';
import fc from 'fast-check';
import { runs } from '@moderoute/testing';
import { forEachBackend } from '@moderoute/testing';

const D = 16;
const T = 64;
const STEPS = 150;

/** The router weight at training progress a in [0, 1]: w0 turning into w1, scale 1 -> 5 -> 1. */
function driftingWeight(a: number): tf.Tensor2D {
  return tf.tidy(() => {
    const w0 = tf.randomNormal([D, 1], 0, Math.sqrt(1 / D), 'float32', 11);
    const w1 = tf.randomNormal([D, 1], 0, Math.sqrt(1 / D), 'float32', 12);
    return tf.mul(tf.add(tf.mul(w0, 1 - a), tf.mul(w1, a)), 1 + 4 * Math.sin(Math.PI * a));
  });
}

describe('MixtureOfDepthsRouter predictor', () => {
  forEachBackend(() => {
    it("should give the predictor's RMSE a gradient of norm coefficient / sqrt(n) at any scale (property)", () => {
      fc.assert(
        fc.property(
          fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 2, maxLength: 12 }),
          fc.double({ min: 1e-3, max: 1e4, noNaN: true }),
          (errors, scale) => {
            const n = errors.length;
            const targets = Float32Array.from(errors, (_, i) => i);
            const host = Float32Array.from(errors, (e, i) => i + (e + 2) * scale);
            const valid = new Uint8Array(n).fill(1);
            tf.tidy(() => {
              const z = tf.tensor1d(host);
              const grad = tf.grad((v: tf.Tensor) =>
                rootMeanSquaredError(v as tf.Tensor1D, host, targets, valid, 0.5),
              )(z);
              const norm = Math.sqrt(tf.sum(tf.square(grad)).dataSync()[0] as number);
              assert.ok(Math.abs(norm - 0.5 / Math.sqrt(n)) < 1e-4, `norm ${norm}`);
            });
          },
        ),
        runs(20),
      );
    });

    it('should rank held-out tokens as top-k does after tracking a drifting router', () => {
      const router = new MixtureOfDepthsRouter({ dModel: D, causalMode: 'predictor', seed: 3 });
      const trained = router.trainableVariables().filter((v) => v !== router.weight);
      const thresholdRouter = new MixtureOfDepthsRouter({ dModel: D });
      const optimizer = tf.train.adam(3e-3, 0.9, 0.95);
      const before = tf.memory().numTensors;
      try {
        for (let step = 0; step < STEPS; step++) {
          tf.tidy(() => {
            router.weight.assign(driftingWeight(step / (STEPS - 1)));
            const x = tf.randomNormal([4, T, D], 0, 3, 'float32', 100 + step) as Tensor3D;
            optimizer.minimize(
              () => {
                const losses = Object.values(router.route(x, { training: true }).auxLosses);
                return tf.addN(losses) as Scalar;
              },
              false,
              trained,
            );
          });
        }
        // Both rules with cuts calibrated on other tokens; the threshold rule (r > tau, the
        // router's own logits) is the best a per-token rule can do here.
        const [predictor, threshold] = tf.tidy(() => {
          const calibration = tf.randomNormal([16, T, D], 0, 3, 'float32', 7) as Tensor3D;
          const plan = router.route(calibration);
          router.calibrateCausalCuts({
            seqLen: T,
            predictor: plan.predictorLogits!.dataSync() as Float32Array,
          });
          thresholdRouter.weight.assign(router.weight);
          thresholdRouter.calibrateCausalCuts({
            seqLen: T,
            threshold: plan.routerLogits.dataSync() as Float32Array,
          });
          const held = tf.randomNormal([16, T, D], 0, 3, 'float32', 8) as Tensor3D;
          return [
            metricsOf(router.route(held).counts).causal!.predictor!.accuracy,
            metricsOf(thresholdRouter.route(held).counts).causal!.threshold!.accuracy,
          ];
        });
        assert.ok(
          predictor! >= threshold! - 0.01,
          `the predictor rule agrees with top-k on ${predictor}, the threshold rule on ${threshold}`,
        );
      } finally {
        optimizer.dispose();
        router.dispose();
        thresholdRouter.dispose();
      }
      assert.ok(tf.memory().numTensors <= before);
    });
  }, ['wasm']);
});
