// Data-parallel steps (parallel/DataParallel.ts): the combined loss, gradients and untrained
// state of replicas in worker threads against one replica on the whole batch.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, initBackend, tf, type Tensor2D } from '@moderoute/core';
import { createContainer, MODEL_IDS, type LanguageModel, type LanguageModelConfig } from '@moderoute/model';
import { CorpusCache, DataParallel, ReplicaError, Trainer, shardGradients, shardRows, type ShardGradients, type TrainConfig } from '../src/index.js';
import { useTempDir } from './helpers.js';

const BASE = { vocabSize: 256, width: 16, numHeads: 2, numLayers: 2, contextLength: 8, seed: 3 } as const;
const MOD: LanguageModelConfig = { ...BASE, schedule: { pattern: ['dense', { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } } }] } };
const MOE: LanguageModelConfig = { ...BASE, schedule: { pattern: ['dense', { kind: 'moe', numExperts: 2, expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { trainFactor: 1, evalFactor: 1 } } } }] } };

const build = (config: LanguageModelConfig): LanguageModel => createContainer().get(MODEL_IDS.ModelFactory).create(config);

function batch(rows: number, seqLen: number, seed: number): { inputs: Tensor2D; targets: Tensor2D } {
  return tf.tidy(() => {
    const ids = tf.randomUniform([rows, seqLen + 1], 0, 256, 'int32', seed);
    return { inputs: tf.slice(ids, [0, 0], [rows, seqLen]) as Tensor2D, targets: tf.slice(ids, [0, 1], [rows, seqLen]) as Tensor2D };
  });
}

