// A consumer's own routing scheme, registered by name through a ContainerModule and used in the
// routed blocks of a language model, without touching @moderoute/blocks or @moderoute/model.
import assert from 'node:assert/strict';
import {
  initBackend,
  tf,
  type Scalar,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { gatherRows } from '@moderoute/core';
import {
  CapacityPolicy,
  routerModule,
  routingCounts,
  type MixtureOfDepthsPlan,
  type ParameterScope,
  type RouteContext,
  type Router,
  type RouterDescription,
} from '@moderoute/routing';
import { MODEL_IDS, createContainer } from '@moderoute/model';

/**
 * A strided Mixture-of-Depths router: every `stride`-th token of a sequence goes through the
 * block (a fixed, causal schedule), weighted by a learned sigmoid(w . x).
 */
class StridedRouter implements Router<MixtureOfDepthsPlan> {
  readonly className = 'strided';
  readonly kind = 'mixture-of-depths' as const;
  readonly combineWeightRange = [0, 1] as const;
  /** Unused: the stride fixes the selection. */
  readonly defaultCapacity = CapacityPolicy.fraction(1);
  readonly w: Variable;

  constructor(
    readonly config: { dModel: number; stride?: number; seed?: number },
    scope: ParameterScope,
  ) {
    this.w = scope.variable(
      'w',
      [config.dModel, 1],
      () => tf.randomNormal([config.dModel, 1], 0, 0.1, 'float32', config.seed ?? 0),
      true,
    );
  }

  describe(): RouterDescription {
    return {
      numExperts: 1,
      topK: 1,
      flopsPerToken: 2 * this.config.dModel,
      causalModes: [],
    };
  }

  route(x: Tensor3D, _context: RouteContext): MixtureOfDepthsPlan {
    const [b, t, d] = x.shape;
    const stride = this.config.stride ?? 2;
    const positions = Array.from({ length: Math.ceil(t / stride) }, (_, j) => j * stride);
    const tokens = Array.from({ length: b }, (_, s) => positions.map((p) => s * t + p)).flat();
    const tokenIndex = tf.tensor1d(tokens, 'int32') as Tensor1D;
    // Shape: [B, T, D] -> [B*T, D] @ [D, 1] -> [B, T]
    const logits = tf.reshape(
      tf.matMul(tf.reshape(x, [b * t, d]) as Tensor2D, this.w as Tensor2D),
      [b, t],
    ) as Tensor2D;
    const weights = tf.sigmoid(
      gatherRows(tf.reshape(logits, [b * t]) as Tensor1D, tokenIndex),
    ) as Tensor1D;
    return {
      kind: 'mixture-of-depths',
      mode: 'top-k',
      batchSize: b,
      seqLen: t,
      tokenIndex,
      combineWeights: weights,
      capacity: positions.length,
      rowCounts: new Array<number>(b).fill(positions.length),
      positions: tf.tensor1d(
        Array.from({ length: b }, () => positions).flat(),
        'int32',
      ) as Tensor1D,
      routerLogits: logits,
      auxLosses: {} as Record<string, Scalar>,
      counts: routingCounts({
        valid: new Uint8Array(b * t).fill(1),
        numExperts: 1,
        tokenIndex: tokens,
      }),
    };
  }

  getConfig(): Record<string, unknown> {
    return { ...this.config };
  }

  /** Its variable belongs to the scope it was built with (the block's store). */
  dispose(): void {}
}

describe('a plugin router', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('when registered through its ContainerModule', () => {
    it('should be usable by name in MoD blocks of a model, and learn', () => {
      const plugin = routerModule(
        'strided',
        (config, scope) => new StridedRouter(config as { dModel: number; stride?: number }, scope),
      );
      const models = createContainer(plugin).get(MODEL_IDS.ModelFactory);
      const model = models.create({
        width: 16,
        numHeads: 2,
        numLayers: 2,
        contextLength: 8,
        vocabSize: 32,
        schedule: {
          pattern: [
            'dense',
            { kind: 'mod', depthRouter: { name: 'strided', config: { stride: 3 } } },
          ],
        },
      });
      try {
        tf.tidy(() => {
          const ids = tf.randomUniform([2, 8], 0, 32, 'int32', 1) as Tensor2D;
          const out = model.forward(ids);
          const plan = out.routing[1]!['mod'] as MixtureOfDepthsPlan;
          assert.deepEqual(Array.from(plan.positions.dataSync()), [0, 3, 6, 0, 3, 6]);
          const router = model.blocks[1]!.routers()[0];
          assert.ok(router instanceof StridedRouter);
          const { grads } = tf.variableGrads(() => model.loss(ids, ids).loss, [router.w]);
          assert.ok((tf.max(tf.abs(grads[router.w.name]!)).dataSync()[0] as number) > 0);
          assert.ok([...model.namedParameters().keys()].includes('blocks.1.routers.0.w'));
        });
      } finally {
        model.dispose();
      }
    });
  });
});
