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

/** Trains a tiny `variant` model for `steps` steps into `out` (the run must succeed). */
async function trainTiny(out: string, variant: string, steps: number): Promise<void> {
  const trained = await run(
    'train',
    '--variant',
    variant,
    ...TINY_MODEL,
    '--steps',
    String(steps),
    '--out',
    out,
    '--json',
  );
  assert.equal(trained.code, EXIT.ok, trained.err);
}

describe('moderoute causal-selection guard', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderoute-guard-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("should warn in eval --routing causal and generate when a block's causal rule selects no token", async () => {
    const out = join(dir, 'run');
    await trainTiny(out, 'mod-every-other', 2);
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

  it('should fix a stale cut that selects nothing with calibrate, rewriting the checkpoint in place', async () => {
    const out = join(dir, 'stale');
    await trainTiny(out, 'mod-every-other', 2);
    await setCuts(out, 1e6);
    const store = new CheckpointStore(join(out, 'checkpoints'));
    const latest = store.latest();
    const cal = await run(
      'calibrate',
      '--checkpoint',
      out,
      '--windows',
      '8',
      '--json',
      '--backend',
      'wasm',
    );
    assert.equal(cal.code, EXIT.ok, cal.err);
    const r = JSON.parse(cal.out) as {
      checkpoint: string;
      step: number;
      cuts: { block: number; threshold: [number, number] }[];
      before: { block: number; threshold: { selectedFraction: number } }[];
      after: { block: number; topKFraction: number; threshold: { selectedFraction: number } }[];
    };
    assert.equal(r.checkpoint, latest);
    assert.equal(r.step, 2);
    assert.deepEqual(
      r.cuts.map((c) => [c.block, c.threshold[0]]),
      [[1, 1e6]],
    );
    assert.ok(r.cuts[0]!.threshold[1] < 1e3, `tau after: ${r.cuts[0]!.threshold[1]}`);
    assert.equal(r.before[0]!.threshold.selectedFraction, 0);
    const after = r.after[0]!;
    assert.ok(
      Math.abs(after.threshold.selectedFraction - after.topKFraction) <= 0.1,
      `selects ${after.threshold.selectedFraction} after, top-k ${after.topKFraction}`,
    );
    // Rewritten in place: the same checkpoint is still the latest, complete and loadable, with the new cut.
    assert.equal(store.latest(), latest);
    assert.deepEqual(
      store.list().map((c) => c.step),
      [2],
    );
    const saved = store.load();
    const tau = [...saved.weights].find(([name]) => name.endsWith('.threshold'))![1];
    assert.equal(tau.data[0], Math.fround(r.cuts[0]!.threshold[1]));
    const ev = await run(
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
    assert.equal(ev.code, EXIT.ok, ev.err);
    assert.doesNotMatch(ev.err, /selects no token/);

    const text = await run('calibrate', '--checkpoint', out, '--windows', '4', '--backend', 'wasm');
    assert.equal(text.code, EXIT.ok, text.err);
    assert.match(text.out, /block 1 \(mod\) threshold: cut -?\d+\.\d+ -> -?\d+\.\d+, selects/);
  });

  it('should refuse to calibrate a model without MoD routers, naming the checkpoint', async () => {
    const out = join(dir, 'dense');
    await trainTiny(out, 'dense', 1);
    const cal = await run('calibrate', '--checkpoint', out, '--backend', 'wasm');
    assert.equal(cal.code, EXIT.usage);
    assert.match(
      cal.err,
      /checkpoint \(.*ckpt-00000001.*\) must be a model with Mixture-of-Depths routers/,
    );
  });
});
