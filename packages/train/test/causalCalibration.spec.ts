import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initBackend, tf } from '@moderoute/core';
import { createContainer, MODEL_IDS, causalAgreement } from '@moderoute/model';
import {
  CorpusCache,
  Trainer,
  restoreModel,
  validationWindows,
  type EvalEvent,
  type TrainConfig,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

// After training, each routed block's causal rule (Raposo et al. 2024, section 3.5)
// must select about top-k's fraction of held-out tokens. The routers' running estimate of the
// cut lagged r as it drifted during training, so a block could select nothing; the Trainer now
// calibrates the cuts with the saved weights.
const depthRouter = { name: 'mixture-of-depths', config: { capacity: 0.125 } };
const MODELS: Record<string, TrainConfig['model']> = {
  mod: {
    width: 16,
    numHeads: 2,
    numLayers: 4,
    contextLength: 64,
    schedule: { pattern: ['dense', { kind: 'mod', depthRouter }] },
  },
  'staged MoDE': {
    width: 16,
    numHeads: 2,
    numLayers: 4,
    contextLength: 64,
    schedule: {
      pattern: [
        'dense',
        {
          kind: 'mode-staged',
          numExperts: 2,
          depthRouter,
          expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { dropless: true } } },
        },
      ],
    },
  },
};
/** Largest accepted |selected - top-k fraction| on 32 held-out windows of a 24-step tiny model. */
const TOLERANCE = 0.05;

describe('Trainer causal calibration', () => {
  const tmp = useTempDir();
  const corpora = new CorpusCache();
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const [name, model] of Object.entries(MODELS)) {
    it(
      `should leave every routed block of a trained ${name} model selecting about ` +
        `top-k's fraction under the threshold rule on held-out windows`,
      async () => {
        const config: TrainConfig = {
          model,
          batchSize: 4,
          seqLen: 64,
          steps: 24,
          learningRate: 1e-2,
          warmupSteps: 4,
          evalWindows: 2,
        };
        const out = join(tmp(), name.replace(/\W/g, '-'));
        const evals: EvalEvent[] = [];
        const result = await new Trainer(config).run({
          outDir: out,
          corpusCache: corpora,
          onEval: (e) => evals.push(e),
        });
        assert.equal(result.stopReason, 'completed');
        const before = tf.memory().numTensors;
        const { model: trained } = restoreModel(out, createContainer().get(MODEL_IDS.ModelFactory));
        try {
          const held = validationWindows(
            corpora.load({ kind: 'sotu' }, { seqLen: 64 }).validation,
            {
              batchSize: 8,
              seqLen: 64,
              maxWindows: 32,
            },
          );
          const agreement = causalAgreement(trained, held);
          assert.equal(agreement.length, 2);
          // The last evaluation scored the causal rules as the checkpoint saved at that step
          // decides, on the run's validation windows (not with the lagging running cut).
          const validation = corpora.load({ kind: 'sotu' }, { seqLen: 64 }).validation;
          const evalWindows = validationWindows(validation, {
            batchSize: 4,
            seqLen: 64,
            maxWindows: 2,
          });
          assert.equal(evals.at(-1)?.step, 24);
          assert.deepEqual(evals.at(-1)?.causal, causalAgreement(trained, evalWindows));
          for (const a of agreement) {
            const selected = a.threshold!.selectedFraction;
            assert.ok(
              Math.abs(selected - a.topKFraction) <= TOLERANCE,
              `block ${a.block}: the threshold rule selects ${selected.toFixed(3)} of held-out ` +
                `tokens, top-k ${a.topKFraction.toFixed(3)}`,
            );
          }
        } finally {
          trained.dispose();
        }
        assert.equal(tf.memory().numTensors, before);
      },
    );
  }
});
