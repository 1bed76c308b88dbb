// The routing overhead of `moderoute bench`: route + dispatch + combine with identity experts,
// forward and backward, against the forward and backward of the dense block it routes.
import { bestTimeMs, tf, type Scalar, type Tensor, type Tensor3D } from '@moderoute/core';
import { combineRows, dispatchRows } from '@moderoute/routing';
import { ParameterStore, resolveBlockSpec, type Block, type BlockFactory } from '@moderoute/blocks';
import { BATCH, BENCH, SEQ } from './config.js';

export type RoutingOverhead = Record<
  string,
  { ms: number; denseBlockMs: number; fractionOfDenseBlock: number }
>;

/**
 * Routing overhead: route + dispatch + combine (identity experts), forward and backward, over a
 * dense block's forward and backward.
 */
export function benchRouting(reps: number, factory: BlockFactory): RoutingOverhead {
  const dims = {
    width: BENCH.width,
    numHeads: BENCH.numHeads,
    mlpHidden: 4 * BENCH.width,
    residualStd: 0.01,
  };
  const store = new ParameterStore(0);
  const build = (spec: Parameters<typeof resolveBlockSpec>[0], i: number): Block =>
    factory.create(resolveBlockSpec(spec, dims.mlpHidden), dims, {
      store: store.scope(`b${i}`),
      seed: i,
    });
  const dense = build({ kind: 'dense' }, 0);
  const routed: Record<string, Block> = {
    'token-choice (E=4, K=1, cf 1.25)': build(
      {
        kind: 'moe',
        numExperts: 4,
        expertRouter: {
          name: 'token-choice',
          config: { capacity: { trainFactor: 1.25, evalFactor: 1.25 } },
        },
      },
      1,
    ),
    'expert-choice (E=4, cf 1)': build(
      { kind: 'moe', numExperts: 4, expertRouter: 'expert-choice' },
      2,
    ),
    'mixture-of-depths (12.5%)': build({ kind: 'mod' }, 3),
  };
  const x = tf.randomNormal([BATCH, SEQ, BENCH.width], 0, 1, 'float32', 3) as Tensor3D;
  const dy = tf.randomNormal([BATCH, SEQ, BENCH.width], 0, 1, 'float32', 4);
  const grad = (f: (x: Tensor) => Tensor) => () =>
    tf.grads((xx: Tensor) => tf.sum(tf.mul(f(xx), dy)) as Scalar)([x]);
  try {
    const denseMs = bestTimeMs(
      grad((xx) => dense.forward(xx as Tensor3D, { training: true }).output),
      reps,
    );
    const out: RoutingOverhead = {};
    for (const [name, block] of Object.entries(routed)) {
      const { router, capacity } = block.stages()[0]!;
      const ms = bestTimeMs(
        grad((xx) => {
          const plan = router.route(xx as Tensor3D, { training: true, capacity });
          const aux = Object.values(plan.auxLosses).reduce<Tensor>(
            (a, l) => tf.add(a, l),
            tf.scalar(0),
          );
          return tf.add(combineRows(plan, dispatchRows(plan, xx as Tensor3D)), aux);
        }),
        reps,
      );
      out[name] = { ms, denseBlockMs: denseMs, fractionOfDenseBlock: ms / denseMs };
    }
    return out;
  } finally {
    store.dispose();
    for (const b of [dense, ...Object.values(routed)]) for (const r of b.routers()) r.dispose();
    tf.dispose([x, dy]);
  }
}
