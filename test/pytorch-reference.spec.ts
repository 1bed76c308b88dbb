// docs/model-format.md is precise enough to rebuild the forward pass elsewhere: the PyTorch
// script docs/reference/moderoute_forward.py, written from it, must reproduce moderoute's logits
// from a checkpoint. Runs where Debian's python3 has torch and numpy; says so and skips elsewhere.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';
import { expectClose } from '@moderoute/testing';
import { CheckpointStore } from '@moderoute/train';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'docs',
  'reference',
  'moderoute_forward.py',
);

function torchAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
}

const CONFIGS: [string, LanguageModelConfig][] = [
  ['dense', { width: 16, numHeads: 2, numLayers: 2, contextLength: 12, vocabSize: 40 }],
  [
    'MoD every other block, sigmoid gate',
    {
      width: 16,
      numHeads: 4,
      numLayers: 3,
      contextLength: 12,
      vocabSize: 40,
      seed: 3,
      schedule: {
        pattern: [
          'dense',
          {
            kind: 'mod',
            depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.3, gate: 'sigmoid' } },
          },
        ],
      },
    },
  ],
];

describe('docs/model-format.md', () => {
  before(async function () {
    if (!torchAvailable()) {
      console.log(
        `      (skipped: ${PYTHON} with torch and numpy is not installed; apt-get install python3-torch)`,
      );
      this.skip();
    }
    await initBackend({ backend: 'cpu' });
  });

  for (const [name, config] of CONFIGS) {
    it(`should let PyTorch reproduce the logits from a checkpoint: ${name}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'moderoute-pt-'));
      const model = createContainer().get(MODEL_IDS.ModelFactory).create(config);
      try {
        // Perturb the weights so that biases and gains are not trivially zero or one.
        for (const v of model.namedParameters().values())
          v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.05, 'float32', v.size))));
        const checkpoint = await new CheckpointStore(dir).save({
          weights: model.namedParameters(),
          optimizer: new Map(),
          config: { model: model.getConfig() } as never,
          state: { step: 0 },
        });
        const ids = [3, 17, 9, 22, 9, 1, 38, 5, 0, 12];
        const ours = tf.tidy(
          () =>
            model
              .forward(tf.tensor2d([ids], [1, ids.length], 'int32') as Tensor2D)
              .logits.squeeze([0])
              .arraySync() as number[][],
        );
        const theirs = JSON.parse(
          execFileSync(PYTHON, [SCRIPT, checkpoint, ...ids.map(String)], { encoding: 'utf8' }),
        ) as number[][];
        assert.equal(theirs.length, ids.length);
        expectClose(ours, theirs, { rtol: 1e-4, atol: 1e-4 }, 'logits');
      } finally {
        model.dispose();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
