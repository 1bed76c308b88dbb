// The reproducibility law of training with routing randomness on (expert-choice jitter and
// token-choice noisy gating with jitter): training twice from the same seed, or resuming from
// any checkpoint, gives the same losses, on 1 and 2 replicas; and replicas draw distinct noise.
// The noise of a routing call is keyed by (run seed, step, replica, block, stage): no router
// keeps a call counter that a resume would restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import { createContainer, MODEL_IDS, type LanguageModelConfig } from '@moderoute/model';
import { CorpusCache, ReplicaPool, Trainer, type TrainConfig } from '@moderoute/train';

const MODEL: LanguageModelConfig = {
  vocabSize: 256,
  width: 16,
  numHeads: 2,
  numLayers: 2,
  contextLength: 16,
  schedule: {
    pattern: [
      {
        kind: 'moe',
        numExperts: 4,
        expertHidden: 16,
        expertRouter: { name: 'token-choice', config: { noisyGating: true, jitter: 0.2 } },
      },
      {
        kind: 'moe',
        numExperts: 4,
        expertHidden: 16,
        expertRouter: { name: 'expert-choice', config: { jitter: 0.2 } },
      },
    ],
  },
};

const CONFIG: TrainConfig = {
  model: MODEL,
  batchSize: 4,
  seqLen: 16,
  steps: 4,
  learningRate: 1e-2,
  warmupSteps: 1,
  evalEvery: 0,
  evalWindows: 1,
  checkpointEvery: 1,
};

describe('training with routing randomness (law)', () => {
  const corpora = new CorpusCache();
  let dir: string;
  let pool: ReplicaPool;
  before(async () => {
    await initBackend({ backend: 'wasm' });
    dir = mkdtempSync(join(tmpdir(), 'moderoute-rng-'));
    pool = await ReplicaPool.start({ replicas: 2 });
  });
  after(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The losses of a run in `out`, optionally interrupted after step `stopAt`. */
  async function losses(out: string, replicas: 1 | 2, stopAt?: number): Promise<number[]> {
    const controller = new AbortController();
    const seen: number[] = [];
    await new Trainer(CONFIG).run({
      outDir: join(dir, out),
      corpusCache: corpora,
      signal: controller.signal,
      ...(replicas === 2 ? { replicas: pool } : {}),
      onStep: (e) => {
        seen.push(e.loss);
        if (e.step === stopAt) controller.abort();
      },
    });
    return seen;
  }

  for (const replicas of [1, 2] as const) {
    describe(`on ${replicas} replica${replicas > 1 ? 's' : ''}`, () => {
      it('should give the same losses when trained twice from the same seed', async () => {
        const first = await losses(`twice-a-${replicas}`, replicas);
        assert.deepEqual(await losses(`twice-b-${replicas}`, replicas), first);
      });

      it('should give the uninterrupted losses when resumed from any checkpoint', async () => {
        const full = await losses(`full-${replicas}`, replicas);
        for (const stopAt of [1, 2, 3]) {
          const out = `resumed-${replicas}-at-${stopAt}`;
          const head = await losses(out, replicas, stopAt);
          const tail = await losses(out, replicas);
          assert.deepEqual([...head, ...tail], full, `resumed after step ${stopAt}`);
        }
      });
    });
  }

  it('should draw distinct noise on distinct replicas, steps and blocks, the same for the same key', () => {
    const model = createContainer().get(MODEL_IDS.ModelFactory).create(MODEL);
    try {
      const ids = tf.tensor2d([[...Array(16).keys()]], [1, 16], 'int32') as Tensor2D;
      const loss = (step: number, replica: number) =>
        tf.tidy(
          () => model.loss(ids, ids, { training: true, step, replica, seed: 5 }).loss.dataSync()[0],
        );
      const base = loss(3, 0);
      assert.equal(loss(3, 0), base);
      assert.notEqual(loss(3, 1), base);
      assert.notEqual(loss(4, 0), base);
      ids.dispose();
    } finally {
      model.dispose();
    }
  });
});
