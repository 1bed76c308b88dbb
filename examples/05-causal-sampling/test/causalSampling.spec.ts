// Runs example 5 at its tiny size: trains the MoD (predictor) and dense models, then checks the
// agreement figures, seeded sampling, that skipped tokens write nothing to the MoD blocks'
// caches, and that measuring leaks no tensors.
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { initBackend, tf } from '@moderoute/core';
import {
  createContainer,
  MODEL_IDS,
  Decoder,
  generateText,
  type LanguageModel,
} from '@moderoute/model';
import { CorpusCache, restoreModel } from '@moderoute/train';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SIZES,
  causalSampling,
  formatReport,
  measure,
  modelConfig,
  type CausalSamplingResult,
} from '../src/causalSampling.js';

describe('example 05-causal-sampling', () => {
  let outDir: string;
  let result: CausalSamplingResult;
  let mod: LanguageModel;
  let dense: LanguageModel;
  const tiny = SIZES.tiny;

  before(async () => {
    await initBackend({ backend: 'wasm' });
    outDir = mkdtempSync(join(tmpdir(), 'moderoute-causal-sampling-test-'));
    result = await causalSampling({ size: 'tiny', outDir });
    const models = createContainer().get(MODEL_IDS.ModelFactory);
    mod = restoreModel(join(outDir, 'mod'), models).model;
    dense = restoreModel(join(outDir, 'dense'), models).model;
  });

  after(() => {
    mod?.dispose();
    dense?.dispose();
    rmSync(outDir, { recursive: true, force: true });
  });

  it('should train the MoD model with a predictor and the dense model the same way', () => {
    assert.deepEqual(modelConfig('mod', 'tiny').schedule, {
      pattern: [
        'dense',
        {
          kind: 'mod',
          depthRouter: {
            name: 'mixture-of-depths',
            config: { capacity: 0.125, causalMode: 'predictor' },
          },
        },
      ],
    });
    for (const v of ['mod', 'dense'] as const) {
      assert.equal(result.training[v].stopReason, 'completed');
      assert.equal(result.training[v].step, tiny.train.steps);
    }
    assert.deepEqual(
      mod.config.blocks.map((b) => b.kind),
      ['dense', 'mod'],
    );
    assert.deepEqual(
      dense.config.blocks.map((b) => b.kind),
      ['dense', 'dense'],
    );
    assert.equal(mod.blocks[1]!.routers()[0]!.getConfig()['causalMode'], 'predictor');
  });

  it("should report the predictor's agreement with top-k for the MoD block as numbers in [0, 1]", () => {
    const { agreement, bitsPerByte } = result.evaluation;
    assert.deepEqual(
      agreement.map((a) => [a.block, a.kind]),
      [[1, 'mod']],
    );
    const block = agreement[0]!;
    assert.equal(block.topKFraction, 0.125);
    for (const rule of [block.predictor!, block.threshold!]) {
      for (const x of [rule.accuracy, rule.precision, rule.recall, rule.selectedFraction])
        assert.ok(typeof x === 'number' && x >= 0 && x <= 1, String(x));
      assert.equal(rule.tokens, tiny.evalWindows * tiny.train.seqLen!);
    }
    for (const mode of ['top-k', 'threshold', 'predictor'] as const)
      assert.ok(bitsPerByte[mode]! > 0 && bitsPerByte[mode]! < 9, `${mode}: ${bitsPerByte[mode]}`);
  });

  it('should sample the same tokens for the same seed', async () => {
    const options = { maxTokens: tiny.sampleTokens, temperature: 0.8, topK: 40, seed: 1 };
    const again = await generateText(mod, tiny.prompt, options);
    assert.deepEqual(again.tokens, result.sample.tokens);
    assert.equal(again.text, result.sample.text);
    assert.equal(result.sample.tokens.length, tiny.sampleTokens);
    const other = await generateText(mod, tiny.prompt, { ...options, seed: 2 });
    assert.notDeepEqual(other.tokens, again.tokens, 'another seed, another sample');
  });

  it('should cache fewer tokens in the MoD block than in the dense blocks while decoding', async () => {
    const seen = Buffer.byteLength(tiny.prompt) + tiny.timedTokens - 1;
    const [first, routed] = result.modBlocks;
    assert.deepEqual([first!.kind, routed!.kind], ['dense', 'mod']);
    for (const b of [...result.denseBlocks, first!])
      assert.deepEqual(
        [b.seen, b.attended, b.computed, b.processedFraction],
        [seen, seen, seen, 1],
      );
    assert.equal(routed!.seen, seen);
    assert.ok(
      routed!.attended < first!.attended,
      `MoD block cached ${routed!.attended} of ${seen} tokens`,
    );
    assert.equal(routed!.processedFraction, routed!.computed / seen);
    // The timed run's sequence fed to a Decoder in one step: its caches hold what the statistics counted.
    const prompt = Array.from(Buffer.from(tiny.prompt));
    const decoder = new Decoder(mod);
    try {
      const { tokens } = await generateText(mod, prompt, {
        maxTokens: tiny.timedTokens,
        temperature: 0,
      });
      const sequence = [...prompt, ...tokens.slice(0, -1)];
      tf.dispose(decoder.feed(sequence));
      assert.deepEqual(decoder.cacheLengths(), [seen, routed!.attended]);
    } finally {
      decoder.dispose();
    }
  });

  it('should time both models and print the report', () => {
    for (const t of [result.dense, result.mod, result.modThreshold]) {
      assert.equal(t.runsMs.length, tiny.reps);
      assert.ok(t.tokensPerSecond > 0 && Number.isFinite(t.tokensPerSecond));
    }
    assert.equal(result.speedup, result.mod.tokensPerSecond / result.dense.tokensPerSecond);
    const report = formatReport(result);
    assert.match(report, /^ +1 +12\.5% +predictor /m);
    assert.equal(
      result.thresholdSpeedup,
      result.modThreshold.tokensPerSecond / result.dense.tokensPerSecond,
    );
    assert.match(report, /speed-up of the MoD model decoding with its predictor: \d+\.\d\dx/);
  });

  it('should leak no tensors while evaluating, sampling and timing', async () => {
    const { validation } = new CorpusCache().load({ kind: 'sotu' }, { seqLen: tiny.train.seqLen! });
    const before = tf.memory().numTensors;
    await measure(mod, dense, { size: 'tiny', validation });
    assert.equal(tf.memory().numTensors, before);
  });
});
