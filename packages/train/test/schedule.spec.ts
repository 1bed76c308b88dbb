import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '@moderoute/core';
import { expectClose, runs } from '@moderoute/testing';
import { cosineLearningRate, cosineSchedule } from '../src/index.js';

describe('cosineLearningRate', () => {
  const config = { peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };

  it('should match golden values (warmup, cosine, floor)', () => {
    // Computed in float64 from the equations in schedule.ts: lr(s) = peak (s+1)/W for s < W;
    // floor + (peak - floor)(1 + cos(pi p))/2 with p = (s - W)/(S - W); the floor after S.
    const steps = [0, 4, 9, 10, 35, 60, 85, 110, 111, 500];
    const golden = [
      1e-4, 5e-4, 1e-3, 1e-3, 0.000868198052, 0.00055, 0.000231801948, 1e-4, 1e-4, 1e-4,
    ];
    expectClose(
      steps.map((s) => cosineLearningRate(config, s)),
      golden,
      { rtol: 1e-8, atol: 0 },
    );
  });

  it('should rise during warmup, then never increase from the peak to the floor', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (peak, w, extra, minRatio) => {
          const lr = cosineSchedule({ peak, warmupSteps: w, totalSteps: w + extra, minRatio });
          let previous = Infinity;
          for (let s = 0; s < w + extra + 5; s++) {
            const x = lr(s);
            assert.ok(x >= 0 && x <= peak * (1 + 1e-12), `lr(${s}) = ${x}`);
            if (s < w) assert.ok(s === 0 || x > lr(s - 1));
            else {
              assert.ok(x >= minRatio * peak * (1 - 1e-12), `lr(${s}) = ${x} below the floor`);
              assert.ok(
                x <= previous * (1 + 1e-12),
                `lr(${s}) = ${x} > lr(${s - 1}) = ${previous}`,
              );
              previous = x;
            }
          }
        },
      ),
      runs(50),
    );
  });

  it('should name a warmup longer than the run', () => {
    assert.throws(
      () => cosineLearningRate({ peak: 1, warmupSteps: 20, totalSteps: 10 }, 0),
      (e: unknown) =>
        e instanceof ConfigError &&
        /warmupSteps \(20\) must be <= totalSteps \(10\)/.test(e.message),
    );
  });
});
