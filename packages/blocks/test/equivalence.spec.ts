// Equivalences between block kinds at their degenerate settings, and index dispatch against a
// dense one-hot reference written here.
import {
  STAGED_EXPERT_ROUTER_SEED_OFFSET,
  tf,
  type Scalar,
  type Tensor,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import type { ExpertRoutingPlan, MixtureOfDepthsPlan } from '@moderoute/routing';
import { expectClose, forEachBackend, randomTensor } from '@moderoute/testing';
import { DenseBlock, MoeBlock, type Block, type ParameterStore } from '../src/index.js';
import { WIDTH, makeBlock } from './helpers.js';

const DROPLESS = { capacity: { dropless: true } };

/** Copies parameters by name from one store to another: (to-name, from-name) pairs. */
function copy(to: ParameterStore, from: ParameterStore, names: [string, string][]): void {
  for (const [t, f] of names) {
    const source = from.get(f);
    if (source === undefined) throw new Error(`no parameter ${f}`);
    to.assign({ [t]: source });
  }
}
const MLP_NAMES = ['fc1.w', 'fc1.b', 'fc2.w', 'fc2.b'];
const expertFromMlp = (e: number): [string, string][] =>
  MLP_NAMES.map((n) => [`b.experts.${e}.${n}`, `b.mlp.${n}`]);

/** Output and gradient wrt x under a fixed cotangent. */
function outputAndGrad(block: Block, x: Tensor3D, cot: Tensor): [Tensor, Tensor] {
  const out = block.forward(x, { training: false }).output;
  const g = tf.grad(
    (xx: Tensor) =>
      tf.sum(tf.mul(block.forward(xx as Tensor3D, { training: false }).output, cot)) as Scalar,
  )(x);
  return [out, g];
}

describe('block equivalences', () => {
  forEachBackend(() => {
    const x = () => randomTensor([2, 8, WIDTH], 11, 1) as Tensor3D;
    const cot = () => randomTensor([2, 8, WIDTH], 12);

    it('MoE with one expert, top-1 and full capacity should equal the dense block, forward and gradients', () => {
      const dense = makeBlock({ kind: 'dense' });
      const moe = makeBlock({
        kind: 'moe',
        numExperts: 1,
        expertRouter: { name: 'token-choice', config: { topK: 1, ...DROPLESS } },
      });
      try {
        copy(moe.store, dense.store, expertFromMlp(0));
        tf.tidy(() => {
          const [yd, gd] = outputAndGrad(dense.block, x(), cot());
          const [ym, gm] = outputAndGrad(moe.block, x(), cot());
          expectClose(ym, yd, { rtol: 1e-5, atol: 1e-6 }, 'output');
          expectClose(gm, gd, { rtol: 1e-4, atol: 1e-6 }, 'gradient wrt x');
          // Parameter gradients: the expert's equal the dense MLP's.
          const d = dense.block as DenseBlock;
          const m = moe.block as MoeBlock;
          const loss = (b: Block) => () =>
            tf.sum(tf.mul(b.forward(x(), { training: false }).output, cot())) as Scalar;
          const dg = tf.variableGrads(loss(d), [d.parts.mlp!.w1, d.parts.attention.wQkv]).grads;
          const mg = tf.variableGrads(loss(m), [
            m.experts.experts[0]!.w1,
            m.parts.attention.wQkv,
          ]).grads;
          expectClose(
            mg[m.experts.experts[0]!.w1.name]!,
            dg[d.parts.mlp!.w1.name]!,
            { rtol: 1e-4, atol: 1e-6 },
            'expert fc1 gradient',
          );
          expectClose(
            mg[m.parts.attention.wQkv.name]!,
            dg[d.parts.attention.wQkv.name]!,
            { rtol: 1e-4, atol: 1e-6 },
            'attention gradient',
          );
        });
      } finally {
        dense.dispose();
        moe.dispose();
      }
    });

    it(
      'MoE with one routed and one shared expert, both the dense MLP, should equal the dense ' +
        'block with its MLP output doubled',
      () => {
        // One routed expert at full capacity has probability 1, so out = h + 2 MLP(u); doubling the
        // dense MLP's fc2 (weights and bias) doubles its output. DeepSeekMoE, Dai et al. 2024, eq. 9.
        const dense = makeBlock({ kind: 'dense' });
        const moe = makeBlock({
          kind: 'moe',
          numExperts: 1,
          numSharedExperts: 1,
          expertRouter: { name: 'token-choice', config: { topK: 1, ...DROPLESS } },
        });
        try {
          copy(moe.store, dense.store, [
            ...expertFromMlp(0),
            ...MLP_NAMES.map((n): [string, string] => [`b.shared.0.${n}`, `b.mlp.${n}`]),
          ]);
          for (const n of ['fc2.w', 'fc2.b'])
            dense.store.assign({
              [`b.mlp.${n}`]: tf.tidy(() => tf.mul(dense.store.get(`b.mlp.${n}`)!, 2)),
            });
          tf.tidy(() => {
            const [yd, gd] = outputAndGrad(dense.block, x(), cot());
            const [ym, gm] = outputAndGrad(moe.block, x(), cot());
            expectClose(ym, yd, { rtol: 1e-5, atol: 1e-6 }, 'output');
            expectClose(gm, gd, { rtol: 1e-4, atol: 1e-6 }, 'gradient wrt x');
            const m = moe.block as MoeBlock;
            const loss = () =>
              tf.sum(tf.mul(m.forward(x(), { training: false }).output, cot())) as Scalar;
            const w1 = m.shared!.experts[0]!.w1;
            const g = tf.variableGrads(loss, [w1]).grads[w1.name]!;
            if (tf.max(tf.abs(g)).dataSync()[0]! === 0)
              throw new Error('the shared expert got no gradient');
          });
          // FLOPs: the shared expert runs on every token, as the dense MLP does.
          const fd = dense.block.flops(8);
          const fm = moe.block.flops(8);
          if (fm.mlp !== 2 * fd.mlp)
            throw new Error(`MLP FLOPs ${fm.mlp}, expected twice the dense block's ${fd.mlp}`);
        } finally {
          dense.dispose();
          moe.dispose();
        }
      },
    );

    it('MoD at capacity 100% should equal the dense block with its update scaled by g(r)', () => {
      const dense = makeBlock({ kind: 'dense' });
      const mod = makeBlock({
        kind: 'mod',
        depthRouter: { name: 'mixture-of-depths', config: { capacity: 1 } },
      });
      try {
        tf.tidy(() => {
          const xx = x();
          const out = mod.block.forward(xx, { training: false });
          const plan = out.routing!['mod'] as MixtureOfDepthsPlan;
          const f = (dense.block as DenseBlock).parts.update(xx);
          // g = identity: out = x + r * f(x)
          const expected = tf.add(xx, tf.mul(tf.expandDims(plan.routerLogits, 2), f));
          expectClose(out.output, expected, { rtol: 1e-4, atol: 1e-5 }, 'output');
        });
      } finally {
        dense.dispose();
        mod.dispose();
      }
    });

    it('integrated MoDE with no no-op experts should equal MoE', () => {
      const spec = {
        numExperts: 3,
        expertRouter: {
          name: 'token-choice',
          config: { topK: 2, capacity: { trainFactor: 1, evalFactor: 1 } },
        },
      };
      const moe = makeBlock({ kind: 'moe', ...spec });
      const integrated = makeBlock({ kind: 'mode-integrated', numNoopExperts: 0, ...spec });
      try {
        tf.tidy(() => {
          const [ym, gm] = outputAndGrad(moe.block, x(), cot());
          const [yi, gi] = outputAndGrad(integrated.block, x(), cot());
          expectClose(yi, ym, { rtol: 0, atol: 0 }, 'output');
          expectClose(gi, gm, { rtol: 0, atol: 0 }, 'gradient');
        });
      } finally {
        moe.dispose();
        integrated.dispose();
      }
    });

    it('staged MoDE at MoD capacity 100% should equal the MoE block with its update scaled by g(r)', () => {
      const experts = {
        numExperts: 2,
        expertRouter: { name: 'token-choice', config: { topK: 1, ...DROPLESS } },
      };
      // The staged block seeds its expert router at an offset from its seed; give the MoE that seed.
      const moe = makeBlock({ kind: 'moe', ...experts }, 1, 1 + STAGED_EXPERT_ROUTER_SEED_OFFSET);
      const staged = makeBlock(
        {
          kind: 'mode-staged',
          depthRouter: { name: 'mixture-of-depths', config: { capacity: 1 } },
          ...experts,
        },
        1,
        1,
      );
      try {
        tf.tidy(() => {
          const xx = x();
          const out = staged.block.forward(xx, { training: false });
          const r = (out.routing!['mod'] as MixtureOfDepthsPlan).routerLogits;
          const moeOut = moe.block.forward(xx, { training: false }).output;
          const expected = tf.add(xx, tf.mul(tf.expandDims(r, 2), tf.sub(moeOut, xx)));
          expectClose(out.output, expected, { rtol: 1e-4, atol: 1e-5 }, 'output');
        });
      } finally {
        moe.dispose();
        staged.dispose();
      }
    });

    for (const router of ['token-choice', 'expert-choice'] as const) {
      it(`index dispatch should equal a dense one-hot dispatch (${router}, with drops)`, () => {
        const moe = makeBlock({
          kind: 'moe',
          numExperts: 3,
          expertRouter: {
            name: router,
            config:
              router === 'token-choice'
                ? { topK: 2, capacity: { trainFactor: 0.5, evalFactor: 0.5 } }
                : { capacity: { trainFactor: 0.5, evalFactor: 0.5 } },
          },
        });
        try {
          tf.tidy(() => {
            const block = moe.block as MoeBlock;
            const xx = x();
            const out = block.forward(xx, { training: false });
            const plan = out.routing!['experts'] as ExpertRoutingPlan;
            // Reference: every expert on every token; a one-hot [B*T, N] matrix of assignments,
            // weighted, per expert.
            const [b, t] = [2, 8];
            const h = block.parts.attend(xx);
            const u = block.parts.ln2.apply(h).reshape([b * t, WIDTH]) as Tensor2D;
            const tokens = Array.from(plan.tokenIndex.dataSync());
            const expertsOf = Array.from(plan.expertIndex.dataSync());
            const weights = Array.from(plan.combineWeights.dataSync());
            let ref: Tensor = h.reshape([b * t, WIDTH]);
            block.experts.experts.forEach((expert, e) => {
              const gate = new Float32Array(b * t);
              tokens.forEach((tok, n) => {
                if (expertsOf[n] === e) gate[tok]! += weights[n]!;
              });
              ref = tf.add(ref, tf.mul(tf.tensor2d(gate, [b * t, 1]), expert.apply(u)));
            });
            expectClose(
              out.output,
              ref.reshape([b, t, WIDTH]),
              { rtol: 1e-5, atol: 1e-6 },
              'output',
            );
          });
        } finally {
          moe.dispose();
        }
      });
    }

    // Regression: the expert stage of a staged MoDE block routes the packed subsequence
    // [B, S, D]; when every sequence selected as many tokens there is no subsequence mask, and
    // the batch's own [B, T] mask was passed on instead (a ShapeError).
    it('staged MoDE with an all-real padding mask should equal the block without a mask', () => {
      const staged = makeBlock({
        kind: 'mode-staged',
        depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } },
        numExperts: 2,
      });
      try {
        tf.tidy(() => {
          const xx = x();
          const plain = staged.block.forward(xx, { training: false }).output;
          for (const mode of ['top-k', 'threshold'] as const) {
            const masked = staged.block.forward(xx, {
              training: false,
              mask: tf.ones([2, 8]),
              mode,
            }).output;
            const unmasked = staged.block.forward(xx, { training: false, mode }).output;
            expectClose(masked, unmasked, { rtol: 0, atol: 0 }, `output under ${mode}`);
          }
          expectClose(
            staged.block.forward(xx, { training: false, mask: tf.ones([2, 8]) }).output,
            plain,
            { rtol: 0, atol: 0 },
            'top-k output',
          );
        });
      } finally {
        staged.dispose();
      }
    });
  });
});
