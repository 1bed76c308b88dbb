// Data-parallel steps (parallel/DataParallel.ts): the combined loss, gradients and router
// statistics of replicas in worker threads against one replica on the whole batch.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigError, initBackend, tf, type Tensor2D } from '@moderoute/core';
import {
  createContainer,
  foldRouterStatistics,
  MODEL_IDS,
  type LanguageModel,
  type LanguageModelConfig,
} from '@moderoute/model';
import {
  CorpusCache,
  DataParallel,
  ReplicaError,
  ReplicaPool,
  Trainer,
  shardGradients,
  shardRows,
  type ShardGradients,
  type StepTiming,
  type TrainConfig,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

const BASE = {
  vocabSize: 256,
  width: 16,
  numHeads: 2,
  numLayers: 2,
  contextLength: 8,
  seed: 3,
} as const;
const MOD: LanguageModelConfig = {
  ...BASE,
  schedule: {
    pattern: [
      'dense',
      { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } } },
    ],
  },
};
// 8 experts for 2-8 tokens per shard: some experts get no tokens (and no gradient) in some shards.
const MOE: LanguageModelConfig = {
  ...BASE,
  schedule: {
    pattern: [
      'dense',
      {
        kind: 'moe',
        numExperts: 8,
        expertRouter: {
          name: 'token-choice',
          config: { topK: 1, capacity: { trainFactor: 1, evalFactor: 1 } },
        },
      },
    ],
  },
};

const build = (config: LanguageModelConfig): LanguageModel =>
  createContainer().get(MODEL_IDS.ModelFactory).create(config);

function batch(
  rows: number,
  seqLen: number,
  seed: number,
): { inputs: Tensor2D; targets: Tensor2D } {
  return tf.tidy(() => {
    const ids = tf.randomUniform([rows, seqLen + 1], 0, 256, 'int32', seed);
    return {
      inputs: tf.slice(ids, [0, 0], [rows, seqLen]) as Tensor2D,
      targets: tf.slice(ids, [0, 1], [rows, seqLen]) as Tensor2D,
    };
  });
}

const untrained = (model: LanguageModel) =>
  [...model.namedParameters()]
    .filter(([, v]) => !v.trainable)
    .map(([name, v]) => [name, Array.from(v.dataSync())] as const);
