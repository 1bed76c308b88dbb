// Mixture-of-Depths block (Raposo et al. 2024, section 3, eq. 1): an expert-choice MoD router
// picks k tokens of each sequence; attention and the MLP run on that subsequence only (attention
// among the selected tokens, causal within them); for a selected token i
//   out_i = x_i + g(r_i) * f_i(X~),   and out_i = x_i for every other token,
// where f is the block's residual update and g(r) the router's combine weight (identity in the
// paper), through which the router learns.
// Axis legend: B batch, T tokens, D width, S selected per sequence, N selected in all.
import { deriveSeed, tf, type Tensor3D } from '@moderoute/core';
import {
  combineRows,
  type MixtureOfDepthsPlan,
  type RouteOptions,
  type Router,
} from '@moderoute/routing';
import type { Block, BlockFlops, BlockForwardOptions, BlockOutput } from './Block.js';
import type { BlockDims, BlockParts } from './DenseBlock.js';
import { attentionCoreFlops, attentionProjectionFlops, mlpFlops, routerFlops } from './flops.js';
import { packSubsequence } from './subsequence.js';

/** Tokens a router takes per sequence of a given length, at the training capacity. */
export type CapacityOf = (seqLen: number) => number;

/**
 * RouteOptions from block options (absent fields stay absent) for the block's routing stage
 * `stage` (0, 1, ... in routing order): its rngSeed is deriveSeed(block's rngSeed, stage).
 */
export function routeOptions(
  options: BlockForwardOptions,
  mask = options.mask,
  stage = 0,
): RouteOptions {
  return {
    training: options.training,
    ...(mask ? { mask } : {}),
    ...(options.mode ? { mode: options.mode } : {}),
    ...(options.rngSeed !== undefined ? { rngSeed: deriveSeed(options.rngSeed, stage) } : {}),
  };
}

/** Requires a router of the given plan kind, naming the block that needs it. */
export function requireRouterKind(
  block: string,
  router: Router,
  kind: Router['kind'] | readonly Router['kind'][],
): void {
  const kinds = typeof kind === 'string' ? [kind] : kind;
  if (!kinds.includes(router.kind)) {
    throw new TypeError(
      `${block} needs a ${kinds.join(' or ')} router; "${router.className}" routes ${router.kind}`,
    );
  }
}

export class ModBlock implements Block {
  readonly kind = 'mod' as const;

  constructor(
    readonly parts: BlockParts,
    readonly router: Router<MixtureOfDepthsPlan>,
    readonly dims: BlockDims,
    /** Selected tokens per sequence at the training capacity (for the FLOP count). */
    readonly capacityOf: CapacityOf,
    /** Router FLOPs per token (2D for the scalar router, more with a predictor). */
    readonly routerFlopsPerToken: number = routerFlops(1, dims.width, 1),
  ) {
    requireRouterKind('A MoD block', router, 'mixture-of-depths');
  }

  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput {
    const plan = this.router.route(x, routeOptions(options));
    const output = tf.tidy(() => {
      if (plan.tokenIndex.shape[0] === 0) return tf.clone(x);
      const sub = packSubsequence(plan, x);
      // f on the subsequence, float32[B, S, D] -> per-assignment rows float32[N, D]
      const update = sub.unpack(this.parts.update(sub.x, sub.mask));
      // x + g(r) * f for selected tokens; exactly x elsewhere (combineRows leaves zeros).
      return tf.add(x, combineRows(plan, update)) as Tensor3D;
    });
    return { output, auxLosses: plan.auxLosses, routing: { mod: plan } };
  }

  flops(seqLen: number): BlockFlops {
    const { width, mlpHidden } = this.dims;
    const k = this.capacityOf(seqLen);
    const attention = attentionProjectionFlops(k, width) + attentionCoreFlops(k, width);
    const mlp = mlpFlops(k, width, mlpHidden);
    const router = seqLen * this.routerFlopsPerToken;
    return { attention, mlp, router, total: attention + mlp + router };
  }

  routers(): readonly Router[] {
    return [this.router];
  }
}
