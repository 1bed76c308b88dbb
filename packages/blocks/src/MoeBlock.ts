// Mixture-of-Experts block (Shazeer et al. 2017; Fedus et al. 2021, section 2.1): attention on
// every token, then the MLP replaced by E expert MLPs behind a router (token-choice or
// expert-choice). With h = x + Attn(LN1(x)) and u = LN2(h):
//   out_t = h_t + sum over t's assignments n of w_n * Expert_{e_n}(u_t),
// and a token no expert took (dropped) gets exactly h_t. With shared experts (DeepSeekMoE, Dai et
// al. 2024, eq. 9) every token also gets sum_s Shared_s(u_t), outside the routing.
// Axis legend: B batch, T tokens, D width, N assignments, E experts.
import { tf, type Tensor3D } from '@moderoute/core';
import type { CapacityPolicy, ExpertRoutingPlan, Router, RoutingPlan } from '@moderoute/routing';
import type {
  Block,
  BlockDecodeOptions,
  BlockDecoder,
  BlockFlops,
  BlockForwardOptions,
  BlockOutput,
} from './Block.js';
import { expertDecoder } from './decoders/blockDecoders.js';
import type { BlockDims, BlockParts } from './DenseBlock.js';
import type { ExpertBank } from './ExpertBank.js';
import { expertUpdate, sharedUpdate } from './expertUpdate.js';
import {
  attentionCoreFlops,
  attentionProjectionFlops,
  expertAssignments,
  mlpFlops,
} from './flops.js';
import { requireRouterKind } from './ModBlock.js';
import { routeStage, type Stage } from './stages.js';

/** The plan kinds an expert router may return: token-choice and expert-choice. */
export const EXPERT_PLAN_KINDS = ['token-choice', 'expert-choice'] as const;

/**
 * A Mixture-of-Experts block: attention on every token, then each token's MLP from the experts its
 * router picks (optionally plus shared experts).
 */
export class MoeBlock implements Block {
  readonly kind: 'moe' | 'mode-integrated' = 'moe';
  protected readonly stage: Stage<ExpertRoutingPlan>;

  constructor(
    readonly parts: BlockParts,
    readonly router: Router<ExpertRoutingPlan>,
    readonly experts: ExpertBank,
    readonly dims: BlockDims & { readonly expertHidden: number },
    /** The block's expert capacity. */
    readonly capacity: CapacityPolicy,
    /** Shared experts every token goes through (none by default). */
    readonly shared?: ExpertBank,
  ) {
    requireRouterKind('A MoE or integrated MoDE block', router, EXPERT_PLAN_KINDS);
    this.stage = { key: 'experts', router, capacity };
  }

  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput {
    const h = this.parts.attend(x, options.mask);
    const u = this.parts.ln2.apply(h);
    const plan = routeStage(this.stage, u, options, { block: this.kind, stage: 'expertRouter' });
    const output = tf.tidy(() => {
      const routed = tf.add(h, expertUpdate(plan, u, this.experts)) as Tensor3D;
      return this.shared === undefined
        ? routed
        : (tf.add(routed, sharedUpdate(this.shared, u)) as Tensor3D);
    });
    return { output, auxLosses: plan.auxLosses, routing: { experts: plan } };
  }

  decoder(options: BlockDecodeOptions): BlockDecoder {
    return expertDecoder(this.kind, this.parts, this.stage, this.experts, this.shared, options);
  }

  flops(seqLen: number): BlockFlops {
    const { width, expertHidden } = this.dims;
    const attention = attentionProjectionFlops(seqLen, width) + attentionCoreFlops(seqLen, width);
    const assignments = expertAssignments(this.router, this.capacity, this.experts.size, seqLen);
    const mlp = mlpFlops(assignments + (this.shared?.size ?? 0) * seqLen, width, expertHidden);
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
