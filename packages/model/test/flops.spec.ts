// The analytic FLOP count against a count taken from the matmul shapes a forward pass executes.
import assert from 'node:assert/strict';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '../src/index.js';

const MATMUL_KERNELS = new Set(['BatchMatMul', '_FusedMatMul', 'MatMul']);

/** Sum of 2 * M * N * K over every matrix product a function executes (from tf.profile). */
async function executedMatmulFlops(f: () => tf.TensorContainer): Promise<number> {
  const profile = await tf.profile(f as () => tf.Tensor);
  let flops = 0;
  for (const k of profile.kernels) {
    if (!MATMUL_KERNELS.has(k.name)) continue;
    const [a, b] = k.inputShapes as number[][];
    const out = k.outputShapes[0] as number[];
    const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
    const batch = size(out.slice(0, -2));
    // K from sizes alone, whatever the transpose flags: |A| |B| / (|out| batch) = K^2.
    const inner = Math.round(Math.sqrt((size(a!) * size(b!)) / (size(out) * batch)));
    flops += 2 * size(out) * inner;
  }
  return flops;
}

const BASE: LanguageModelConfig = {
  width: 16,
  numHeads: 2,
  numLayers: 2,
  contextLength: 16,
  vocabSize: 32,
};
const EC = { name: 'expert-choice', config: { capacity: { trainFactor: 1, evalFactor: 1 } } };

const EXACT: [string, LanguageModelConfig][] = [
  ['dense', { ...BASE }],
  ['MoD every other block', { ...BASE, schedule: { pattern: ['dense', 'mod'] } }],
  [
    'MoD with the predictor',
    {
      ...BASE,
      schedule: {
        pattern: [
          {
            kind: 'mod',
            depthRouter: {
              name: 'mixture-of-depths',
              config: { capacity: 0.25, causalMode: 'predictor' },
            },
          },
        ],
      },
    },
  ],
  [
    'MoE, expert-choice',
    { ...BASE, schedule: { pattern: [{ kind: 'moe', expertRouter: EC, expertHidden: 24 }] } },
  ],
  [
    'staged MoDE, expert-choice',
    { ...BASE, schedule: { pattern: [{ kind: 'mode-staged', expertRouter: EC }] } },
  ],
  [
    'integrated MoDE, expert-choice',
    {
      ...BASE,
      schedule: { pattern: [{ kind: 'mode-integrated', expertRouter: EC, numNoopExperts: 2 }] },
    },
  ],
];

describe('LanguageModel.flops', () => {
  before(async () => {
    await initBackend({ backend: 'cpu' });
  });
  const factory = () => createContainer().get(MODEL_IDS.ModelFactory);

  for (const [name, config] of EXACT) {
    it(`should equal the executed matmul FLOPs: ${name}`, async () => {
      const model = factory().create(config);
      const ids = tf.randomUniform([3, 16], 0, 32, 'int32', 1) as Tensor2D;
      try {
        const executed = await executedMatmulFlops(
          () => model.forward(ids, { training: true }).logits,
        );
        assert.equal(executed, 3 * model.flops(16).forward);
        assert.equal(model.flops(16).training, 3 * model.flops(16).forward);
      } finally {
        model.dispose();
        ids.dispose();
      }
    });
  }

  it('should bound the executed FLOPs of token-choice MoE from above (dropped tokens cost nothing)', async () => {
    const model = factory().create({
      ...BASE,
      schedule: {
        pattern: [
          {
            kind: 'moe',
            expertRouter: {
              name: 'token-choice',
              config: { capacity: { trainFactor: 1, evalFactor: 1 } },
            },
          },
        ],
      },
    });
    const ids = tf.randomUniform([3, 16], 0, 32, 'int32', 2) as Tensor2D;
    try {
      const executed = await executedMatmulFlops(
        () => model.forward(ids, { training: true }).logits,
      );
      const analytic = 3 * model.flops(16).forward;
      assert.ok(executed <= analytic, `${executed} > ${analytic}`);
      assert.ok(executed >= 0.8 * analytic, `${executed} much below ${analytic}`);
    } finally {
      model.dispose();
      ids.dispose();
    }
  });

  it('should make MoD at 12.5% every other block cost about 0.57 of dense at the bench config', () => {
    const bench: LanguageModelConfig = {
      width: 128,
      numHeads: 4,
      numLayers: 4,
      contextLength: 128,
    };
    const dense = factory().create(bench);
    const mod = factory().create({ ...bench, schedule: { pattern: ['dense', 'mod'] } });
    try {
      const ratio = mod.flops().training / dense.flops().training;
      // docs/performance.md: 5.84 GFLOP vs 3.33 GFLOP per training step at batch 8.
      assert.ok(
        Math.abs(dense.flops().training * 8 - 5.84e9) / 5.84e9 < 0.02,
        String(dense.flops().training * 8),
      );
      assert.ok(Math.abs(ratio - 0.57) < 0.01, String(ratio));
    } finally {
      dense.dispose();
      mod.dispose();
    }
  });
});
