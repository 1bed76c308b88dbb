// The isoFLOP sweep end to end in this process on micro models: the spec's validation, the plan
// (steps from the budget and the analytic FLOPs), shards and their resume, and the merge with
// every way it can be refused.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, initBackend, tf } from '@moderoute/core';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import { CorpusCache, ResumeError, RunLock } from '@moderoute/train';
import {
  SweepMergeError,
  mergeSweep,
  planSweep,
  resolveSweepSpec,
  runSweep,
  sweepSpec,
  type SweepSpec,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

const models = () => createContainer().get(MODEL_IDS.ModelFactory);

/** 1 budget x dense, MoD x 3 sizes x 2 seeds: 12 micro runs of 3-25 steps. */
export const MICRO_SWEEP: SweepSpec = {
  kind: 'sweep',
  name: 'micro-sweep',
  budgets: [2e7],
  families: ['dense', 'mod-every-other'],
  sizes: [
    { width: 8, numLayers: 2, numHeads: 2 },
    { width: 16, numLayers: 2, numHeads: 2 },
    { width: 24, numLayers: 2, numHeads: 2 },
  ],
  seeds: [0, 1],
  batchSize: 2,
  seqLen: 16,
  learningRate: 1e-2,
  evalPoints: 1,
  evalWindows: 4,
  finalEvalWindows: 8,
  checkpointsPerRun: 0,
  capacity: 0.25,
};

const refuses = (f: () => unknown, ...parts: RegExp[]) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    for (const p of parts) assert.match(e.message, p);
    return true;
  });

