// The sweep report's numbers: the statistics (t intervals, the quadratic fit and its minimum)
// and the analysis of synthetic runs (optima, differences per seed, verdicts, ratios).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  analyseSweep,
  confidenceInterval95,
  fitQuadratic,
  quadraticMinimum,
  resolveSweepSpec,
  tQuantile975,
  type FamilyName,
  type SweepRow,
} from '../src/index.js';
import { sweepMarkdown } from '../src/reproduce/sweepMarkdown.js';

/** A finished run of a synthetic sweep with the given final loss. */
function row(
  family: FamilyName,
  width: number,
  seed: number,
  loss: number,
  extra: { budget?: number; parameters?: number; msPerStep?: number } = {},
): SweepRow {
  const parameters = extra.parameters ?? width * width * 10;
  return {
    variant: `${family}-d${width}-s${seed}`,
    blockKinds: ['dense'],
    status: 'completed',
    parameters,
    forwardFlopsPerSequence: family === 'dense' ? 2 * parameters : parameters,
    trainingFlops: 1e9,
    budgetFraction: 1,
    steps: 10,
    tokensSeen: 100,
    wallSeconds: 1,
    msPerStep: extra.msPerStep ?? 10,
    tokensPerSecond: 1,
    finalValidationBitsPerByte: loss,
    routedFractionPerBlock: [1],
    evals: [],
    runDir: '/nowhere',
    sweep: {
      order: 0,
      budget: extra.budget ?? 1e9,
      family,
      width,
      numLayers: 2,
      numHeads: 2,
      seed,
    },
    backend: 'cpu',
    finalEval: { windows: 64, batches: 8, bitsPerByte: loss, standardError: 0.01 },
  };
}

describe('sweep statistics', () => {
  it('should recover a parabola and its minimum exactly', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 5, noNaN: true }),
        fc.double({ min: -3, max: 3, noNaN: true }),
        fc.double({ min: 1, max: 5, noNaN: true }),
        (c, xMin, yMin) => {
          const points = [0, 1, 2, 3, 4].map((i) => {
            const x = xMin - 2 + i;
            return { x, y: yMin + c * (x - xMin) ** 2 };
          });
          const q = fitQuadratic(points)!;
          const min = quadraticMinimum(q)!;
          assert.ok(Math.abs(min.x - xMin) < 1e-6, `${min.x} vs ${xMin}`);
          assert.ok(Math.abs(min.y - yMin) < 1e-6, `${min.y} vs ${yMin}`);
        },
      ),
    );
  });

  it('should have no fit with fewer than 3 distinct x, and no minimum when it opens downwards', () => {
    assert.equal(
      fitQuadratic([
        { x: 1, y: 1 },
        { x: 1, y: 2 },
        { x: 2, y: 3 },
      ]),
      undefined,
    );
    const q = fitQuadratic([0, 1, 2].map((x) => ({ x, y: -(x * x) })))!;
    assert.equal(quadraticMinimum(q), undefined);
  });

  it('should give the Student-t interval of a mean', () => {
    assert.equal(tQuantile975(2), 4.303);
    assert.equal(tQuantile975(100), 1.96);
    const ci = confidenceInterval95([1, 2, 3])!;
    // mean 2, sd 1, half width 4.303 / sqrt(3)
    assert.ok(Math.abs(ci.halfWidth - 4.303 / Math.sqrt(3)) < 1e-12);
    assert.equal(ci.mean, 2);
    assert.equal(confidenceInterval95([1]), undefined);
  });
});

