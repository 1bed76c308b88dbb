// The reproducibility law of training with routing randomness, at the model level: a model built
// by the caller's factory (so a plugin's routers are held to it), trained a few steps with plain
// SGD, the forward keyed by (seed, step, replica) and the routers' statistics folded once per
// step (Router.foldStatistics), gives
// - bit-identical losses when trained twice from the same seed;
// - the same losses when "resumed" at a random step k: a fresh model given the weights and the
//   router state (every named parameter, trainable or not) saved at k, continuing from step k;
// - on two "replicas" (the rows split in halves, one forward each with replica 0 and 1, gradients
//   and losses combined by row weights, statistics folded in replica order): the same, twice and
//   resumed. Replicas draw distinct noise, so a 2-replica run is compared with 2-replica runs only.
// A router that draws its noise from a private call counter fails the resume law (the fresh
// model's counter restarts at zero). Axis legend: B batch rows, T tokens, V vocabulary.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tf, type Scalar, type Tensor, type Tensor2D, type Variable } from '@moderoute/core';
import { runs } from './arbitraries.js';

/** The forward keys of a training step (LanguageModel's ForwardOptions). */
export interface TrainingLawForwardOptions {
  readonly training: true;
  readonly step: number;
  readonly replica: number;
  readonly seed: number;
}

/** The model surface the training law needs (matches @moderoute/model's LanguageModel). */
export interface TrainingLawModel {
  /** The training loss of a batch, with routing keyed by the options' step, replica and seed. */
  loss(
    inputs: Tensor2D,
    targets: Tensor2D,
    options: TrainingLawForwardOptions,
  ): { readonly loss: Scalar };
  /** Every saved tensor by name: the weights and the routers' state (trainable or not). */
  namedParameters(): Map<string, Variable>;
  /** Frees the model's variables. */
  dispose(): void;
}

/**
 * Options of `trainingLaws`: how to build a model and fold its statistics, the data's shape, steps
 * and runs.
 */
export interface TrainingLawOptions<M extends TrainingLawModel, S> {
  /** A fresh model, the same initial weights every call. */
  readonly build: () => M;
  /** The routers' statistics of one forward's result (model's routerStatisticsOf). */
  readonly statisticsOf: (model: M, result: ReturnType<M['loss']>) => S;
  /** Folds one step's statistics, in replica order (model's foldRouterStatistics). */
  readonly fold: (model: M, perReplica: readonly S[]) => void;
  readonly vocabSize: number;
  /** Tokens per row T (at most the model's context). */
  readonly seqLen: number;
  /** Steps of a run (default 4). */
  readonly steps?: number;
  /** Rows per step B, split in halves over two replicas (default 4). */
  readonly batchSize?: number;
  /** SGD learning rate (default 0.05). */
  readonly learningRate?: number;
  /**
   * Whether the model's training is random (jitter, noisy gating): the suite then also checks
   * that two seeds give different losses, so the law is not vacuous.
   */
  readonly random: boolean;
  readonly numRuns: number;
}

/** A saved state: every named parameter's values. */
type Snapshot = ReadonlyMap<string, Tensor>;

function snapshot(model: TrainingLawModel): Snapshot {
  return new Map([...model.namedParameters()].map(([name, v]) => [name, tf.clone(v)]));
}

function restore(model: TrainingLawModel, saved: Snapshot): void {
  const params = model.namedParameters();
  assert.deepEqual([...params.keys()].sort(), [...saved.keys()].sort(), 'saved parameter names');
  for (const [name, v] of params) v.assign(saved.get(name) as Tensor);
}

/** Token ids int32[B, T + 1] of step `step`: inputs are the first T, targets the last T. */
function batchOf(
  dataSeed: number,
  step: number,
  rows: number,
  seqLen: number,
  vocab: number,
): Tensor2D {
  return tf.tidy(() =>
    tf.cast(
      tf.floor(tf.randomUniform([rows, seqLen + 1], 0, vocab, 'float32', dataSeed * 1009 + step)),
      'int32',
    ),
  ) as Tensor2D;
}

