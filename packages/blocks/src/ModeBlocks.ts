// Mixture-of-Depths-and-Experts blocks (Raposo et al. 2024, section 3.6, figure 7).
// Axis legend: B batch, T tokens, D width, S selected per sequence, N assignments, E experts.
import { tf, type Scalar, type Tensor3D } from '@moderoute/core';
import {
  addCombinedRows,
  type CapacityPolicy,
  type ExpertRoutingPlan,
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
import { stagedDecoder } from './decoders/blockDecoders.js';
import type { BlockDims, BlockParts } from './DenseBlock.js';
import type { ExpertBank } from './ExpertBank.js';
import { expertUpdate } from './expertUpdate.js';
import {
  attentionCoreFlops,
  attentionProjectionFlops,
  depthTokens,
  expertAssignments,
  mlpFlops,
} from './flops.js';
import { requireRouterKind } from './ModBlock.js';
import { EXPERT_PLAN_KINDS, MoeBlock } from './MoeBlock.js';
import { routeStage, type Stage } from './stages.js';
import { packSubsequence } from './subsequence.js';

/** Prefixes loss names by stage: {mod.causalBce, experts.loadBalancing, ...}. */
function prefixed(
  prefix: string,
  losses: Readonly<Record<string, Scalar>>,
): Record<string, Scalar> {
  return Object.fromEntries(Object.entries(losses).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/**
 * Staged MoDE: MoD routing first (a token may skip the whole block), then MoE routing among the
 * selected tokens. With a = Attn(LN1(X~)) on the selected subsequence X~, h~ = X~ + a and
 * m = MoE(LN2(h~)), a selected token gets out_i = x_i + g(r_i) * (a_i + m_i); others keep x_i.
 * Under a causal rule both stages decide per sequence (their causal sessions), so a sequence's
 * outputs do not depend on the other sequences of its batch.
 */
export class StagedModeBlock implements Block {
  readonly kind = 'mode-staged' as const;
  private readonly depth: Stage<MixtureOfDepthsPlan>;
  private readonly expertStage: Stage<ExpertRoutingPlan>;

  constructor(
    readonly parts: BlockParts,
    readonly depthRouter: Router<MixtureOfDepthsPlan>,
    readonly expertRouter: Router<ExpertRoutingPlan>,
    readonly experts: ExpertBank,
    readonly dims: BlockDims & { readonly expertHidden: number },
    /** The depth stage's capacity (tokens selected per sequence). */
    readonly depthCapacity: CapacityPolicy,
    /** The expert stage's capacity, over the selected tokens of a sequence. */
    readonly expertCapacity: CapacityPolicy,
  ) {
    requireRouterKind('A staged MoDE block (depth stage)', depthRouter, 'mixture-of-depths');
    requireRouterKind('A staged MoDE block (expert stage)', expertRouter, EXPERT_PLAN_KINDS);
    this.depth = { key: 'mod', router: depthRouter, capacity: depthCapacity };
    this.expertStage = { key: 'experts', router: expertRouter, capacity: expertCapacity };
  }

  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput {
    const block = this.kind;
    const depthPlan = routeStage(this.depth, x, options, { block, stage: 'depthRouter' });
    if (depthPlan.tokenIndex.shape[0] === 0) {
      return {
        output: tf.clone(x),
        auxLosses: prefixed('mod', depthPlan.auxLosses),
        routing: { mod: depthPlan },
      };
    }
    const sub = packSubsequence(depthPlan, x);
    const a = this.parts.attention.apply(this.parts.ln1.apply(sub.x), sub.mask);
    const u = this.parts.ln2.apply(tf.add(sub.x, a) as Tensor3D);
    // The expert stage over the selected subsequence; padded slots are never routed.
    // The subsequence's own mask (none when every sequence selected as many tokens): never the
    // batch's [B, T] mask, which describes the unpacked tokens.
    const { mask: _unpacked, ...rest } = options;
    const expertPlan = routeStage(
      this.expertStage,
      u,
      sub.mask === undefined ? rest : { ...rest, mask: sub.mask },
      { block, stage: 'expertRouter' },
    );
    const output = tf.tidy(() => {
      const update = tf.add(a, expertUpdate(expertPlan, u, this.experts)) as Tensor3D;
      return addCombinedRows(x, depthPlan, sub.unpack(update));
    });
    return {
      output,
      auxLosses: {
        ...prefixed('mod', depthPlan.auxLosses),
        ...prefixed('experts', expertPlan.auxLosses),
      },
      routing: { mod: depthPlan, experts: expertPlan },
    };
  }

  decoder(options: BlockDecodeOptions): BlockDecoder {
    return stagedDecoder(this.parts, this.depth, this.expertStage, this.experts, options);
  }

  flops(seqLen: number): BlockFlops {
    const { width, expertHidden } = this.dims;
    const k = depthTokens(this.depthCapacity, seqLen);
    const attention = attentionProjectionFlops(k, width) + attentionCoreFlops(k, width);
    const assignments = expertAssignments(
      this.expertRouter,
      this.expertCapacity,
      this.experts.size,
      k,
    );
    const mlp = mlpFlops(assignments, width, expertHidden);
    const router =
      seqLen * this.depthRouter.describe().flopsPerToken +
      k * this.expertRouter.describe().flopsPerToken;
    return { attention, mlp, router, total: attention + mlp + router };
  }

  stages(): readonly Stage<RoutingPlan>[] {
    return [this.depth, this.expertStage];
  }

  routers(): readonly Router[] {
    return [this.depthRouter, this.expertRouter];
  }
}

/**
 * Integrated MoDE: attention on every token; one router over E expert MLPs plus N no-op experts.
 * A token whose assignment is a no-op takes the residual path: out_t = h_t + (expert outputs of
 * its real assignments only). The no-op experts have the same capacity as the real ones, so the
 * block's capacity, with numExperts = E + N, states the no-op capacity explicitly. Computed as a
 * MoE block whose router has N more outputs than it has experts (expertUpdate runs only the real
 * experts' assignments).
 */
export class IntegratedModeBlock extends MoeBlock {
  override readonly kind = 'mode-integrated' as const;

  constructor(
    parts: BlockParts,
    router: Router<ExpertRoutingPlan>,
    experts: ExpertBank,
    readonly numNoopExperts: number,
    dims: BlockDims & { readonly expertHidden: number },
    capacity: CapacityPolicy,
  ) {
    super(parts, router, experts, dims, capacity);
  }
}
