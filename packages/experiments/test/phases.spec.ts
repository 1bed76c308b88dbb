// Where a data-parallel step's time goes, in `moderoute bench` (src/bench/phases.ts): a step's
// phases from DataParallel's timing, their medians within a pass and over the passes, and MoD
// over dense on the training thread's rows alone.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PHASE_COLUMNS,
  medianPhases,
  phaseReport,
  phasesOf,
  type StepPhases,
} from '../src/bench/phases.js';

const worker = (loadMs: number, computeMs: number, packMs: number) => ({
  loadMs,
  computeMs,
  packMs,
});
const timing = (computeMs: number, workers = [worker(1, 90, 0.5), worker(0.8, 95, 0.4)]) => ({
  postMs: 0.6,
  computeMs,
  waitMs: 2,
  combineMs: 1.5,
  workers,
});

/** Phases from nine values in PHASE_COLUMNS' order. */
const phasesFrom = (v: readonly number[]): StepPhases => ({
  postMs: v[0]!,
  computeMs: v[1]!,
  waitMs: v[2]!,
  combineMs: v[3]!,
  updateMs: v[4]!,
  foldMs: v[5]!,
  workerLoadMs: v[6]!,
  workerComputeMs: v[7]!,
  workerPackMs: v[8]!,
});

/** Phases with every field `x`, and the given overrides. */
const uniform = (x: number, over: Partial<StepPhases> = {}): StepPhases => ({
  ...phasesFrom(PHASE_COLUMNS.map(() => x)),
  ...over,
});

describe("the data-parallel step's phases in moderoute bench", () => {
  it("should take the training thread's phases as they are and each worker phase's slowest", () => {
    const p = phasesOf({ timing: timing(80), updateMs: 3, foldMs: 0.1 });
    assert.deepEqual(p, {
      postMs: 0.6,
      computeMs: 80,
      waitMs: 2,
      combineMs: 1.5,
      updateMs: 3,
      foldMs: 0.1,
      workerLoadMs: 1,
      workerComputeMs: 95,
      workerPackMs: 0.5,
    });
    const alone = phasesOf({ timing: timing(80, []), updateMs: 3, foldMs: 0 });
    assert.equal(alone.workerComputeMs, 0, 'no workers: zero');
  });

  it('should give each phase its own median, and every column a phase', () => {
    const steps = [uniform(3, { waitMs: 9 }), uniform(1, { waitMs: 0 }), uniform(2, { waitMs: 5 })];
    assert.deepEqual(medianPhases(steps), uniform(2, { waitMs: 5 }));
    assert.equal(new Set(PHASE_COLUMNS.map(([k]) => k)).size, Object.keys(uniform(0)).length);
  });

  it('should take MoD over dense on own rows pass by pass, over the analytic ratio', () => {
    const passes = [
      { dense: uniform(1, { computeMs: 100 }), mod: uniform(1, { computeMs: 66 }) },
      { dense: uniform(3, { computeMs: 200 }), mod: uniform(3, { computeMs: 120 }) },
      { dense: uniform(2, { computeMs: 50 }), mod: uniform(2, { computeMs: 36 }) },
    ];
    const report = phaseReport(passes, 0.6);
    const ratios = [66 / 100 / 0.6, 120 / 200 / 0.6, 36 / 50 / 0.6];
    assert.ok(Math.abs(report.modOverDenseOwnRows!.median - ratios[0]!) < 1e-12);
    assert.ok(Math.abs(report.modOverDenseOwnRows!.min - ratios[1]!) < 1e-12);
    assert.ok(Math.abs(report.modOverDenseOwnRows!.max - ratios[2]!) < 1e-12);
    // The variants' phases are the medians of their pass medians, not of every step.
    assert.deepEqual(report.variants['dense'], uniform(2, { computeMs: 100 }));
    assert.deepEqual(report.variants['mod'], uniform(2, { computeMs: 66 }));
    assert.equal(phaseReport(passes, undefined).modOverDenseOwnRows, undefined);
    assert.equal(phaseReport([{ dense: uniform(1) }], 0.6).modOverDenseOwnRows, undefined);
    assert.deepEqual(phaseReport([], 0.6), { variants: {} });
  });

  it("should keep every median within its steps' range, on random steps", () => {
    const phase = fc.double({ min: 0, max: 1e3, noNaN: true });
    fc.assert(
      fc.property(
        fc.array(fc.array(phase, { minLength: 9, maxLength: 9 }), { minLength: 1, maxLength: 12 }),
        (rows) => {
          const steps = rows.map(phasesFrom);
          const m = medianPhases(steps);
          for (const [k] of PHASE_COLUMNS) {
            const xs = steps.map((s) => s[k]);
            assert.ok(m[k] >= Math.min(...xs) && m[k] <= Math.max(...xs), `${k}: ${m[k]}`);
          }
        },
      ),
    );
  });
});
