// Runs example 3 at its tiny size: a custom ReproductionSpec through runReproduction, and checks
// what the paper's comparison rests on: equal training FLOPs, MoD blocks at 12.5% of the tokens,
// and a report directory with the table and the plots.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { initBackend } from '@moderoute/core';
import type { ReproductionResult } from '@moderoute/experiments';
import {
  TINY_BATCH,
  TINY_DENSE_STEPS,
  TINY_VARIANTS,
  formatTable,
  reproducePaper,
  tinySpec,
} from '../src/paper.js';

describe('example 03-mixture-of-depths-paper', () => {
  let outDir: string;
  let result: ReproductionResult;

  before(async () => {
    await initBackend({ backend: 'wasm' });
    outDir = mkdtempSync(join(tmpdir(), 'moderoute-paper-'));
    result = await reproducePaper({ size: 'tiny', outDir });
  });

  after(() => rmSync(outDir, { recursive: true, force: true }));

  it('should train one row per variant, in order, to a finite validation loss', () => {
    assert.equal(result.stopReason, 'completed');
    assert.deepEqual(
      result.rows.map((r) => r.variant),
      [...TINY_VARIANTS],
    );
    for (const r of result.rows) {
      assert.equal(r.status, 'completed', r.variant);
      assert.ok(
        r.finalValidationBitsPerByte! > 0 && r.finalValidationBitsPerByte! < 9,
        `${r.variant}: ${r.finalValidationBitsPerByte}`,
      );
    }
  });

  it('should spend the same training FLOPs on every variant, to within a few percent of the budget', () => {
    const budget = result.spec.budgetFlops;
    for (const r of result.rows) {
      assert.ok(
        r.trainingFlops <= budget && r.trainingFlops >= 0.95 * budget,
        `${r.variant}: ${r.trainingFlops} of ${budget}`,
      );
      assert.equal(r.trainingFlops, r.steps * 3 * r.forwardFlopsPerSequence * TINY_BATCH.batchSize);
      assert.equal(r.budgetFraction, r.trainingFlops / budget);
    }
    const [dense, modOther, modEvery] = result.rows;
    assert.equal(dense!.steps, TINY_DENSE_STEPS, "the budget is the dense model's steps");
    // Cheaper forward passes buy more steps: MoD every other block < dense, every block cheaper still.
    assert.ok(
      modOther!.forwardFlopsPerSequence < dense!.forwardFlopsPerSequence &&
        modOther!.steps > dense!.steps,
    );
    assert.ok(
      modEvery!.forwardFlopsPerSequence < modOther!.forwardFlopsPerSequence &&
        modEvery!.steps > modOther!.steps,
    );
  });

  it('should route 12.5% of the tokens through every MoD block and all of them through dense blocks', () => {
    for (const r of result.rows) {
      r.blockKinds.forEach((kind, i) => {
        const f = r.routedFractionPerBlock[i]!;
        if (kind === 'dense') assert.equal(f, 1, `${r.variant} block ${i}`);
        // capacity 0.125 of T = 16: exactly 2 tokens per sequence, at every step.
        else if (kind === 'mod' || kind === 'mode-staged')
          assert.equal(f, 0.125, `${r.variant} block ${i} (${kind})`);
      });
    }
    assert.deepEqual(result.rows.find((r) => r.variant === 'mod-every-block')!.blockKinds, [
      'mod',
      'mod',
    ]);
  });

  it('should write report.md with the table, results.json and the SVG plots', () => {
    const paths = result.paths!;
    const report = readFileSync(paths.report, 'utf8');
    for (const v of TINY_VARIANTS) assert.match(report, new RegExp(`^\\| ${v} \\|`, 'm'));
    assert.match(
      report,
      /!\[validation loss against training FLOPs\]\(plots\/loss-vs-flops\.svg\)/,
    );
    const results = JSON.parse(readFileSync(paths.results, 'utf8')) as {
      rows: unknown[];
      bestDense: string;
    };
    assert.equal(results.rows.length, TINY_VARIANTS.length);
    assert.equal(results.bestDense, 'dense-d16-l2');
    // A heatmap per depth-routed variant (the dense baseline has none).
    assert.deepEqual(Object.keys(paths.routingHeatmaps).sort(), [
      'mod-every-block',
      'mod-every-other',
      'mode-staged',
    ]);
    for (const svg of [
      paths.lossVsFlops,
      ...Object.values(paths.routingHeatmaps),
      paths.expertLoad!,
    ]) {
      assert.ok(existsSync(svg), svg);
      assert.match(readFileSync(svg, 'utf8'), /^<svg[\s>]/);
    }
  });

  it('should keep finished runs when run again (resumable) and print one row per variant', async () => {
    const again = await reproducePaper({ size: 'tiny', outDir });
    assert.deepEqual(again.skipped, [...TINY_VARIANTS]);
    assert.deepEqual(
      again.rows.map((r) => r.finalValidationBitsPerByte),
      result.rows.map((r) => r.finalValidationBitsPerByte),
    );
    const lines = formatTable(result).split('\n');
    assert.equal(lines.length, 2 + TINY_VARIANTS.length);
    TINY_VARIANTS.forEach((v, i) => assert.ok(lines[2 + i]!.startsWith(v), lines[2 + i]));
  });

  it('should describe the spec the test ran', () => {
    const spec = tinySpec();
    assert.equal(spec.budgetFlops, result.spec.budgetFlops);
    assert.deepEqual(
      spec.variants.map((v) => v.name),
      [...TINY_VARIANTS],
    );
  });
});