const untrained = (model: LanguageModel) => [...model.namedParameters()].filter(([, v]) => !v.trainable).map(([name, v]) => [name, Array.from(v.dataSync())] as const);
const restore = (model: LanguageModel, state: ReturnType<typeof untrained>) => {
  for (const [name, values] of state) {
    const v = model.namedParameters().get(name)!;
    tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
  }
};

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, what);
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * scale, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (scale ${scale})`);
  }
}

function assertSameStep(actual: ShardGradients, expected: ShardGradients): void {
  assertClose([actual.loss, actual.lmLoss], [expected.loss, expected.lmLoss], 'loss, lmLoss', 1e-5);
  assert.deepEqual(Object.keys(actual.auxLosses).sort(), Object.keys(expected.auxLosses).sort());
  for (const k of Object.keys(expected.auxLosses)) assertClose([actual.auxLosses[k]!], [expected.auxLosses[k]!], `aux ${k}`, 1e-5);
  assert.deepEqual([...actual.grads.keys()], [...expected.grads.keys()]);
  for (const [name, g] of expected.grads) assertClose(actual.grads.get(name)!.dataSync(), g.dataSync(), `grad ${name}`);
  actual.routing.forEach((b, i) => {
    assertClose([b.routedFraction], [expected.routing[i]!.routedFraction], `routed fraction of block ${i}`, 1e-9);
    assert.deepEqual(b.load, expected.routing[i]!.load, `load of block ${i}`);
  });
}

describe('DataParallel', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('should split rows as evenly as possible, in order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 16 }), (rows, replicas) => {
        const parts = shardRows(rows, replicas);
        assert.equal(parts.length, replicas);
        assert.equal(parts.reduce((a, b) => a + b, 0), rows);
        assert.ok(Math.max(...parts) - Math.min(...parts) <= 1);
        parts.forEach((n, r) => assert.ok(r === 0 || n <= parts[r - 1]!));
      }),
    );
  });

  it('should refuse a bad replica count, naming it', async () => {
    const model = build(BASE);
    try {
      for (const replicas of [1, 0, 2.5, 17]) await assert.rejects(DataParallel.start(model, { replicas }), (e: unknown) => e instanceof ConfigError && e.parameter === 'replicas');
    } finally {
      model.dispose();
    }
  });

  describe('with worker replicas', () => {
    const models: LanguageModel[] = [];
    const pools: DataParallel[] = [];
    const start = async (config: LanguageModelConfig, replicas: number) => {
      const model = build(config);
      models.push(model);
      const pool = await DataParallel.start(model, { replicas });
      pools.push(pool);
      return { model, pool };
    };
    after(async () => {
      await Promise.all(pools.map((p) => p.close()));
      models.forEach((m) => m.dispose());
    });

    // MoD decides top-k per sequence, and its losses are means over sequences: the split is exact.
    for (const [name, config] of [['dense', BASE], ['MoD', MOD]] as const) {
      it(`should give one replica's loss, gradients, routing and threshold state on ${name}, with uneven shards`, async () => {
        const { model, pool } = await start(config, 3);
        const before = tf.memory().numTensors;
        const { inputs, targets } = batch(5, 8, 11); // rows 2, 2, 1
        const initial = untrained(model);
        const expected = shardGradients(model, inputs, targets);
        const expectedState = untrained(model);
        restore(model, initial);
        const actual = await pool.step(inputs, targets);
        assertSameStep(actual, expected);
        untrained(model).forEach(([n, v], i) => assertClose(v, expectedState[i]![1], `state ${n}`, 1e-5));
        if (name === 'MoD') assert.ok(expectedState.length > 0 && expectedState.some(([, v]) => v.some((x) => x !== 0)), 'the MoD threshold state moved');
        tf.dispose([inputs, targets, ...expected.grads.values(), ...actual.grads.values()]);
        assert.equal(tf.memory().numTensors, before);
      });
    }

    it('should decide batch-level routing (MoE capacity, load balancing) per replica, as the mean of its shards', async () => {
      const { model, pool } = await start(MOE, 2);
      const { inputs, targets } = batch(4, 8, 12);
      const halves = [0, 2].map((r) => tf.tidy(() => ({ inputs: tf.slice(inputs, [r, 0], [2, 8]) as Tensor2D, targets: tf.slice(targets, [r, 0], [2, 8]) as Tensor2D })));
      const parts = halves.map((h) => shardGradients(model, h.inputs, h.targets));
      const mean = (f: (s: ShardGradients) => number) => (f(parts[0]!) + f(parts[1]!)) / 2;
      const actual = await pool.step(inputs, targets);
      assertClose([actual.loss, actual.lmLoss], [mean((s) => s.loss), mean((s) => s.lmLoss)], 'loss, lmLoss', 1e-5);
      for (const [name, g] of parts[0]!.grads) {
        const expected = tf.tidy(() => tf.mul(tf.add(g, parts[1]!.grads.get(name)!), 0.5));
        assertClose(actual.grads.get(name)!.dataSync(), expected.dataSync(), `grad ${name}`);
        expected.dispose();
      }
      assert.deepEqual(actual.routing[1]!.load, parts[0]!.routing[1]!.load.map((n, e) => n + parts[1]!.routing[1]!.load[e]!));
      tf.dispose([inputs, targets, ...halves.flatMap((h) => [h.inputs, h.targets]), ...parts.flatMap((p) => [...p.grads.values()]), ...actual.grads.values()]);
    });

    it("should report a replica's failure as a ReplicaError, without leaking tensors", async () => {
      const { pool } = await start(BASE, 2);
      const before = tf.memory().numTensors;
      // Row 1 goes to the worker replica, whose embedding refuses the out-of-range id.
      const inputs = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 300, 5, 6, 7, 8]], undefined, 'int32') as Tensor2D;
      const targets = tf.tensor2d([[2, 3, 4, 5, 6, 7, 8, 9], [2, 3, 4, 5, 6, 7, 8, 9]], undefined, 'int32') as Tensor2D;
      try {
        await assert.rejects(pool.step(inputs, targets), (e: unknown) => e instanceof ReplicaError && /replica 1 failed: ids \(300\) must be token ids from 0 to 255/.test(e.message));
      } finally {
        tf.dispose([inputs, targets]);
      }
      assert.equal(tf.memory().numTensors, before);
    });
  });

  describe('in the Trainer', () => {
    const tmp = useTempDir();
    const corpora = new CorpusCache();
    const TINY: TrainConfig = { model: MOD, batchSize: 4, seqLen: 8, steps: 4, learningRate: 1e-2, warmupSteps: 1, evalEvery: 0, evalWindows: 2, checkpointEvery: 0 };

    it('should train to the losses of one replica', async () => {
      const one: number[] = [];
      const two: number[] = [];
      await new Trainer(TINY).run({ outDir: `${tmp()}/one`, corpusCache: corpora, onStep: (e) => one.push(e.loss) });
      let replicas = 0;
      await new Trainer(TINY).run({ outDir: `${tmp()}/two`, corpusCache: corpora, replicas: 2, onStart: (i) => (replicas = i.replicas), onStep: (e) => two.push(e.loss) });
      assert.equal(replicas, 2);
      assertClose(two, one, 'losses', 1e-4);
    });

    it('should refuse replicas with a custom modelFactory, and a bad replica count', async () => {
      const modelFactory = createContainer().get(MODEL_IDS.ModelFactory);
      await assert.rejects(new Trainer(TINY).run({ outDir: `${tmp()}/x`, corpusCache: corpora, replicas: 2, modelFactory }), (e: unknown) => e instanceof ConfigError && e.parameter === 'replicas');
      await assert.rejects(new Trainer(TINY).run({ outDir: `${tmp()}/y`, corpusCache: corpora, replicas: 0 }), (e: unknown) => e instanceof ConfigError && e.parameter === 'replicas');
    });
  });
});