describe('isoFLOP sweep', () => {
  const tmp = useTempDir('moderoute-sweep-');
  const corpora = new CorpusCache();
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('spec', () => {
    it('should name the field, value and rule of a bad sweep spec', () => {
      const bad = (change: Record<string, unknown>) => () =>
        resolveSweepSpec({ ...MICRO_SWEEP, ...change } as SweepSpec);
      refuses(bad({ families: ['mod-every-other'] }), /families/, /'dense'/);
      refuses(bad({ families: ['dense', 'mod-sometimes'] }), /families\[1\] \("mod-sometimes"\)/);
      refuses(bad({ budgets: [] }), /budgets/, /non-empty/);
      refuses(bad({ budgets: [1e9, -1] }), /budgets\[1\] \(-1\)/);
      refuses(bad({ seeds: [0, 0] }), /seeds\[1\]/, /unique/);
      refuses(
        bad({
          sizes: [
            { width: 8, numLayers: 2, numHeads: 2 },
            { width: 8, numLayers: 2, numHeads: 4 },
          ],
        }),
        /sizes\[1\]/,
        /d8-l2/,
      );
      refuses(bad({ budget: 1 }), /budget \(1\)/, /known fields/);
      refuses(bad({ name: '../x' }), /name/);
    });

    it('should plan steps = floor(budget / (3 x forward FLOPs x B)) for every run', () => {
      const spec = resolveSweepSpec(MICRO_SWEEP);
      const runs = planSweep(spec, models());
      assert.equal(runs.length, 12);
      assert.deepEqual(
        runs.map((r) => r.order),
        [...runs.keys()],
      );
      for (const r of runs) {
        const perStep = 3 * r.plan.forwardFlopsPerSequence * spec.batchSize;
        assert.equal(r.plan.steps, Math.floor(2e7 / perStep), r.name);
        assert.equal(r.plan.trainConfig.seed, r.seed);
        assert.equal(r.name, `b2e7-${r.family}-d${r.size.width}-l2-s${r.seed}`);
      }
    });

    it('should plan the sweep-demo and sweep presets (sweep-full: its spec)', () => {
      const full = sweepSpec('sweep-full');
      assert.deepEqual([full.families.length, full.sizes.length, full.seeds.length], [5, 5, 3]);
      for (const name of ['sweep-demo', 'sweep'] as const) {
        const spec = sweepSpec(name);
        const runs = planSweep(spec, models());
        const expected =
          spec.budgets.length * spec.families.length * spec.sizes.length * spec.seeds.length;
        assert.equal(runs.length, expected, name);
        for (const r of runs) assert.ok(r.plan.plannedFlops > 0.9 * r.budget, r.name);
      }
    });
  });

  describe('shards and merge', () => {
    const dirs = {
      s0: () => join(tmp(), 'shard-0'),
      s1: () => join(tmp(), 'shard-1'),
    };
    const run = (spec: SweepSpec, out: string, shard?: { index: number; count: number }) =>
      runSweep(spec, {
        outDir: out,
        modelFactory: models(),
        corpusCache: corpora,
        backend: 'wasm',
        ...(shard ? { shard } : {}),
      });

    before(async () => {
      const tensors = tf.memory().numTensors;
      for (const index of [0, 1]) {
        const shard = await run(MICRO_SWEEP, join(tmp(), `shard-${index}`), { index, count: 2 });
        assert.equal(shard.stopReason, 'completed');
        assert.equal(shard.rows.length, 6);
        assert.equal(shard.paths, undefined, 'a shard writes no report');
      }
      assert.equal(tf.memory().numTensors, tensors, 'no tensor leaked');
    });

    it("should merge every shard's runs into one report, and leave the shards untouched", async () => {
      const before = [dirs.s0(), dirs.s1()].map((d) => readFileSync(join(d, 'shard.json'), 'utf8'));
      const merged = await mergeSweep([dirs.s1(), dirs.s0()], join(tmp(), 'merged'));
      assert.deepEqual(
        merged.rows.map((r) => r.sweep.order).sort((a, b) => a - b),
        [...Array(12).keys()],
      );
      assert.ok(existsSync(merged.paths.isoflop) && existsSync(merged.paths.stepTime));
      for (const [i, d] of [dirs.s0(), dirs.s1()].entries()) {
        assert.equal(readFileSync(join(d, 'shard.json'), 'utf8'), before[i]);
        assert.equal(existsSync(join(d, 'report.md')), false);
      }
      const report = readFileSync(merged.paths.report, 'utf8');
      assert.match(report, /\| 0\/2 \| .*shard-0 \| wasm \|/);
      assert.match(report, /validation SE/);
    });

    it('should skip the finished runs of a shard run again, and refuse another shard in its directory', async () => {
      const again = await run(MICRO_SWEEP, dirs.s0(), { index: 0, count: 2 });
      assert.equal(again.skipped.length, again.rows.length);
      await assert.rejects(run(MICRO_SWEEP, dirs.s0(), { index: 1, count: 2 }), (e: unknown) => {
        assert.ok(e instanceof ResumeError);
        assert.match(e.message, /shard-0 holds shard 0\/2 of sweep "micro-sweep"/);
        return true;
      });
    });

    const mergeFails = async (dirsToMerge: string[], problem: string, ...parts: RegExp[]) =>
      assert.rejects(mergeSweep(dirsToMerge, join(tmp(), `out-${problem}`)), (e: unknown) => {
        assert.ok(e instanceof SweepMergeError, String(e));
        assert.equal(e.problem, problem);
        for (const p of parts) assert.match(e.message, p);
        return true;
      });

    it(
      'should refuse a missing shard, a duplicate, a directory that is no shard, and an output ' +
        'inside a shard',
      async () => {
        await mergeFails([dirs.s0()], 'missing-shard', /shard-0/, /shard 1\/2 is in none/);
        const copy = join(tmp(), 'shard-0-copy');
        cpSync(dirs.s0(), copy, { recursive: true });
        await mergeFails(
          [dirs.s0(), copy, dirs.s1()],
          'duplicate-shard',
          /shard-0-copy/,
          /shard 0\/2/,
        );
        mkdirSync(join(tmp(), 'empty'), { recursive: true });
        await mergeFails([join(tmp(), 'empty')], 'not-a-shard', /empty/, /no shard\.json/);
        await assert.rejects(
          mergeSweep([dirs.s0(), dirs.s1()], join(dirs.s1(), 'report')),
          (e: unknown) => {
            assert.ok(e instanceof SweepMergeError && e.problem === 'output-is-shard', String(e));
            return true;
          },
        );
      },
    );

    it('should refuse shards of another sweep, an unfinished shard and a running one', async () => {
      const other = join(tmp(), 'other-1');
      cpSync(dirs.s1(), other, { recursive: true });
      const otherManifest = join(other, 'shard.json');
      writeFileSync(
        otherManifest,
        readFileSync(otherManifest, 'utf8').replace(
          /"fingerprint": "[^"]*"/,
          '"fingerprint": "sha256:0"',
        ),
      );
      await mergeFails([dirs.s0(), other], 'different-sweep', /other-1/, /different sweeps/);
      const unfinished = join(tmp(), 'shard-1-unfinished');
      cpSync(dirs.s1(), unfinished, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(unfinished, 'shard.json'), 'utf8')) as {
        runs: { name: string }[];
      };
      const record = join(unfinished, 'runs', manifest.runs[0]!.name, 'run.json');
      writeFileSync(record, readFileSync(record, 'utf8').replace('"complete"', '"partial"'));
      await mergeFails(
        [dirs.s0(), unfinished],
        'unfinished',
        /shard-1-unfinished/,
        /1 of its 6 runs unfinished/,
      );
      const lock = RunLock.acquire(dirs.s1());
      try {
        await mergeFails([dirs.s0(), dirs.s1()], 'running', /shard-1/, /still running/);
      } finally {
        lock.release();
      }
    });
  });
});
