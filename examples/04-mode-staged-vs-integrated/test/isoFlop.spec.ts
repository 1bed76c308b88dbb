// Runs example 4 at its tiny size: every variant trains on the same FLOP budget (to within one
// step), and each routes as its kind promises.
import assert from 'node:assert/strict';
import { initBackend, tf } from '@moderoute/core';
import {
  SIZES,
  VARIANTS,
  compareAtEqualFlops,
  flopsPerStep,
  formatTable,
  isoFlopPlan,
  type VariantResult,
} from '../src/isoFlop.js';

describe('example 04-mode-staged-vs-integrated', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('isoFlopPlan', () => {
    it("should give cheaper variants more steps: the budget over each step's analytic FLOPs", () => {
      const { budget, steps, perStep } = isoFlopPlan('tiny');
      assert.equal(budget, SIZES.tiny.denseSteps * flopsPerStep('dense', 'tiny'));
      assert.equal(steps['dense'], SIZES.tiny.denseSteps);
      for (const v of VARIANTS) assert.equal(steps[v], Math.floor(budget / perStep[v]!));
      // Staged MoDE runs attention and experts on 12.5% of the tokens of every other block.
      assert.ok(
        perStep['mode-staged']! < perStep['dense']! && steps['mode-staged']! > steps['dense']!,
      );
      // Integrated MoDE's experts have room for fewer tokens than MoE's (capacity over 8 experts:
      // max(round(1.25 * 64 / 8), 4) = 10 each, 40 of 64 tokens), once T is large enough that
      // the switch preset's minimum of 4 does not decide (at T = 16 it does: 4 x 4 = 16).
      const full = isoFlopPlan('full');
      assert.ok(full.perStep['mode-integrated']! < full.perStep['moe']!);
      assert.deepEqual(full.steps, {
        dense: 100,
        moe: 99,
        'mode-staged': 170,
        'mode-integrated': 110,
      });
    });
  });

  describe('compareAtEqualFlops', () => {
    let budget: number;
    let results: VariantResult[];
    before(async () => {
      const before = tf.memory().numTensors;
      ({ budget, results } = await compareAtEqualFlops({ size: 'tiny' }));
      assert.equal(tf.memory().numTensors, before, 'training leaked tensors');
    });

    it('should spend the same budget on every variant, to within one step', () => {
      assert.deepEqual(
        results.map((r) => r.variant),
        [...VARIANTS],
      );
      for (const r of results) {
        assert.equal(r.result.step, r.steps);
        assert.equal(r.trainingFlops, r.steps * r.flopsPerStep);
        assert.ok(
          r.trainingFlops <= budget && r.trainingFlops > budget - r.flopsPerStep,
          `${r.variant}: ${r.trainingFlops} of ${budget}`,
        );
        assert.ok(
          r.validationBitsPerByte > 0 && r.validationBitsPerByte < 9,
          `${r.variant}: ${r.validationBitsPerByte}`,
        );
      }
    });

    it('should route as each kind promises', () => {
      const by = Object.fromEntries(results.map((r) => [r.variant, r]));
      assert.deepEqual(by['dense']!.routedFractionPerBlock, [1, 1]);
      // Staged: the depth router keeps 12.5% of T = 16, exactly 2 tokens per sequence.
      assert.equal(by['mode-staged']!.routedFractionPerBlock[1], 2 / 16);
      // MoE sends every assignment to a real expert; integrated MoDE sends some to no-ops.
      assert.equal(by['moe']!.realExpertShare, 1);
      const share = by['mode-integrated']!.realExpertShare!;
      assert.ok(share > 0 && share < 1, String(share));
      assert.ok(by['moe']!.parameters > by['dense']!.parameters);
    });

    it('should print the budget and one row per variant', () => {
      const lines = formatTable(budget, results).split('\n');
      assert.match(lines[0]!, /^FLOP budget: \d+\.\d{3} GFLOPs/);
      assert.equal(lines.length, 3 + VARIANTS.length);
      VARIANTS.forEach((v, i) => assert.ok(lines[3 + i]!.startsWith(v), lines[3 + i]));
    });
  });
});
