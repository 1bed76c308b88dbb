// TokenChoiceRouter's validation: each bad config option and each bad input to route() throws
// a ConfigError or ShapeError naming the parameter, the value and the rule.
import assert from 'node:assert/strict';
import { ConfigError, ShapeError, tf, type Tensor3D } from '@moderoute/core';
import { TokenChoiceRouter } from '@moderoute/routing';

describe(TokenChoiceRouter.name, () => {
  describe('when the config is invalid', () => {
    it('should throw a ConfigError naming the parameter, the value and the rule', () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ dModel: 4, numExperts: 4, topK: 5 }, /^topK \(5\) must be <= numExperts \(4\)$/],
        [{ dModel: 4, topK: 0 }, /^topK \(0\) must be an integer >= 1$/],
        [{ dModel: 4, topK: 1.5 }, /^topK \(1\.5\) must be an integer >= 1$/],
        [{ dModel: 4, numExperts: 0 }, /^numExperts \(0\) must be an integer >= 1$/],
        [{ dModel: 0 }, /^dModel \(0\) must be an integer >= 1$/],
        [
          { dModel: 4, capacity: { trainFactor: 0 } },
          /^capacity\.trainFactor \(0\) must be a finite number > 0$/,
        ],
        [
          { dModel: 4, capacity: { evalFactor: Number.NaN } },
          /^capacity\.evalFactor \(NaN\) must be a finite number > 0$/,
        ],
        [
          { dModel: 4, priority: 'lottery' },
          /^priority \("lottery"\) must be one of "position", "score", "probs", "random"$/,
        ],
        [
          { dModel: 4, placement: 'random' },
          /^placement \("random"\) must be one of "rank-major", "token-major"$/,
        ],
        [
          { dModel: 4, renormalize: 'always' },
          /^renormalize \("always"\) must be one of "none", "before-drops", "after-drops"$/,
        ],
        [
          { dModel: 4, scoreFunction: 'relu' },
          /^scoreFunction \("relu"\) must be one of "softmax", "sigmoid"$/,
        ],
        [
          { dModel: 4, scoreFunction: 'sigmoid', zLossCoefficient: 1e-3 },
          /^zLossCoefficient \(0\.001\) must be 0 with scoreFunction "sigmoid"/,
        ],
        [
          { dModel: 4, numExperts: 8, expertGroups: 3 },
          /^expertGroups \(3\) must be a divisor of numExperts \(8\)$/,
        ],
        [
          { dModel: 4, numExperts: 8, expertGroups: 4, topKGroups: 5 },
          /^topKGroups \(5\) must be <= expertGroups \(4\)$/,
        ],
        [
          { dModel: 4, numExperts: 8, topK: 5, expertGroups: 4, topKGroups: 2 },
          /^topK \(5\) must be <= topKGroups \* numExperts \/ expertGroups \(2 \* 2 = 4/,
        ],
        [
          { dModel: 4, numExperts: 4, expertGroups: 4, groupScore: 'top2-sum' },
          /^groupScore \("top2-sum"\) must be "max" when a group holds one expert/,
        ],
        [{ dModel: 4, routedScale: 0 }, /^routedScale \(0\) must be a finite number > 0$/],
        [
          { dModel: 4, loadCoefficient: 0.1 },
          /^loadCoefficient \(0\.1\) must be 0 without noisyGating/,
        ],
        [
          { dModel: 4, numExperts: 4, noisyGating: true, expertGroups: 2 },
          /^noisyGating \(true\) must be false with expertGroups > 1/,
        ],
        [{ dModel: 4, noisyGating: 'yes' }, /^noisyGating \("yes"\) must be a boolean$/],
        [{ dModel: 4, topk: 2 }, /^config\.topk \(2\) must be a known option/],
      ];
      for (const [config, message] of cases) {
        assert.throws(
          () => new TokenChoiceRouter(config as never),
          (err: unknown) => err instanceof ConfigError && message.test(err.message),
          String(message),
        );
      }
    });
  });

  describe('when the input is invalid', () => {
    it('should throw a ShapeError naming the tensor, its shape or dtype and the rule', () => {
      const router = new TokenChoiceRouter({ dModel: 4, numExperts: 2 });
      tf.tidy(() => {
        const cases: [() => unknown, RegExp][] = [
          [
            () => router.route(tf.zeros([2, 4]) as never),
            /^x\.shape \(\[2, 4\]\) must be of rank 3, \[B, T, D\]$/,
          ],
          [
            () => router.route(tf.zeros([1, 2, 5]) as Tensor3D),
            /^x\.shape \(\[1, 2, 5\]\) must be \[B, T, 4\]/,
          ],
          [
            () => router.route(tf.zeros([1, 2, 4], 'int32') as Tensor3D),
            /^x\.dtype \(int32\) must be "float32"$/,
          ],
          [
            () => router.route(tf.zeros([1, 0, 4]) as Tensor3D),
            /^x\.shape \(\[1, 0, 4\]\) must be \[B >= 1, T >= 1, 4\]$/,
          ],
          [
            () => router.route(tf.zeros([1, 2, 4]) as Tensor3D, { mask: tf.ones([2, 2]) }),
            /^mask\.shape \(\[2, 2\]\) must be \[1, 2\]/,
          ],
        ];
        for (const [call, message] of cases) {
          assert.throws(
            call,
            (err: unknown) => err instanceof ShapeError && message.test(err.message),
            String(message),
          );
        }
      });
      router.dispose();
      assert.throws(() => router.route(tf.zeros([1, 2, 4]) as Tensor3D), /has been disposed/);
    });
  });
});
