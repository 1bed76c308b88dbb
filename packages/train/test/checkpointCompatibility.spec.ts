// Checkpoints written before routers kept their parameters in the model's ParameterStore still
// load, under the same names (`blocks.<i>.routers.<r>.<name>`), compute the same logits, and
// resume: a checkpoint main's code wrote (fixtures/main-956705e, see its README).
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import { createContainer, MODEL_IDS } from '@moderoute/model';
import { CorpusCache, Trainer, restoreModel, type TrainConfig } from '../src/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/main-956705e/', import.meta.url));
const CHECKPOINT = join(FIXTURE, 'ckpt-00000002');
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as {
  input: number[][];
  names: string[];
  logits: number[];
};

describe('a checkpoint written by an earlier version (router variables outside the store)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('should load every parameter under its old name and give the same logits', () => {
    const { model } = restoreModel(CHECKPOINT, createContainer().get(MODEL_IDS.ModelFactory));
    try {
      // Plus the MoD predictor's linear path, added later (issue 21): it loads as zeros.
      const later = (n: string) => n.endsWith('.predictor.linear');
      const names = [...model.namedParameters().keys()];
      assert.deepEqual(names.filter((n) => !later(n)).sort(), [...expected.names].sort());
      for (const n of names.filter(later))
        assert.deepEqual([...new Set(model.namedParameters().get(n)!.dataSync())], [0]);
      const logits = tf.tidy(() => {
        const ids = tf.tensor2d(expected.input, [2, 8], 'int32') as Tensor2D;
        return Array.from(model.forward(ids).logits.dataSync()).slice(0, expected.logits.length);
      });
      logits.forEach((v, i) =>
        assert.ok(
          Math.abs(v - expected.logits[i]!) < 1e-5,
          `logit ${i}: ${v} vs ${expected.logits[i]}`,
        ),
      );
    } finally {
      model.dispose();
    }
  });

  it('should resume its run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'moderoute-old-ckpt-'));
    try {
      cpSync(CHECKPOINT, join(dir, 'checkpoints', 'ckpt-00000002'), { recursive: true });
      const config = JSON.parse(readFileSync(join(CHECKPOINT, 'config.json'), 'utf8')) as {
        model: TrainConfig['model'];
        train: Record<string, unknown>;
      };
      const { batchSize, seqLen, learningRate, warmupSteps } = config.train as {
        batchSize: number;
        seqLen: number;
        learningRate: number;
        warmupSteps: number;
      };
      const result = await new Trainer({
        model: config.model,
        ...{ batchSize, seqLen, learningRate, warmupSteps },
        steps: 3,
        evalEvery: 0,
        evalWindows: 1,
        checkpointEvery: 0,
      }).run({ outDir: dir, corpusCache: new CorpusCache() });
      assert.equal(result.resumedFrom, 2);
      assert.equal(result.stopReason, 'completed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
