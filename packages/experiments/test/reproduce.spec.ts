import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, initBackend, tf } from '@moderoute/core';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import { CorpusCache, LockError, RunLock, ResumeError, readJsonl } from '@moderoute/train';
import {
  PRESET_NAMES,
  REPRODUCTION_PRESETS,
  isoFlopVariants,
  planReproduction,
  reproductionSpec,
  resolveReproductionSpec,
  runReproduction,
  type ReproductionSpec,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

/** The model factory of the built-in modules (each test is a composition root). */
const models = () => createContainer().get(MODEL_IDS.ModelFactory);

/** A micro isoFLOP comparison: every kind of variant, tiny models, a few seconds in all. */
const MICRO: ReproductionSpec = {
  name: 'micro',
  budgetFlops: 1.5e8,
  batchSize: 2,
  seqLen: 16,
  learningRate: 1e-2,
  evalPoints: 3,
  evalWindows: 4,
  heatmapTokens: 12,
  variants: isoFlopVariants({
    dense: [
      { width: 16, numLayers: 2, numHeads: 2 },
      { width: 24, numLayers: 2, numHeads: 2 },
    ],
    contextLength: 16,
    capacity: 0.25,
  }),
};

describe('runReproduction', () => {
  const tmp = useTempDir('moderoute-reproduce-');
  const corpora = new CorpusCache();
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('when given a micro spec', () => {
    it('should train every variant at the same budget and write the report, then skip finished runs', async () => {
      const out = join(tmp(), 'micro');
      const tensorsBefore = tf.memory().numTensors;
      const started: string[] = [];
      const result = await runReproduction(MICRO, {
        outDir: out,
        corpusCache: corpora,
        modelFactory: models(),
        onRunStart: (i) => started.push(i.variant),
      });
      assert.equal(result.stopReason, 'completed');
      const names = MICRO.variants.map((v) => v.name);
      assert.deepEqual(started, names);
      assert.deepEqual(
        result.rows.map((r) => r.variant),
        names,
      );
      for (const row of result.rows) {
        assert.equal(row.status, 'completed', row.variant);
        assert.ok(
          row.budgetFraction > 0.95 && row.budgetFraction <= 1,
          `${row.variant}: ${row.trainingFlops} of ${MICRO.budgetFlops}`,
        );
        assert.equal(
          row.trainingFlops,
          row.steps * 3 * row.forwardFlopsPerSequence * MICRO.batchSize,
        );
        assert.ok(
          row.finalValidationBitsPerByte! > 0 && row.finalValidationBitsPerByte! < 9,
          `${row.variant}: ${row.finalValidationBitsPerByte}`,
        );
        assert.equal(row.routedFractionPerBlock.length, 2);
      }
      // The routed fractions: dense 1; MoD at 25% capacity processes a quarter of each sequence.
      const mod = result.rows.find((r) => r.variant === 'mod-every-other')!;
      assert.equal(mod.routedFractionPerBlock[0], 1);
      assert.ok(
        Math.abs(mod.routedFractionPerBlock[1]! - 0.25) < 1e-9,
        String(mod.routedFractionPerBlock),
      );
      // MoD every block costs less per forward pass, so it takes more steps for the same budget.
      const big = result.rows.find((r) => r.variant === 'dense-d24-l2')!;
      assert.ok(mod.forwardFlopsPerSequence < big.forwardFlopsPerSequence && mod.steps > big.steps);

      // The report: one row per variant, values from the runs.
      const paths = result.paths!;
      const report = readFileSync(paths.report, 'utf8');
      const lines = report.split('\n');
      const header = lines.findIndex((l) => l.startsWith('| variant | parameters |'));
      const table = lines.slice(header + 2, lines.indexOf('', header));
      assert.deepEqual(
        table.map((l) => l.split(' | ')[0]),
        names.map((n) => `| ${n}`),
      );
      const evals = readJsonl<{ kind: string; validationBitsPerByte: number }>(
        join(out, 'runs', 'mod-every-other', 'metrics.jsonl'),
      ).filter((r) => r.kind === 'eval');
      assert.equal(mod.finalValidationBitsPerByte, evals.at(-1)!.validationBitsPerByte);
      assert.match(
        report,
        new RegExp(
          `\\| mod-every-other \\|.*\\| ${evals.at(-1)!.validationBitsPerByte.toFixed(3)} \\|`,
        ),
      );
      const results = JSON.parse(readFileSync(paths.results, 'utf8')) as {
        rows: { variant: string }[];
        inspections: Record<string, { causalBitsPerByte?: number }>;
      };
      assert.deepEqual(
        results.rows.map((r) => r.variant),
        names,
      );
      assert.ok(Number.isFinite(results.inspections['mod-every-other']!.causalBitsPerByte));

      // The plots, made by vega: every variant in the loss curves, heatmaps of the depth-routed
      // variants, expert load of the MoE and MoDE variants.
      const loss = readFileSync(join(out, 'plots', 'loss-vs-flops.svg'), 'utf8');
      assert.match(loss, /^<svg/);
      for (const name of names) assert.ok(loss.includes(name), `loss-vs-flops.svg lacks ${name}`);
      assert.deepEqual(Object.keys(paths.routingHeatmaps).sort(), [
        'mod-every-block',
        'mod-every-other',
        'mode-staged',
      ]);
      for (const [name, path] of Object.entries(paths.routingHeatmaps))
        assert.ok(readFileSync(path, 'utf8').includes(name), path);
      const load = readFileSync(paths.expertLoad!, 'utf8');
      for (const name of [
        'moe-token-choice',
        'moe-expert-choice',
        'mode-staged',
        'mode-integrated',
      ])
        assert.ok(load.includes(name), `expert-load.svg lacks ${name}`);
      assert.equal(tf.memory().numTensors, tensorsBefore);

      // Again: every run is found finished, nothing trains, the report is the same table.
      const again = await runReproduction(MICRO, {
        outDir: out,
        corpusCache: corpora,
        modelFactory: models(),
        onRunStart: (i) => assert.fail(`re-ran ${i.variant}`),
      });
      assert.deepEqual(again.skipped, names);
      assert.deepEqual(again.rows, result.rows);
    });

    it('should continue an interrupted comparison where it stopped', async () => {
      const out = join(tmp(), 'interrupted');
      const spec: ReproductionSpec = { ...MICRO, variants: MICRO.variants.slice(0, 3) };
      const controller = new AbortController();
      const first = await runReproduction(spec, {
        outDir: out,
        corpusCache: corpora,
        modelFactory: models(),
        signal: controller.signal,
        onStep: (variant, e) => {
          if (variant === spec.variants[1]!.name && e.step === 3) controller.abort();
        },
      });
      assert.equal(first.stopReason, 'interrupted');
      assert.equal(first.paths, undefined);
      assert.deepEqual(
        first.rows.map((r) => r.variant),
        [spec.variants[0]!.name],
      );
      const resumedAt: Record<string, number> = {};
      const second = await runReproduction(spec, {
        outDir: out,
        corpusCache: corpora,
        modelFactory: models(),
        onRunStart: (i) => (resumedAt[i.variant] = i.step),
      });
      assert.equal(second.stopReason, 'completed');
      assert.deepEqual(second.skipped, [spec.variants[0]!.name]);
      assert.deepEqual(resumedAt, { [spec.variants[1]!.name]: 3, [spec.variants[2]!.name]: 0 });
      assert.ok(existsSync(second.paths!.report));
      // The resumed run's numbers are an uninterrupted run's.
      const fresh = await runReproduction(
        { ...spec, variants: [spec.variants[1]!] },
        { outDir: join(tmp(), 'fresh'), corpusCache: corpora, modelFactory: models() },
      );
      assert.equal(
        second.rows[1]!.finalValidationBitsPerByte,
        fresh.rows[0]!.finalValidationBitsPerByte,
      );
      assert.deepEqual(
        second.rows[1]!.routedFractionPerBlock,
        fresh.rows[0]!.routedFractionPerBlock,
      );
    });

    it("should refuse an output directory holding another comparison's run of a variant", async () => {
      const out = join(tmp(), 'micro');
      await assert.rejects(
        runReproduction(
          { ...MICRO, budgetFlops: 2 * MICRO.budgetFlops },
          { outDir: out, corpusCache: corpora, modelFactory: models() },
        ),
        ResumeError,
      );
    });

    it('should refuse an output directory another process is using, naming it', async () => {
      const out = join(tmp(), 'busy');
      mkdirSync(out, { recursive: true });
      const lock = RunLock.acquire(out);
      try {
        await assert.rejects(
          runReproduction(MICRO, { outDir: out, corpusCache: corpora, modelFactory: models() }),
          (e: unknown) =>
            e instanceof LockError &&
            new RegExp(`busy is in use by pid ${process.pid} `).test(e.message),
        );
      } finally {
        lock.release();
      }
      assert.ok(!existsSync(join(out, 'runs', MICRO.variants[0]!.name)), 'no run was started');
    });
  });

  describe('presets', () => {
    it('should plan every preset with its budget: each variant within 3% of it', () => {
      for (const name of PRESET_NAMES) {
        const spec = reproductionSpec(name);
        const plans = planReproduction(spec, models());
        assert.ok(plans.length >= 8, name);
        assert.ok(plans.filter((p) => p.variant.name.startsWith('dense-')).length >= 2, name);
        for (const p of plans)
          assert.ok(
            p.plannedFlops <= spec.budgetFlops && p.plannedFlops > 0.97 * spec.budgetFlops,
            `${name}/${p.variant.name}: ${p.steps} steps`,
          );
      }
      assert.deepEqual(Object.keys(REPRODUCTION_PRESETS), PRESET_NAMES);
    });
  });

  describe('spec validation', () => {
    it('should refuse an array as the spec', () => {
      assert.throws(
        () => resolveReproductionSpec([] as unknown as ReproductionSpec),
        (e: unknown) =>
          e instanceof ConfigError &&
          /^reproduction spec \(\[\]\) must be an object$/.test(e.message),
      );
    });

    it('should name the parameter, value and rule', () => {
      assert.throws(
        () => reproductionSpec('huge' as never),
        (e: unknown) =>
          e instanceof ConfigError && e.parameter === 'preset' && /demo/.test(e.message),
      );
      assert.throws(
        () => resolveReproductionSpec({ ...MICRO, budgetFlops: -1 }),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'budgetFlops',
      );
      assert.throws(
        () =>
          resolveReproductionSpec({ ...MICRO, variants: [MICRO.variants[0]!, MICRO.variants[0]!] }),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'variants[1].name',
      );
      assert.throws(
        () =>
          resolveReproductionSpec({
            ...MICRO,
            variants: [{ ...MICRO.variants[0]!, name: '../x' }],
          }),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'variants[0].name',
      );
      assert.throws(
        () => resolveReproductionSpec({ ...MICRO, seqLen: 32 }),
        (e: unknown) =>
          e instanceof ConfigError && e.parameter === 'variants[0].model.contextLength',
      );
      assert.throws(
        () => resolveReproductionSpec({ ...MICRO, budget: 1 } as never),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'budget',
      );
      assert.throws(
        () => planReproduction(resolveReproductionSpec({ ...MICRO, budgetFlops: 10 }), models()),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.parameter === 'budgetFlops' &&
          /dense-d16-l2/.test(e.message),
      );
    });
  });
});
