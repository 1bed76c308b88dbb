import assert from 'node:assert/strict';
import { ConfigError } from '@moderoute/core';
import { resolveTrainConfig, type TrainConfig } from '../src/index.js';

describe('resolveTrainConfig', () => {
  describe('when the config is not an object', () => {
    it('should refuse an array, a string and null instead of ignoring them', () => {
      // A --config file holding [] used to train 200 default steps.
      for (const config of [[], 'steps', null]) {
        assert.throws(
          () => resolveTrainConfig(config as unknown as TrainConfig),
          (e: unknown) =>
            e instanceof ConfigError && /^train config \(.*\) must be an object$/.test(e.message),
        );
      }
    });
  });

  describe('when steps is past the safe-integer range', () => {
    it('should say the range is the limit, not that 1e99 is no integer', () => {
      assert.throws(
        () => resolveTrainConfig({ model: {}, steps: 1e99 }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message ===
            'steps (1e+99) must be an integer in [1, 9007199254740991] (the safe-integer range of a double, 2^53 - 1)',
      );
    });
  });
});

describe('resolveTrainConfig warm-up', () => {
  it('should refuse more warm-up steps than steps when the config is resolved', () => {
    // It used to fail only at the first training step, inside the schedule.
    assert.throws(
      () => resolveTrainConfig({ model: {}, steps: 1, warmupSteps: 2 }),
      (e: unknown) =>
        e instanceof ConfigError && e.message === 'warmupSteps (2) must be <= steps (1)',
    );
    assert.equal(resolveTrainConfig({ model: {}, steps: 5, warmupSteps: 5 }).warmupSteps, 5);
  });
});
