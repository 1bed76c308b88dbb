import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '@moderoute/core';
import { CAPACITY_PRESETS, CapacityPolicy, type CapacityPresetName } from '@moderoute/routing';
import { runs } from '@moderoute/testing';

/** [n, E, K, f, expected per preset]: the table of docs/routing.md, computed by hand. */
const TABLE: readonly [number, number, number, number, Record<CapacityPresetName, number>][] = [
  [
    128,
    8,
    1,
    1.25,
    { switch: 20, deepspeed: 20, tutel: 20, megablocks: 20, megatron: 20, maxtext: 20 },
  ],
  [
    128,
    8,
    2,
    1.25,
    { switch: 20, deepspeed: 40, tutel: 40, megablocks: 40, megatron: 40, maxtext: 40 },
  ],
  [
    1024,
    64,
    2,
    1,
    { switch: 16, deepspeed: 32, tutel: 32, megablocks: 32, megatron: 32, maxtext: 32 },
  ],
  [10, 4, 2, 1.25, { switch: 4, deepspeed: 7, tutel: 6, megablocks: 6, megatron: 7, maxtext: 6 }],
  [6, 4, 1, 1, { switch: 4, deepspeed: 4, tutel: 2, megablocks: 1, megatron: 2, maxtext: 2 }],
  [10, 4, 1, 1, { switch: 4, deepspeed: 4, tutel: 3, megablocks: 2, megatron: 3, maxtext: 3 }],
];

describe(CapacityPolicy.name, () => {
  describe('.capacity', () => {
    for (const [n, e, k, f, expected] of TABLE) {
      it(`should reproduce every preset's formula for n=${n}, E=${e}, K=${k}, f=${f} (golden)`, () => {
        for (const preset of CAPACITY_PRESETS) {
          const policy = CapacityPolicy.preset(preset, { trainFactor: f, evalFactor: f });
          assert.equal(
            policy.capacity({ groupSize: n, numExperts: e, topK: k, training: true }),
            expected[preset],
            preset,
          );
        }
      });
    }

    it('should round ties to even like Python (flaxformer) and floor without float error', () => {
      const round = new CapacityPolicy({ rounding: 'round' });
      assert.equal(round.capacity({ groupSize: 10, numExperts: 4 }), 2); // round(2.5) = 2
      assert.equal(round.capacity({ groupSize: 14, numExperts: 4 }), 4); // round(3.5) = 4
      const floor = new CapacityPolicy({ rounding: 'floor', trainFactor: 0.57, evalFactor: 0.57 });
      assert.equal(floor.capacity({ groupSize: 100, numExperts: 1 }), 57);
    });

    it('should use the train factor in training and the eval factor otherwise', () => {
      const policy = CapacityPolicy.preset('switch');
      assert.equal(policy.capacity({ groupSize: 64, numExperts: 4, training: true }), 20);
      assert.equal(policy.capacity({ groupSize: 64, numExperts: 4, training: false }), 32);
    });

    it('should never go below the minimum, be a multiple of multipleOf, and grow with the factor', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 300 }),
          fc.integer({ min: 1, max: 16 }),
          fc.integer({ min: 1, max: 4 }),
          fc.double({ min: 0.05, max: 8, noNaN: true }),
          fc.double({ min: 0, max: 2, noNaN: true }),
          fc.constantFrom(...CAPACITY_PRESETS),
          fc.integer({ min: 1, max: 4 }),
          (n, e, k, f, extra, preset, multipleOf) => {
            const a = CapacityPolicy.preset(preset, { trainFactor: f, multipleOf });
            const b = CapacityPolicy.preset(preset, { trainFactor: f + extra, multipleOf });
            const ca = a.capacity({ groupSize: n, numExperts: e, topK: k, training: true });
            assert.ok(ca >= a.config.minimum);
            assert.equal(ca % multipleOf, 0);
            assert.ok(b.capacity({ groupSize: n, numExperts: e, topK: k, training: true }) >= ca);
          },
        ),
        runs(50),
      );
    });
  });

  describe('.getConfig', () => {
    it('should round-trip through JSON', () => {
      const policy = CapacityPolicy.preset('tutel', { multipleOf: 4, group: 'batch' });
      const again = new CapacityPolicy(JSON.parse(JSON.stringify(policy.getConfig())));
      assert.deepEqual(again.getConfig(), policy.getConfig());
      assert.equal(policy.describe(), 'roundUp(floor(f * ceil(n/E)) * K, 4)');
    });
  });

  describe('.from', () => {
    describe('when given a policy of another copy of the package (a plugin module loaded by URL)', () => {
      it('should keep its config, where instanceof does not see it', () => {
        const policy = CapacityPolicy.preset('tutel', { multipleOf: 4, group: 'batch' });
        // What another copy's CapacityPolicy looks like to this copy: branded, another class.
        const foreign = Object.assign(Object.create(null) as object, {
          [Symbol.for('@moderoute/routing/CapacityPolicy')]: true,
          config: policy.getConfig(),
          getConfig: () => policy.getConfig(),
        }) as unknown as CapacityPolicy;
        assert.ok(!(foreign instanceof CapacityPolicy));
        const resolved = CapacityPolicy.from(foreign, { preset: 'switch' });
        assert.ok(resolved instanceof CapacityPolicy);
        assert.deepEqual(resolved.getConfig(), policy.getConfig());
      });
    });
  });

  describe('when a value is invalid', () => {
    it('should name the parameter, the value and the rule', () => {
      const cases: [unknown, RegExp][] = [
        [{ trainFactor: 0 }, /capacity\.trainFactor \(0\) must be a finite number > 0/],
        [{ evalFactor: Number.NaN }, /capacity\.evalFactor \(NaN\) must be a finite number > 0/],
        [{ trainFactor: -1 }, /capacity\.trainFactor \(-1\) must be a finite number > 0/],
        [{ rounding: 'up' }, /capacity\.rounding \("up"\) must be one of "floor", "ceil", "round"/],
        [{ minimum: 1.5 }, /capacity\.minimum \(1\.5\) must be an integer >= 0/],
        [{ preset: 'gshard' }, /capacity\.preset \("gshard"\) must be one of "switch"/],
        [{ factor: 2 }, /capacity\.factor \(2\) must be a known option/],
        [{ group: 'token' }, /capacity\.group \("token"\) must be one of "sequence", "batch"/],
      ];
      for (const [spec, message] of cases) {
        assert.throws(
          () => new CapacityPolicy(spec as never),
          (e: unknown) => e instanceof ConfigError && message.test(e.message),
          String(message),
        );
      }
      assert.throws(
        () => CapacityPolicy.from('gshard' as never),
        /capacity \("gshard"\) must be one of/,
      );
    });
  });
});
