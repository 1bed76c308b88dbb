// One variant of `moderoute bench`: timed training steps of a fresh model at the bench config,
// on one thread of control or data-parallel on a replica pool.
import { bestTimeMs, tf, type Tensor2D } from '@moderoute/core';
import {
  foldRouterStatistics,
  routerStatisticsOf,
  type LanguageModelConfig,
  type ModelFactory,
  type ModelStatistics,
} from '@moderoute/model';
import type { ReplicaPool } from '@moderoute/train';
import { BATCH, SEQ, createBenchOptimizer, type OptimizerName } from './config.js';

export interface VariantResult {
  msPerStep: number;
  tokensPerSec: number;
  flopsPerStep: number;
  gflops: number;
  fractionOfPeak: number;
  parameters: number;
}

/** Best wall time of `body` over `reps` runs after `warmup` runs, in ms (bestTimeMs for async steps). */
async function bestTimeMsAsync(
  body: () => Promise<void>,
  reps: number,
  warmup = 2,
): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < warmup + reps; i++) {
    const start = performance.now();
    await body();
    if (i >= warmup) best = Math.min(best, performance.now() - start);
  }
  return best;
}

/**
 * Trains `steps` timed steps of a fresh model, as the Trainer's steps do: the routing randomness
 * keyed by the step, and the routers' statistics (the MoD cuts) folded after each update. With a
 * replica pool each step is data-parallel (DataParallel: the rows split among the training
 * thread and the pool's worker threads).
 */
export async function benchVariant(
  config: LanguageModelConfig,
  steps: number,
  optimizerName: OptimizerName,
  models: ModelFactory,
  replicaPool?: ReplicaPool,
): Promise<VariantResult> {
  const model = models.create(config);
  const optimizer = createBenchOptimizer(optimizerName, model.trainableParameters());
  const batch = tf.randomUniform([BATCH, SEQ + 1], 0, 256, 'int32', 7);
  const inputs = tf.slice(batch, [0, 0], [BATCH, SEQ]) as Tensor2D;
  const targets = tf.slice(batch, [0, 1], [BATCH, SEQ]) as Tensor2D;
  const vars = model.trainableVariables();
  const varName = new Map([...model.trainableParameters()].map(([name, v]) => [name, v.name]));
  const pool = replicaPool ? await replicaPool.attach(model) : undefined;
  // Warm-up steps included: each step trains on from the last, as a run does.
  let step = 0;
  try {
    let ms: number;
    if (pool) {
      ms = await bestTimeMsAsync(async () => {
        const r = await pool.step(inputs, targets, { step, seed: model.config.seed });
        // The bench optimizers take gradients by variable name, as tf.variableGrads gives them.
        tf.tidy(() =>
          optimizer.apply(
            Object.fromEntries([...r.grads].map(([name, g]) => [varName.get(name)!, g])),
          ),
        );
        tf.dispose([...r.grads.values()]);
        foldRouterStatistics(model, r.statistics);
        step += 1;
      }, steps);
    } else {
      ms = bestTimeMs(() => {
        let statistics: ModelStatistics = {};
        const { value, grads } = tf.variableGrads(() => {
          const r = model.loss(inputs, targets, { training: true, step });
          statistics = routerStatisticsOf(model, r.routing);
          return r.loss;
        }, vars);
        optimizer.apply(grads);
        tf.dispose(grads);
        foldRouterStatistics(model, [statistics]);
        step += 1;
        return value;
      }, steps);
    }
    const flopsPerStep = model.flops(SEQ).training * BATCH;
    return {
      msPerStep: ms,
      tokensPerSec: (BATCH * SEQ) / (ms / 1000),
      flopsPerStep,
      gflops: flopsPerStep / ms / 1e6,
      fractionOfPeak: Number.NaN,
      parameters: model.parameterCount(),
    };
  } finally {
    optimizer.dispose();
    model.dispose();
    tf.dispose([batch, inputs, targets]);
  }
}
