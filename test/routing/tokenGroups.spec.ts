// flaxformer's token groups (capacity group 'max-size') and padding, on flaxformer's own test
// vectors: google/flaxformer flaxformer/architectures/moe/moe_layers_test.py at
// 6254e11abd483c46d732f90ef5f0290c05db2719 (test_num_groups, test_strict_group_size,
// test_maybe_pad; numExperts here is flaxformer's num_experts * num_expert_replicas).
import assert from 'node:assert/strict';
import { ConfigError, tf } from '@moderoute/core';
import {
  CapacityPolicy,
  ExpertChoiceRouter,
  TokenChoiceRouter,
  flaxformerNumGroups,
  flaxformerPadding,
  padForGroups,
} from '@moderoute/routing';
import { useBackend } from '@moderoute/testing';

const maxGroupSizeError = (e: unknown) =>
  e instanceof ConfigError && e.parameter === 'capacity.maxGroupSize';

describe('flaxformer token groups', () => {
  useBackend('wasm');

  describe('flaxformerNumGroups', () => {
    // [maxGroupSize, tokens, experts x replicas, expected groups]
    const cases = [
      [8, 32, 2, 4],
      [9, 32, 2, 4],
      [16, 32, 8, 8],
      [32, 32, 2, 2],
      [64, 32, 2, 2],
    ] as const;
    for (const [max, tokens, experts, groups] of cases) {
      it(`should give ${groups} groups for ${tokens} tokens, max ${max}, ${experts} experts`, () => {
        assert.equal(flaxformerNumGroups(tokens, max, experts), groups);
      });
    }

    it('should refuse a group smaller than maxGroupSize in strict mode (flaxformer: group_size=8 for 16)', () => {
      assert.throws(() => flaxformerNumGroups(16, 16, 2, true), maxGroupSizeError);
      assert.throws(() => flaxformerNumGroups(16, 16, 2, true), /group size, 8 for 16 tokens/);
      assert.equal(flaxformerNumGroups(16, 8, 2, true), 2);
    });

    it('should refuse fewer tokens than experts (unpadded), naming maxGroupSize', () => {
      assert.throws(() => flaxformerNumGroups(3, 4, 4), maxGroupSizeError);
      // Otherwise the search ends at one token per group, as flaxformer's does.
      assert.equal(flaxformerNumGroups(9, 4, 2), 9);
    });
  });

  describe('flaxformerPadding', () => {
    // B = 3, T = 8: [experts x replicas, batch padding, sequence padding]
    const cases = [
      [2, 0, 0],
      [32, 1, 0],
      [7, 0, 6],
      [9, 0, 1],
    ] as const;
    for (const [experts, batchPadding, seqPadding] of cases) {
      it(`should pad 3 x 8 tokens for ${experts} experts: ${batchPadding} rows, ${seqPadding} positions`, () => {
        assert.deepEqual(flaxformerPadding(3, 8, experts), { batchPadding, seqPadding });
      });
    }

    it('should pad with zeros (padForGroups)', () => {
      tf.tidy(() => {
        const padded = padForGroups(tf.ones([3, 8, 2]) as tf.Tensor3D, 9);
        assert.deepEqual(padded.x.shape, [3, 9, 2]);
        assert.equal(tf.sum(padded.x).dataSync()[0], 48);
      });
    });
  });

  describe("capacity group 'max-size'", () => {
    it('should route in flaxformer groups of the flattened batch, capacity per group', () => {
      // B = 2, T = 4, E = 2, maxGroupSize 2: G = max(8 // 2, 2) = 4 groups of n = 2; the
      // 'switch' formula gives max(round(1.25 * 2 / 2), 4) = 4, clamped to n = 2.
      const capacity = { preset: 'switch', group: 'max-size', maxGroupSize: 2 } as const;
      const policy = CapacityPolicy.from(capacity);
      assert.equal(policy.groupSize(2, 4, 2), 2);
      const tc = new TokenChoiceRouter({ dModel: 1, numExperts: 2, capacity });
      const ec = new ExpertChoiceRouter({ dModel: 1, numExperts: 2, capacity });
      tf.tidy(() => {
        const x = tf.ones([2, 4, 1]) as tf.Tensor3D;
        const plan = tc.route(x, { capacity: policy });
        assert.deepEqual([plan.numGroups, plan.groupSize, plan.capacity], [4, 2, 2]);
        // Every token prefers the same expert; each group keeps both of its tokens.
        assert.equal(plan.tokenIndex.size, 8);
        const choice = ec.route(x, { capacity: policy });
        assert.equal(choice.groupSize, 2);
      });
      tc.dispose();
      ec.dispose();
    });

    it('should throw a ConfigError naming maxGroupSize when the tokens admit no group layout', () => {
      const capacity = { group: 'max-size', maxGroupSize: 2 } as const;
      const router = new TokenChoiceRouter({ dModel: 1, numExperts: 4, capacity });
      const x = tf.ones([1, 3, 1]) as tf.Tensor3D;
      const before = tf.memory().numTensors;
      assert.throws(() => router.route(x, {}), maxGroupSizeError);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaked by the refused call');
      x.dispose();
      router.dispose();
    });
  });
});
