// ReplicaPool.attach(model, { alongside: true }): several models attached at once, stepped in
// any order (the bench interleaves its variants step by step), each giving one replica's
// gradients, until detached.
import assert from 'node:assert/strict';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import { createContainer, MODEL_IDS, type LanguageModelConfig } from '@moderoute/model';
import { ReplicaError, ReplicaPool, shardGradients } from '../src/index.js';

const DENSE: LanguageModelConfig = {
  vocabSize: 256,
  width: 16,
  numHeads: 2,
  numLayers: 2,
  contextLength: 8,
  seed: 3,
};
const MOD: LanguageModelConfig = {
  ...DENSE,
  width: 24,
  seed: 4,
  schedule: {
    pattern: [
      'dense',
      { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } } },
    ],
  },
};

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('ReplicaPool with models attached alongside', () => {
  let pool: ReplicaPool;
  before(async () => {
    // Each replica takes a core; a process whose wasm already runs more threads keeps them.
    await initBackend({ backend: 'wasm', preferredThreads: 1 });
    pool = await ReplicaPool.start({ replicas: 2 });
  });
  after(async () => {
    await pool.close();
  });

  it("should step each in any order with one replica's gradients, and refuse a detached one", async () => {
    const factory = createContainer().get(MODEL_IDS.ModelFactory);
    const models = [DENSE, MOD, DENSE].map((c) => factory.create(c));
    const before = tf.memory().numTensors;
    const steppers = [];
    for (const m of models) steppers.push(await pool.attach(m, { alongside: true }));
    const ids = tf.randomUniform([4, 9], 0, 256, 'int32', 5);
    const inputs = tf.slice(ids, [0, 0], [4, 8]) as Tensor2D;
    const targets = tf.slice(ids, [0, 1], [4, 8]) as Tensor2D;
    try {
      // Interleaved, out of attachment order, twice over.
      for (const order of [
        [1, 0, 2],
        [2, 1, 0],
      ])
        for (const v of order) {
          const expected = shardGradients(models[v]!, inputs, targets);
          const actual = await steppers[v]!.step(inputs, targets);
          assert.ok(Math.abs(actual.loss - expected.loss) < 1e-5, `loss of model ${v}`);
          assert.deepEqual([...actual.grads.keys()], [...expected.grads.keys()]);
          for (const [name, g] of expected.grads)
            assert.ok(
              maxDifference(actual.grads.get(name)!.dataSync(), g.dataSync()) < 1e-4,
              `model ${v}, gradient ${name}`,
            );
          tf.dispose([...expected.grads.values(), ...actual.grads.values()]);
        }
      await pool.detach(steppers[1]!);
      await assert.rejects(
        steppers[1]!.step(inputs, targets),
        (e: unknown) => e instanceof ReplicaError && /detached/.test(e.message),
      );
      const r = await steppers[2]!.step(inputs, targets);
      assert.ok(Number.isFinite(r.loss));
      tf.dispose([...r.grads.values()]);
      // An attach without `alongside` detaches every model attached before.
      const only = await pool.attach(models[0]!);
      await assert.rejects(
        steppers[0]!.step(inputs, targets),
        (e: unknown) => e instanceof ReplicaError && /detached/.test(e.message),
      );
      const o = await only.step(inputs, targets);
      tf.dispose([...o.grads.values()]);
    } finally {
      tf.dispose([ids, inputs, targets]);
    }
    assert.equal(tf.memory().numTensors, before);
    models.forEach((m) => m.dispose());
  });
});
