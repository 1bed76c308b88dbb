// Checkpoints as bytes (checkpointFiles.ts, modelFromCheckpoint.ts): what a browser page writes
// and reads with no file system. The files encodeCheckpointFiles makes are the files
// CheckpointStore writes, byte for byte; decodeCheckpoint reads them back with loadCheckpoint's
// checks; modelFromCheckpoint rebuilds the model with the same logits.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import {
  MODEL_IDS,
  createContainer,
  type LanguageModel,
  type LanguageModelConfig,
} from '@moderoute/model';
import * as browser from '../src/index.browser.js';
import { sha256 } from '../src/checkpoint/atomicFiles.js';
import { CheckpointError, CheckpointStore, checkpointConfig } from '../src/index.js';
import { useTempDir } from './helpers.js';

const CONFIG: LanguageModelConfig = {
  width: 8,
  numHeads: 2,
  numLayers: 2,
  contextLength: 8,
  schedule: { layers: ['dense', 'mod'] },
};
const IDS = [[3, 17, 9, 22, 9, 1, 38, 5]];

function logits(model: LanguageModel): number[] {
  return tf.tidy(() =>
    Array.from(model.forward(tf.tensor2d(IDS, undefined, 'int32') as Tensor2D).logits.dataSync()),
  );
}

describe('checkpoints as bytes (encodeCheckpointFiles, decodeCheckpoint, modelFromCheckpoint)', () => {
  const tmp = useTempDir();
  const factory = () => createContainer().get(MODEL_IDS.ModelFactory);
  before(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it("should write CheckpointStore's files byte for byte and rebuild a model with the same logits", async () => {
    const before = tf.memory().numTensors;
    const model = factory().create(CONFIG);
    try {
      for (const v of model.namedParameters().values())
        tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', v.size))));
      const contents = {
        weights: model.namedParameters(),
        optimizer: new Map(),
        config: checkpointConfig(model, {}),
        state: { step: 3 },
      };
      const files = await browser.encodeCheckpointFiles(contents, async (bytes) => sha256(bytes));
      const dir = await new CheckpointStore(tmp()).save(contents);
      assert.deepEqual(
        files.map(([name]) => name).sort(),
        readdirSync(dir).sort(),
        'the same file names',
      );
      for (const [name, bytes] of files)
        assert.deepEqual(bytes, new Uint8Array(readFileSync(join(dir, name))), name);

      const byName = new Map(files);
      const checkpoint = browser.decodeCheckpoint({
        dir: 'page.tar',
        read: (file) => byName.get(file),
        sha256,
      });
      assert.equal(checkpoint.step, 3);
      const { model: rebuilt } = browser.modelFromCheckpoint(checkpoint, factory());
      try {
        assert.deepEqual(logits(rebuilt), logits(model));
      } finally {
        rebuilt.dispose();
      }
    } finally {
      model.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('should refuse files that are not a moderoute checkpoint, naming the file', () => {
    const junk = new Map([['MANIFEST.json', new TextEncoder().encode('{"format": "keras"}')]]);
    assert.throws(
      () => browser.decodeCheckpoint({ dir: 'upload', read: (f) => junk.get(f), sha256 }),
      (error: unknown) =>
        error instanceof CheckpointError &&
        /^checkpoint file upload\/MANIFEST\.json .*is not a moderoute-checkpoint manifest/.test(
          error.message,
        ),
    );
    assert.throws(
      () => browser.decodeCheckpoint({ dir: 'upload', read: () => undefined, sha256 }),
      /upload\/MANIFEST\.json .*is missing/,
    );
  });
});