/** Declares the training law inside the caller's describe / backend scope. */
export function trainingLaws<M extends TrainingLawModel, S>(
  options: TrainingLawOptions<M, S>,
): void {
  const { build, statisticsOf, fold, vocabSize, seqLen, numRuns } = options;
  const steps = options.steps ?? 4;
  const rows = options.batchSize ?? 4;
  const lr = options.learningRate ?? 0.05;

  /** One SGD step over `ids` on `replicas` replicas; returns the row-weighted loss. */
  function trainStep(model: M, ids: Tensor2D, step: number, seed: number, replicas: 1 | 2): number {
    const trainable = [...model.namedParameters().values()].filter((v) => v.trainable);
    const halves = replicas === 1 ? [rows] : [Math.ceil(rows / 2), Math.floor(rows / 2)];
    const perReplica: S[] = [];
    let loss = 0;
    let start = 0;
    const grads = new Map<string, Tensor>();
    halves.forEach((n, replica) => {
      const from = start;
      start += n;
      const { value, grads: g } = tf.variableGrads(() => {
        // Shape: [B, T + 1] -> this replica's rows [n, T + 1] -> inputs, targets [n, T]
        const part = tf.slice(ids, [from, 0], [n, seqLen + 1]);
        const inputs = tf.slice(part, [0, 0], [n, seqLen]) as Tensor2D;
        const targets = tf.slice(part, [0, 1], [n, seqLen]) as Tensor2D;
        const result = model.loss(inputs, targets, { training: true, step, replica, seed });
        perReplica.push(statisticsOf(model, result as ReturnType<M['loss']>));
        return result.loss;
      }, trainable);
      loss += (value.dataSync()[0] as number) * (n / rows);
      for (const [name, grad] of Object.entries(g)) {
        const weighted = tf.mul(grad, n / rows);
        const sum = grads.has(name)
          ? tf.add(grads.get(name) as Tensor, weighted)
          : tf.clone(weighted);
        tf.dispose([grads.get(name), weighted, grad]);
        grads.set(name, sum);
      }
      value.dispose();
    });
    fold(model, perReplica);
    for (const v of trainable) {
      const grad = grads.get(v.name);
      if (grad === undefined) continue;
      const next = tf.tidy(() => tf.sub(v, tf.mul(grad, lr)));
      v.assign(next);
      next.dispose();
    }
    tf.dispose([...grads.values()]);
    return loss;
  }

  /** The losses of steps from..steps-1, saving the state at step `saveAt` into `saved`. */
  function run(
    model: M,
    seed: number,
    replicas: 1 | 2,
    from = 0,
    save?: { at: number; into: (s: Snapshot) => void },
  ): number[] {
    const losses: number[] = [];
    for (let step = from; step < steps; step++) {
      if (save?.at === step) save.into(snapshot(model));
      const ids = batchOf(seed, step, rows, seqLen, vocabSize);
      losses.push(trainStep(model, ids, step, seed, replicas));
      ids.dispose();
    }
    return losses;
  }

  const fresh = (seed: number, replicas: 1 | 2) => {
    const model = build();
    try {
      return run(model, seed, replicas);
    } finally {
      model.dispose();
    }
  };

  for (const replicas of [1, 2] as const) {
    const on = replicas === 1 ? 'on 1 replica' : 'on 2 replicas';
    it(`should give bit-identical losses when trained twice from the same seed, ${on}`, () => {
      fc.assert(
        fc.property(fc.nat(1e6), (seed) => {
          assert.deepEqual(fresh(seed, replicas), fresh(seed, replicas));
        }),
        runs(numRuns),
      );
    });

    it(`should give the uninterrupted run's losses when resumed at any step, ${on}`, () => {
      fc.assert(
        fc.property(fc.nat(1e6), fc.integer({ min: 1, max: steps - 1 }), (seed, k) => {
          let saved: Snapshot | undefined;
          const first = build();
          let whole: number[];
          try {
            whole = run(first, seed, replicas, 0, { at: k, into: (s) => (saved = s) });
          } finally {
            first.dispose();
          }
          const resumed = build();
          try {
            restore(resumed, saved as Snapshot);
            assert.deepEqual(
              run(resumed, seed, replicas, k),
              whole.slice(k),
              `resumed at step ${k}`,
            );
          } finally {
            resumed.dispose();
            tf.dispose([...(saved ?? new Map<string, Tensor>()).values()]);
          }
        }),
        runs(numRuns),
      );
    });
  }

  if (options.random) {
    it('should draw other routing noise under another seed (the law is not vacuous)', () => {
      const model = build();
      const ids = batchOf(0, 0, rows, seqLen, vocabSize);
      try {
        const at = (seed: number) =>
          tf.tidy(() => {
            const inputs = tf.slice(ids, [0, 0], [rows, seqLen]) as Tensor2D;
            const targets = tf.slice(ids, [0, 1], [rows, seqLen]) as Tensor2D;
            return model
              .loss(inputs, targets, { training: true, step: 0, replica: 0, seed })
              .loss.dataSync()[0];
          });
        assert.notEqual(at(1), at(2), 'the training loss does not depend on the routing seed');
      } finally {
        ids.dispose();
        model.dispose();
      }
    });
  }

  it('should leave no tensor behind after a run', () => {
    const before = tf.memory().numTensors;
    fresh(3, 2);
    assert.equal(tf.memory().numTensors, before, 'a training run leaked tensors');
  });
}
