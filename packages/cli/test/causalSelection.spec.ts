// The causal-selection guard of `eval --routing causal` and `generate`: a routed block
// whose causal rule selects no token is reported on stderr and in the JSON.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@moderoute/core';
import { CheckpointStore, fromHostTensors } from '@moderoute/train';
import { EXIT } from '../src/index.js';
import { TINY_MODEL, run } from './helpers.js';

/** Rewrites the latest checkpoint of `run` with every MoD threshold cut at `cut`. */
async function setCuts(runDir: string, cut: number): Promise<void> {
  const store = new CheckpointStore(join(runDir, 'checkpoints'));
  const saved = store.load();
  const weights = fromHostTensors(saved.weights);
  const optimizer = fromHostTensors(saved.optimizer);
  try {
    for (const [name, t] of weights)
      if (name.endsWith('.threshold'))
        weights.set(name, tf.tensor1d([cut, t.dataSync()[1] as number]));
    await store.save({ weights, optimizer, config: saved.config, state: saved.state });
  } finally {
    tf.dispose([...weights.values(), ...optimizer.values()]);
  }
}

describe('moderoute causal-selection guard', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderoute-guard-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("should warn in eval --routing causal and generate when a block's causal rule selects no token", async () => {
    const out = join(dir, 'run');
    const trained = await run(
      'train',
      '--variant',
      'mod-every-other',
      ...TINY_MODEL,
      '--steps',
      '2',
      '--out',
      out,
      '--json',
    );
    assert.equal(trained.code, EXIT.ok, trained.err);
    // A cut above every router logit, as a lagging running estimate left it.
    await setCuts(out, 1e6);
    const ev = await run(
      'eval',
      '--checkpoint',
      out,
      '--windows',
      '4',
      '--routing',
      'causal',
      '--json',
      '--backend',
      'wasm',
    );
    assert.equal(ev.code, EXIT.ok, ev.err);
    const r = JSON.parse(ev.out) as {
      selection: { block: number; rule: string; selectedFraction: number; ok: boolean }[];
      warnings: string[];
    };
    assert.deepEqual(
      r.selection.map((c) => [c.block, c.rule, c.selectedFraction, c.ok]),
      [[1, 'threshold', 0, false]],
    );
    assert.equal(r.warnings.length, 1);
    assert.match(
      ev.err,
      /warning: block 1 \(mod\) threshold rule selects no token: the block is switched off while sampling/,
    );
    const text = await run(
      'eval',
      '--checkpoint',
      out,
      '--windows',
      '4',
      '--routing',
      'causal',
      '--backend',
      'wasm',
    );
    assert.match(text.err, /selects no token/);

    const gen = await run(
      'generate',
      '--checkpoint',
      out,
      '--prompt',
      'We',
      '--max-tokens',
      '40',
      '--json',
      '--backend',
      'wasm',
    );
    assert.equal(gen.code, EXIT.ok, gen.err);
    const g = JSON.parse(gen.out) as {
      selection: { block: number; selectedFraction: number; ok: boolean }[];
      warnings: string[];
    };
    assert.deepEqual(
      g.selection.map((c) => [c.block, c.selectedFraction, c.ok]),
      [[1, 0, false]],
    );
    assert.match(gen.err, /block 1 \(mod\) threshold rule selects no token/);
  });
});