const restore = (model: LanguageModel, state: ReturnType<typeof untrained>) => {
  for (const [name, values] of state) {
    const v = model.namedParameters().get(name)!;
    tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
  }
};

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tol = 1e-4,
): void {
  assert.equal(actual.length, expected.length, what);
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol * scale,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (scale ${scale})`,
    );
  }
}

function assertSameStep(actual: ShardGradients, expected: ShardGradients): void {
  assertClose([actual.loss, actual.lmLoss], [expected.loss, expected.lmLoss], 'loss, lmLoss', 1e-5);
  assert.deepEqual(Object.keys(actual.auxLosses).sort(), Object.keys(expected.auxLosses).sort());
  for (const k of Object.keys(expected.auxLosses))
    assertClose([actual.auxLosses[k]!], [expected.auxLosses[k]!], `aux ${k}`, 1e-5);
  assert.deepEqual([...actual.grads.keys()], [...expected.grads.keys()]);
  for (const [name, g] of expected.grads)
    assertClose(actual.grads.get(name)!.dataSync(), g.dataSync(), `grad ${name}`);
  actual.routing.forEach((b, i) => {
    assertClose(
      [b.routedFraction],
      [expected.routing[i]!.routedFraction],
      `routed fraction of block ${i}`,
      1e-9,
    );
    assert.deepEqual(b.load, expected.routing[i]!.load, `load of block ${i}`);
  });
}

describe('DataParallel', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('should split rows as evenly as possible, in order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 16 }),
        (rows, replicas) => {
          const parts = shardRows(rows, replicas);
          assert.equal(parts.length, replicas);
          assert.equal(
            parts.reduce((a, b) => a + b, 0),
            rows,
          );
          assert.ok(Math.max(...parts) - Math.min(...parts) <= 1);
          parts.forEach((n, r) => assert.ok(r === 0 || n <= parts[r - 1]!));
        },
      ),
    );
  });

  it('should refuse a bad replica count, naming it', async () => {
    const model = build(BASE);
    try {
      for (const replicas of [1, 0, 2.5, 17])
        await assert.rejects(
          DataParallel.start(model, { replicas }),
          (e: unknown) => e instanceof ConfigError && e.parameter === 'replicas',
        );
    } finally {
      model.dispose();
    }
  });

  it('should refuse a relative modules path, and a module without containerModules, naming them', async () => {
    await assert.rejects(
      ReplicaPool.start({ replicas: 2, modules: './plugin.js' }),
      (e: unknown) => e instanceof ConfigError && e.parameter === 'modules',
    );
    const helpers = new URL('./helpers.ts', import.meta.url);
    await assert.rejects(
      ReplicaPool.start({ replicas: 2, modules: helpers }),
      (e: unknown) =>
        e instanceof ReplicaError &&
        e.message.includes(helpers.href) &&
        e.message.includes('must be an ES module that exports containerModules'),
    );
  });

  describe('with a pool of worker replicas', () => {
    // One pool of 3 replicas (the training thread and 2 workers) serves every model in turn.
    let pool: ReplicaPool;
    const models: LanguageModel[] = [];
    before(async () => {
      pool = await ReplicaPool.start({ replicas: 3 });
    });
    after(async () => {
      await pool.close();
      models.forEach((m) => m.dispose());
    });
    const attach = async (config: LanguageModelConfig) => {
      const model = build(config);
      models.push(model);
      return { model, stepper: await pool.attach(model) };
    };

    // MoD decides top-k per sequence, and its losses are means over sequences: the split is exact.
    // WIDE has about 430k parameters: the combine (2^18 floats per chunk) spans two chunks.
    const WIDE: LanguageModelConfig = { ...BASE, width: 128 };
    for (const [name, config] of [
      ['dense', BASE],
      ['MoD', MOD],
      ['dense over several combine chunks', WIDE],
    ] as const) {
      it(`should give one replica's loss, gradients, routing and statistics on ${name}, uneven shards`, async () => {
        const { model, stepper } = await attach(config);
        const before = tf.memory().numTensors;
        const { inputs, targets } = batch(5, 8, 11); // rows 2, 2, 1
        const initial = untrained(model);
        const expected = shardGradients(model, inputs, targets);
        // A step changes no router state: the statistics come back, and the step folds them.
        assert.deepEqual(untrained(model), initial);
        foldRouterStatistics(model, expected.statistics);
        const expectedState = untrained(model);
        restore(model, initial);
        const actual = await stepper.step(inputs, targets);
        assertSameStep(actual, expected);
        assert.deepEqual(untrained(model), initial);
        assert.equal(actual.statistics.length, 3);
        foldRouterStatistics(model, actual.statistics);
        untrained(model).forEach(([n, v], i) =>
          assertClose(v, expectedState[i]![1], `state ${n}`, 1e-5),
        );
        if (name === 'MoD')
          assert.ok(
            expectedState.length > 0 && expectedState.some(([, v]) => v.some((x) => x !== 0)),
            'the MoD threshold state moved',
          );
        tf.dispose([inputs, targets, ...expected.grads.values(), ...actual.grads.values()]);
        assert.equal(tf.memory().numTensors, before);
      });
    }

    it("should end N steps with one replica's cuts, folding all replicas' statistics once a step", async () => {
      const { model, stepper } = await attach(MOD);
      const initial = untrained(model);
      const steps = [21, 22, 23, 24, 25].map((seed) => batch(5, 8, seed));
      for (const { inputs, targets } of steps) {
        const one = shardGradients(model, inputs, targets);
        foldRouterStatistics(model, one.statistics);
        tf.dispose([...one.grads.values()]);
      }
      const oneReplica = untrained(model);
      restore(model, initial);
      for (const { inputs, targets } of steps) {
        const many = await stepper.step(inputs, targets);
        foldRouterStatistics(model, many.statistics);
        tf.dispose([...many.grads.values()]);
      }
      untrained(model).forEach(([n, v], i) =>
        assertClose(v, oneReplica[i]![1], `state ${n} after 5 steps`, 1e-6),
      );
      assert.ok(
        oneReplica.some(([, v]) => v[1] === 5),
        'the cut folded once per step',
      );
      tf.dispose(steps.flatMap((b) => [b.inputs, b.targets]));
    });

    it(
      'should decide batch-level routing (MoE capacity, load balancing) ' +
        'per replica: the row-weighted mean of its shards',
      async () => {
        const { model, stepper } = await attach(MOE);
        const { inputs, targets } = batch(4, 8, 12);
        const rows = shardRows(4, 3); // 2, 1, 1
        let start = 0;
        const parts = rows.map((n) => {
          const shard = tf.tidy(() => ({
            inputs: tf.slice(inputs, [start, 0], [n, 8]) as Tensor2D,
            targets: tf.slice(targets, [start, 0], [n, 8]) as Tensor2D,
          }));
          start += n;
          const g = shardGradients(model, shard.inputs, shard.targets);
          tf.dispose([shard.inputs, shard.targets]);
          return g;
        });
        const w = rows.map((n) => n / 4);
        const mean = (f: (s: ShardGradients) => number) =>
          parts.reduce((acc, p, r) => acc + w[r]! * f(p), 0);
        const actual = await stepper.step(inputs, targets);
        assertClose(
          [actual.loss, actual.lmLoss],
          [mean((p) => p.loss), mean((p) => p.lmLoss)],
          'loss, lmLoss',
          1e-5,
        );
        // A parameter gets the row-weighted sum of the shards' gradients, zero where a shard has
        // none; one that no shard reaches gets no entry.
        const reached = [...model.trainableParameters().keys()].filter((name) =>
          parts.some((p) => p.grads.has(name)),
        );
        assert.deepEqual([...actual.grads.keys()], reached);
        assert.ok(
          reached.some((name) => parts.some((p) => !p.grads.has(name))),
          'some parameter is reached by some shards only',
        );
        for (const name of reached) {
          const expected = tf.tidy(() =>
            tf.addN(
              parts.flatMap((p, r) =>
                p.grads.has(name) ? [tf.mul(p.grads.get(name)!, w[r]!)] : [],
              ),
            ),
          );
          assertClose(actual.grads.get(name)!.dataSync(), expected.dataSync(), `grad ${name}`);
          expected.dispose();
        }
        assert.deepEqual(
          actual.routing[1]!.load,
          parts[0]!.routing[1]!.load.map((_, e) =>
            parts.reduce((acc, p) => acc + p.routing[1]!.load[e]!, 0),
          ),
        );
        tf.dispose([
          inputs,
          targets,
          ...parts.flatMap((p) => [...p.grads.values()]),
          ...actual.grads.values(),
        ]);
      },
    );

    it("should report a replica's failure as a ReplicaError, leak no tensors, and stay usable", async () => {
      // Worker replica 1's row is long on a wide model, so it is still computing when replica 2
      // fails at its first kernel: the step must wait for it, or the next step finds it busy.
      const { stepper } = await attach({ ...BASE, width: 128, contextLength: 256 });
      const before = tf.memory().numTensors;
      // Row 2 goes to worker replica 2, whose embedding refuses the out-of-range id (the row kernel checks).
      const row = Array.from({ length: 256 }, (_, i) => 1 + (i % 200));
      const rows = [row, row, row.map((x, i) => (i === 3 ? 300 : x))];
      const inputs = tf.tensor2d(rows, undefined, 'int32') as Tensor2D;
      const targets = tf.tensor2d(
        rows.map((r) => r.map((x) => (x + 1) % 256)),
        undefined,
        'int32',
      ) as Tensor2D;
      try {
        await assert.rejects(
          stepper.step(inputs, targets),
          (e: unknown) =>
            e instanceof ReplicaError && /replica 2 failed: .*\b300\b.*\[0, 256\)/.test(e.message),
        );
      } finally {
        tf.dispose([inputs, targets]);
      }
      assert.equal(tf.memory().numTensors, before);
      const good = batch(3, 8, 14);
      const r = await stepper.step(good.inputs, good.targets);
      assert.ok(Number.isFinite(r.loss));
      tf.dispose([good.inputs, good.targets, ...r.grads.values()]);
    });

    it("should account for where each step's time went, on the training thread and each worker", async () => {
      const { stepper } = await attach(MOD);
      // Read through a function: an assertion on the property would narrow it for good.
      const timing = (): StepTiming | undefined => stepper.lastTiming;
      assert.equal(timing(), undefined, 'no timing before the first step');
      for (const seed of [16, 17]) {
        const { inputs, targets } = batch(5, 8, seed); // rows 2, 2, 1
        const start = performance.now();
        const step = await stepper.step(inputs, targets);
        const wall = performance.now() - start;
        tf.dispose([inputs, targets, ...step.grads.values()]);
        const t = timing();
        assert.ok(t !== undefined, 'a timing after a step');
        const phases = [t.postMs, t.computeMs, t.waitMs, t.combineMs];
        assert.ok(
          phases.every((ms) => Number.isFinite(ms) && ms >= 0),
          `phases ${phases.join(', ')}`,
        );
        assert.ok(t.computeMs > 0, 'the training thread computed its rows');
        const sum = phases.reduce((a, b) => a + b, 0);
        assert.ok(sum <= wall + 1e-6, `phases add up to ${sum} ms, more than the step's ${wall}`);
        assert.equal(t.workers.length, 2, 'one account per answering worker');
        for (const w of t.workers) {
          assert.ok(w.computeMs > 0, `worker computed: ${JSON.stringify(w)}`);
          assert.ok(w.loadMs >= 0 && w.packMs >= 0, JSON.stringify(w));
          // A worker's part runs while the training thread posts, computes and waits.
          assert.ok(w.loadMs + w.computeMs + w.packMs <= wall + 1e-6, JSON.stringify(w));
        }
      }
    });

    it('should refuse steps of a model it no longer serves', async () => {
      const first = await attach(BASE);
      await attach(BASE);
      const { inputs, targets } = batch(3, 8, 15);
      try {
        await assert.rejects(
          first.stepper.step(inputs, targets),
          (e: unknown) => e instanceof ReplicaError && /detached/.test(e.message),
        );
      } finally {
        tf.dispose([inputs, targets]);
      }
    });

    it('should serve runs in turn, giving each the losses of one replica', async () => {
      const corpora = new CorpusCache();
      const dir = mkdtempSync(join(tmpdir(), 'moderoute-dp-'));
      try {
        const config: TrainConfig = {
          model: MOD,
          batchSize: 4,
          seqLen: 8,
          steps: 3,
          learningRate: 1e-2,
          warmupSteps: 1,
          evalEvery: 0,
          evalWindows: 2,
          checkpointEvery: 0,
        };
        for (const seed of [1, 2]) {
          const one: number[] = [];
          const shared: number[] = [];
          await new Trainer({ ...config, seed }).run({
            outDir: join(dir, `one-${seed}`),
            corpusCache: corpora,
            onStep: (e) => one.push(e.loss),
          });
          await new Trainer({ ...config, seed }).run({
            outDir: join(dir, `pool-${seed}`),
            corpusCache: corpora,
            replicas: pool,
            onStep: (e) => shared.push(e.loss),
          });
          assertClose(shared, one, `losses of run ${seed}`, 1e-4);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('should serve runs in turn from one pool started from code, as docs/architecture.md shows', async () => {
    const shape = { vocabSize: 256, width: 16, numLayers: 2, numHeads: 2, contextLength: 8 };
    const models: Record<string, LanguageModelConfig> = {
      dense: shape,
      'mod-every-other': { ...shape, schedule: { pattern: ['dense', 'mod'] } },
    };
    const steps = 2;
    const runs = mkdtempSync(join(tmpdir(), 'moderoute-dp-doc-'));
    const results: [string, number, number | undefined][] = [];
    try {
      // [docs:shared-pool]
      await initBackend({ backend: 'wasm', preferredThreads: 1 }); // each replica takes a core
      const pool = await ReplicaPool.start({ replicas: 2 });
      try {
        for (const [name, model] of Object.entries(models)) {
          const result = await new Trainer({ model, steps, batchSize: 8 }).run({
            outDir: join(runs, name),
            replicas: pool,
          });
          results.push([name, result.replicas, result.finalValidationBitsPerByte]);
        }
      } finally {
        await pool.close();
      }
      // [docs:shared-pool]
    } finally {
      rmSync(runs, { recursive: true, force: true });
    }
    assert.deepEqual(
      results.map(([name, replicas]) => [name, replicas]),
      [
        ['dense', 2],
        ['mod-every-other', 2],
      ],
    );
    for (const [, , bpb] of results)
      assert.ok(bpb !== undefined && bpb > 0 && bpb < 9, String(bpb));
  });

  describe('in the Trainer', () => {
    const tmp = useTempDir();
    const corpora = new CorpusCache();
    const TINY: TrainConfig = {
      model: MOD,
      batchSize: 4,
      seqLen: 8,
      steps: 4,
      learningRate: 1e-2,
      warmupSteps: 1,
      evalEvery: 0,
      evalWindows: 2,
      checkpointEvery: 0,
    };

    it('should train to the losses of one replica, with a pool of its own', async () => {
      const one: number[] = [];
      const two: number[] = [];
      await new Trainer(TINY).run({
        outDir: `${tmp()}/one`,
        corpusCache: corpora,
        onStep: (e) => one.push(e.loss),
      });
      let replicas = 0;
      const result = await new Trainer(TINY).run({
        outDir: `${tmp()}/two`,
        corpusCache: corpora,
        replicas: 2,
        onStart: (i) => (replicas = i.replicas),
        onStep: (e) => two.push(e.loss),
      });
      assert.equal(replicas, 2);
      assert.equal(result.replicas, 2);
      assertClose(two, one, 'losses', 1e-4);
    });

    it('should resume with another replica count to the losses of an uninterrupted run', async () => {
      const config = { ...TINY, checkpointEvery: 2 };
      const whole: number[] = [];
      await new Trainer(config).run({
        outDir: `${tmp()}/whole`,
        corpusCache: corpora,
        onStep: (e) => whole.push(e.loss),
      });
      for (const [first, second] of [
        [2, 1],
        [1, 2],
      ] as const) {
        const losses: number[] = [];
        const out = `${tmp()}/from-${first}`;
        const stop = new AbortController();
        const onStep = (e: { step: number; loss: number }) => {
          losses.push(e.loss);
          if (e.step === 2) stop.abort();
        };
        const a = await new Trainer(config).run({
          outDir: out,
          corpusCache: corpora,
          replicas: first,
          signal: stop.signal,
          onStep,
        });
        assert.equal(a.stopReason, 'interrupted');
        const b = await new Trainer(config).run({
          outDir: out,
          corpusCache: corpora,
          replicas: second,
          onStep,
        });
        assert.equal(b.resumedFrom, 2);
        assertClose(losses, whole, `losses, ${first} then ${second} replicas`, 1e-4);
      }
    });

    it('should refuse replicas with a custom modelFactory, and a bad replica count', async () => {
      const modelFactory = createContainer().get(MODEL_IDS.ModelFactory);
      await assert.rejects(
        new Trainer(TINY).run({
          outDir: `${tmp()}/x`,
          corpusCache: corpora,
          replicas: 2,
          modelFactory,
        }),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'replicas',
      );
      await assert.rejects(
        new Trainer(TINY).run({ outDir: `${tmp()}/y`, corpusCache: corpora, replicas: 0 }),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'replicas',
      );
    });
  });
});
