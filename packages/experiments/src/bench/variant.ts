// One variant of `moderoute bench`: a fresh model at the bench config trained step by step, on one
// thread of control or data-parallel on a replica pool, each step timed.
import { tf, withOwnKernels, type Tensor2D } from '@moderoute/core';
import {
  foldRouterStatistics,
  routerStatisticsOf,
  type LanguageModelConfig,
  type ModelFactory,
  type ModelStatistics,
} from '@moderoute/model';
import type { DataParallel, ReplicaPool, StepTiming } from '@moderoute/train';
import { BATCH, SEQ, createBenchOptimizer, type OptimizerName } from './config.js';

/** A data-parallel step's timing (DataParallel.lastTiming) and the update and fold after it, in ms. */
export interface DataParallelStepTimes {
  readonly timing: StepTiming;
  readonly updateMs: number;
  readonly foldMs: number;
}

export interface VariantResult {
  msPerStep: number;
  tokensPerSec: number;
  flopsPerStep: number;
  gflops: number;
  fractionOfPeak: number;
  parameters: number;
}

/** One variant's model ready to train step by step, interleaved with others (training.ts). */
export interface VariantRunner {
  /** Analytic training FLOPs of one step at the bench batch. */
  readonly flopsPerStep: number;
  readonly parameters: number;
  /** Trains one step, as the Trainer's steps do; resolves with its wall time in ms. */
  step(): Promise<number>;
  /** Where the last step's time went, when it was data-parallel (phases.ts reads it). */
  phases(): DataParallelStepTimes | undefined;
  /** Frees the model, the optimizer and the pool's copies. */
  dispose(): Promise<void>;
}

/**
 * A fresh model of `config` with its optimizer and the bench's batch, trained step by step as the
 * Trainer's steps are: the routing randomness keyed by the step, and the routers' statistics (the
 * MoD cuts) folded after each update. With a replica pool each step is data-parallel
 * (DataParallel: the rows split among the training thread and the pool's worker threads); the
 * model is attached alongside the pool's others, so that runners may step in any order.
 * `ownKernels` switches core's own wasm kernels for this runner's steps on every replica
 * (undefined: each thread's default); other runners keep theirs, step by step.
 */
export async function startVariant(
  config: LanguageModelConfig,
  optimizerName: OptimizerName,
  models: ModelFactory,
  replicaPool?: ReplicaPool,
  options: { readonly ownKernels?: boolean } = {},
): Promise<VariantRunner> {
  const { ownKernels } = options;
  const model = models.create(config);
  const optimizer = createBenchOptimizer(optimizerName, model.trainableParameters());
  const batch = tf.randomUniform([BATCH, SEQ + 1], 0, 256, 'int32', 7);
  const inputs = tf.slice(batch, [0, 0], [BATCH, SEQ]) as Tensor2D;
  const targets = tf.slice(batch, [0, 1], [BATCH, SEQ]) as Tensor2D;
  const vars = model.trainableVariables();
  const varName = new Map([...model.trainableParameters()].map(([name, v]) => [name, v.name]));
  const pool = replicaPool
    ? await replicaPool.attach(model, {
        alongside: true,
        ...(ownKernels !== undefined ? { ownKernels } : {}),
      })
    : undefined;
  let step = 0;
  let phases: DataParallelStepTimes | undefined;
  const dataParallelStep = async (p: DataParallel) => {
    const r = await p.step(inputs, targets, { step, seed: model.config.seed });
    const stepped = performance.now();
    // The bench optimizers take gradients by variable name, as tf.variableGrads gives them.
    tf.tidy(() =>
      optimizer.apply(Object.fromEntries([...r.grads].map(([name, g]) => [varName.get(name)!, g]))),
    );
    tf.dispose([...r.grads.values()]);
    const updated = performance.now();
    foldRouterStatistics(model, r.statistics);
    const timing = p.lastTiming;
    if (timing)
      phases = { timing, updateMs: updated - stepped, foldMs: performance.now() - updated };
  };
  const ownStep = () => {
    let statistics: ModelStatistics = {};
    const { value, grads } = tf.variableGrads(() => {
      const r = model.loss(inputs, targets, { training: true, step });
      statistics = routerStatisticsOf(model, r.routing);
      return r.loss;
    }, vars);
    optimizer.apply(grads);
    tf.dispose(grads);
    foldRouterStatistics(model, [statistics]);
    // Reading the loss waits for the backend (as bestTimeMs does).
    value.dataSync();
    value.dispose();
  };
  return {
    flopsPerStep: model.flops(SEQ).training * BATCH,
    parameters: model.parameterCount(),
    phases: () => phases,
    step: async () => {
      const start = performance.now();
      if (pool) await dataParallelStep(pool);
      else withOwnKernels(ownKernels, ownStep);
      step += 1;
      return performance.now() - start;
    },
    dispose: async () => {
      if (pool) await replicaPool!.detach(pool);
      optimizer.dispose();
      model.dispose();
      tf.dispose([batch, inputs, targets]);
    },
  };
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/**
 * Trains `steps` timed steps of a fresh model after 2 warm-up steps, alone (startVariant), and
 * returns the median step.
 */
export async function benchVariant(
  config: LanguageModelConfig,
  steps: number,
  optimizerName: OptimizerName,
  models: ModelFactory,
  replicaPool?: ReplicaPool,
): Promise<VariantResult> {
  const runner = await startVariant(config, optimizerName, models, replicaPool);
  try {
    const times: number[] = [];
    for (let i = 0; i < steps + 2; i++) {
      const ms = await runner.step();
      if (i >= 2) times.push(ms);
    }
    const ms = median(times);
    return {
      msPerStep: ms,
      tokensPerSec: (BATCH * SEQ) / (ms / 1000),
      flopsPerStep: runner.flopsPerStep,
      gflops: runner.flopsPerStep / ms / 1e6,
      fractionOfPeak: Number.NaN,
      parameters: runner.parameters,
    };
  } finally {
    await runner.dispose();
  }
}