describe('analyseSweep', () => {
  // Dense: a parabola in log10(params) with its minimum at width 20 (4000 parameters).
  const widths = [10, 20, 40];
  const dense = (w: number, seed: number) => 3 + (Math.log10(w / 20) * 2) ** 2 + 0.01 * seed;

  it('should fit each family, take the best size per seed and say the claim holds when the interval is below 0', () => {
    const rows = [0, 1, 2].flatMap((seed) =>
      widths.flatMap((w) => [
        row('dense', w, seed, dense(w, seed)),
        row('mod-every-other', w, seed, dense(w, seed) - 0.1 - 0.001 * seed, {
          parameters: w * w * 10,
          msPerStep: 5,
        }),
      ]),
    );
    const a = analyseSweep(rows, ['dense', 'mod-every-other']);
    assert.equal(a.budgets.length, 1);
    const [denseFamily, modFamily] = a.budgets[0]!.families;
    assert.equal(denseFamily!.best.size, 'd20-l2');
    assert.ok(denseFamily!.fittedOptimum, 'dense has a minimum inside the swept sizes');
    assert.deepEqual(
      modFamily!.cells.map((c) => c.seeds),
      [
        [0, 1, 2],
        [0, 1, 2],
        [0, 1, 2],
      ],
    );
    const c = a.budgets[0]!.comparisons[0]!;
    assert.equal(c.family, 'mod-every-other');
    assert.deepEqual(c.seeds, [0, 1, 2]);
    c.differences.forEach((d, seed) => assert.ok(Math.abs(d - (-0.1 - 0.001 * seed)) < 1e-12));
    assert.equal(c.verdict, 'holds');
    assert.ok(c.interval!.high < 0);
    assert.equal(c.parameterRatio, 1);
    assert.equal(c.forwardFlopsRatio, 0.5);
    assert.equal(c.stepTimeRatio, 0.5);
    assert.equal(a.validation.maxSe, 0.01);
  });

  it(
    'should say the claim does not hold when the interval is above 0, and cannot be told apart ' +
      'when it holds 0 or there is one seed',
    () => {
      const shifted = (delta: (seed: number) => number, seeds: number[]) =>
        seeds.flatMap((seed) =>
          widths.flatMap((w) => [
            row('dense', w, seed, dense(w, seed)),
            row('mode-staged', w, seed, dense(w, seed) + delta(seed)),
          ]),
        );
      const verdict = (rows: SweepRow[]) =>
        analyseSweep(rows, ['dense', 'mode-staged']).budgets[0]!.comparisons[0]!.verdict;
      assert.equal(verdict(shifted((s) => 0.05 + 0.001 * s, [0, 1, 2])), 'does not hold');
      assert.equal(
        verdict(shifted((s) => (s % 2 ? 0.02 : -0.02), [0, 1, 2, 3])),
        'cannot be told apart',
      );
      assert.equal(verdict(shifted(() => -0.5, [0])), 'cannot be told apart');
    },
  );

  it('should mark the best measured size when the fitted curve has no minimum inside the range', () => {
    const rows = [0, 1].flatMap((seed) =>
      widths.map((w) => row('dense', w, seed, 4 - Math.log10(w) + 0.01 * seed)),
    );
    const f = analyseSweep(rows, ['dense']).budgets[0]!.families[0]!;
    assert.equal(f.fittedOptimum, undefined);
    assert.equal(f.best.size, 'd40-l2');
  });
});

describe('sweep report text', () => {
  const spec = resolveSweepSpec({
    kind: 'sweep',
    name: 'text',
    budgets: [1e9],
    families: ['dense', 'mod-every-other'],
    sizes: [10, 20, 40].map((width) => ({ width, numLayers: 2, numHeads: 2 })),
    seeds: [0, 1, 2],
    batchSize: 2,
    seqLen: 16,
  });
  // Dense: best in the middle (width 20); MoD: best at its smallest size (width 10).
  const rows = [0, 1, 2].flatMap((seed) =>
    [10, 20, 40].flatMap((w) => [
      row('dense', w, seed, 3 + (Math.log10(w / 20) * 2) ** 2 + 0.01 * seed),
      row('mod-every-other', w, seed, 2.5 + Math.log10(w / 10) + 0.01 * seed),
    ]),
  );
  const text = (backends: string[][]) =>
    sweepMarkdown(
      {
        spec,
        rows,
        shards: backends.map((b, index) => ({
          dir: `/s${index}`,
          shard: { index, count: backends.length },
          backends: b,
        })),
      },
      analyseSweep(rows, spec.families),
    );

  it("should say when a family's best size is at an edge of the sweep", () => {
    const [dense, mod] = analyseSweep(rows, spec.families).budgets[0]!.families;
    assert.equal(dense!.bestAtEdge, undefined);
    assert.equal(mod!.bestAtEdge, 'smallest');
    assert.match(
      text([['wasm']]),
      /But mod-every-other's best \(d10-l2\) is its smallest swept size: an optimum may lie outside/,
    );
    assert.doesNotMatch(text([['wasm']]), /dense's best \(d20-l2\) is its/);
  });

  it('should say when the runs were trained on more than one backend', () => {
    assert.doesNotMatch(text([['wasm'], ['wasm']]), /backends \(/);
    assert.match(
      text([['tensorflow'], ['wasm', 'tensorflow']]),
      /trained on 2 backends \(tensorflow, wasm\): step times compare only/,
    );
  });
});
