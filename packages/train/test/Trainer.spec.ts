import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, initBackend, tf } from '@moderoute/core';
import {
  CheckpointError,
  CheckpointStore,
  CorpusCache,
  Trainer,
  fromHostTensors,
  readJsonl,
  ResumeError,
  type TrainConfig,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

const TINY: TrainConfig = {
  model: {
    width: 16,
    numHeads: 2,
    numLayers: 2,
    contextLength: 16,
    schedule: { pattern: ['dense', 'mod'] },
    blockDefaults: {
      mod: { depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } } },
    },
  },
  batchSize: 2,
  steps: 6,
  learningRate: 1e-2,
  warmupSteps: 2,
  evalEvery: 3,
  evalWindows: 4,
  checkpointEvery: 2,
};

describe('Trainer', () => {
  const tmp = useTempDir();
  const corpora = new CorpusCache();
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('should train, evaluate, log and checkpoint, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const out = join(tmp(), 'run');
    const steps: number[] = [];
    const result = await new Trainer(TINY).run({
      outDir: out,
      corpusCache: corpora,
      onStep: (e) => steps.push(e.loss),
    });
    assert.equal(result.stopReason, 'completed');
    assert.equal(result.step, 6);
    assert.deepEqual(
      result.evals.map((e) => e.step),
      [3, 6],
    );
    assert.ok(
      result.finalValidationBitsPerByte! > 0 && result.finalValidationBitsPerByte! < 9,
      String(result.finalValidationBitsPerByte),
    );
    assert.ok(steps[5]! < steps[0]!, `loss did not fall: ${steps.join(', ')}`);
    assert.equal(result.trainingFlops, 6 * 2 * result.forwardFlopsPerSequence * 3);
    assert.ok(
      result.routedFractionPerBlock[1]! > 0.2 && result.routedFractionPerBlock[1]! < 0.3,
      String(result.routedFractionPerBlock),
    );
    const rows = readJsonl(join(out, 'metrics.jsonl'));
    assert.equal(rows.filter((r) => r['kind'] === 'step').length, 6);
    assert.equal(rows.filter((r) => r['kind'] === 'eval').length, 2);
    assert.ok(existsSync(join(out, 'checkpoints', 'latest')));
    assert.equal(tf.memory().numTensors, before);
  });

  it('should resume to exactly the losses of an uninterrupted run', async () => {
    const full: number[] = [];
    await new Trainer(TINY).run({
      outDir: join(tmp(), 'full'),
      corpusCache: corpora,
      onStep: (e) => full.push(e.loss),
    });
    const controller = new AbortController();
    const first: number[] = [];
    const interrupted = await new Trainer(TINY).run({
      outDir: join(tmp(), 'resumed'),
      corpusCache: corpora,
      signal: controller.signal,
      onStep: (e) => {
        first.push(e.loss);
        if (e.step === 3) controller.abort();
      },
    });
    assert.equal(interrupted.stopReason, 'interrupted');
    assert.equal(interrupted.step, 3);
    const second: number[] = [];
    const resumed = await new Trainer(TINY).run({
      outDir: join(tmp(), 'resumed'),
      corpusCache: corpora,
      onStep: (e) => second.push(e.loss),
    });
    assert.equal(resumed.resumedFrom, 3);
    assert.deepEqual([...first, ...second], full);
    assert.deepEqual(
      resumed.evals.map((e) => e.validationBitsPerByte),
      await readEvals(join(tmp(), 'full')),
    );
    const log = readJsonl(join(tmp(), 'resumed', 'metrics.jsonl')).filter(
      (r) => r['kind'] === 'step',
    );
    assert.deepEqual(
      log.map((r) => r['step']),
      [1, 2, 3, 4, 5, 6],
    );
  });

  it('should stop on a non-finite loss, keeping the last good checkpoint', async () => {
    const out = join(tmp(), 'nan');
    const result = await new Trainer({
      ...TINY,
      learningRate: 1e30,
      clipNorm: 0,
      weightDecay: 0,
      warmupSteps: 0,
      checkpointEvery: 1,
    }).run({ outDir: out, corpusCache: corpora });
    assert.equal(result.stopReason, 'non-finite');
    assert.match(result.message!, /non-finite at step \d+.*last good checkpoint/);
    assert.ok(result.step < 6);
    if (result.step > 0)
      assert.ok(
        result.lastCheckpoint?.endsWith(String(result.step).padStart(8, '0')) ||
          result.lastCheckpoint?.includes(String(result.step)),
      );
  });

  it('should refuse to resume a run of another model, overwriting nothing', async () => {
    const out = join(tmp(), 'run');
    const latest = readFileSync(join(out, 'checkpoints', 'latest'), 'utf8');
    await assert.rejects(
      new Trainer({ ...TINY, model: { ...TINY.model, width: 32 } }).run({
        outDir: out,
        corpusCache: corpora,
      }),
      (e: unknown) => e instanceof ResumeError || e instanceof CheckpointError,
    );
    assert.equal(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8'), latest);
  });

  it("should resume a checkpoint written before the MoD router's threshold state existed", async () => {
    const out = join(tmp(), 'old-format');
    await new Trainer({ ...TINY, steps: 2 }).run({ outDir: out, corpusCache: corpora });
    // Rewrite the checkpoint without the untrained `threshold` tensor, as older versions wrote it.
    const store = new CheckpointStore(join(out, 'checkpoints'));
    const saved = store.load();
    assert.ok(saved.weights.has('blocks.1.routers.0.threshold'));
    const weights = fromHostTensors(
      new Map([...saved.weights].filter(([name]) => !name.endsWith('.threshold'))),
    );
    const optimizer = fromHostTensors(saved.optimizer);
    try {
      await store.save({ weights, optimizer, config: saved.config, state: saved.state });
    } finally {
      tf.dispose([...weights.values(), ...optimizer.values()]);
    }
    assert.ok(!store.load().weights.has('blocks.1.routers.0.threshold'));
    const result = await new Trainer({ ...TINY, steps: 4 }).run({
      outDir: out,
      corpusCache: corpora,
    });
    assert.equal(result.resumedFrom, 2);
    assert.equal(result.stopReason, 'completed');
    // The resumed run saves the state again.
    assert.ok(store.load().weights.has('blocks.1.routers.0.threshold'));
  });

  it('should name bad config values', () => {
    assert.throws(
      () => new Trainer({ ...TINY, steps: 0 }),
      (e: unknown) => e instanceof ConfigError && /steps \(0\)/.test(e.message),
    );
    assert.throws(
      () => new Trainer({ ...TINY, seqLen: 64 }),
      /seqLen \(64\) must be an integer in \[1, 16\]/,
    );
  });

  it('should give a clear error for an empty data file', async () => {
    const file = join(tmp(), 'empty.txt');
    writeFileSync(file, '');
    await assert.rejects(
      new Trainer({ ...TINY, data: { kind: 'path', path: file } }).run({
        outDir: join(tmp(), 'e'),
      }),
      /empty/,
    );
  });
});

async function readEvals(dir: string): Promise<number[]> {
  return readJsonl(join(dir, 'metrics.jsonl'))
    .filter((r) => r['kind'] === 'eval')
    .map((r) => r['validationBitsPerByte'] as number);
}
