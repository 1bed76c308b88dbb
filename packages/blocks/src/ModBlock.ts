// Mixture-of-Depths block (Raposo et al. 2024, section 3, eq. 1): an expert-choice MoD router
// picks k tokens of each sequence; attention and the MLP run on that subsequence only (attention
// among the selected tokens, causal within them); for a selected token i
//   out_i = x_i + g(r_i) * f_i(X~),   and out_i = x_i for every other token,
// where f is the block's residual update and g(r) the router's combine weight (identity in the
// paper), through which the router learns.
// Axis legend: B batch, T tokens, D width, S selected per sequence, N selected in all.
import { ConfigError, tf, type Tensor2D, type Tensor3D } from '@moderoute/core';
import {
  addCombinedRows,
  type CapacityPolicy,
  type MixtureOfDepthsPlan,
  type Router,
  type RoutingPlan,
} from '@moderoute/routing';
import type {
  Block,
  BlockDecodeOptions,
  BlockDecoder,
  BlockFlops,
  BlockForwardOptions,
  BlockOutput,
} from './Block.js';
import { modDecoder } from './decoders/blockDecoders.js';
import type { BlockDims, BlockParts } from './DenseBlock.js';
import { attentionCoreFlops, attentionProjectionFlops, depthTokens, mlpFlops } from './flops.js';
import { routeStage, type Stage } from './stages.js';
import { packSubsequence } from './subsequence.js';

/** Requires a router of the given plan kind, naming the block that needs it. */
export function requireRouterKind(
  block: string,
  router: Router,
  kind: Router['kind'] | readonly Router['kind'][],
): void {
  const kinds = typeof kind === 'string' ? [kind] : kind;
  if (!kinds.includes(router.kind)) {
    throw new ConfigError(
      'router',
      router.className,
      `a ${kinds.join(' or ')} router for ${block} (it routes ${router.kind})`,
    );
  }
}

/**
 * A Mixture-of-Depths block: its router picks the tokens that go through attention and MLP; the
 * rest skip it on the residual path (Raposo et al. 2024).
 */
export class ModBlock implements Block {
  readonly kind = 'mod' as const;
  private readonly stage: Stage<MixtureOfDepthsPlan>;

  constructor(
    readonly parts: BlockParts,
    readonly router: Router<MixtureOfDepthsPlan>,
    readonly dims: BlockDims,
    /** The block's capacity: tokens its router selects per sequence. */
    readonly capacity: CapacityPolicy,
  ) {
    requireRouterKind('A MoD block', router, 'mixture-of-depths');
    this.stage = { key: 'mod', router, capacity };
  }

  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput {
    const plan = routeStage(this.stage, x, options, { block: 'mod', stage: 'depthRouter' });
    const output = tf.tidy(() => {
      if (plan.tokenIndex.shape[0] === 0) return tf.clone(x);
      const [b, t, d] = x.shape;
      if (this.parts.fuses(x) && plan.rowCounts.every((c) => c === plan.rowCounts[0])) {
        // Every sequence selected as many: gather, update and epilogue as one op.
        const route = { indices: plan.tokenIndex, weights: plan.combineWeights, sequences: b };
        const flat = tf.reshape(x, [b * t, d]) as Tensor2D;
        return tf.reshape(this.parts.routedUpdate(flat, route), [b, t, d]) as Tensor3D;
      }
      const sub = packSubsequence(plan, x);
      // f on the subsequence, float32[B, S, D] -> per-assignment rows float32[N, D]
      const update = sub.unpack(this.parts.update(sub.x, sub.mask));
      // x + g(r) * f for selected tokens; exactly x elsewhere (one fused epilogue on wasm).
      return addCombinedRows(x, plan, update);
    });
    return { output, auxLosses: plan.auxLosses, routing: { mod: plan } };
  }

  decoder(options: BlockDecodeOptions): BlockDecoder {
    return modDecoder(this.parts, this.stage, options);
  }

  flops(seqLen: number): BlockFlops {
    const { width, mlpHidden } = this.dims;
    const k = depthTokens(this.capacity, seqLen);
    const attention = attentionProjectionFlops(k, width) + attentionCoreFlops(k, width);
    const mlp = mlpFlops(k, width, mlpHidden);
    const router = seqLen * this.router.describe().flopsPerToken;
    return { attention, mlp, router, total: attention + mlp + router };
  }

  stages(): readonly Stage<RoutingPlan>[] {
    return [this.stage];
  }

  routers(): readonly Router[] {
    return [this.router];
  }
}
