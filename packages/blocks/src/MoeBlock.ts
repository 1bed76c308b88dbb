// Mixture-of-Experts block (Shazeer et al. 2017; Fedus et al. 2021, section 2.1): attention on
// every token, then the MLP replaced by E expert MLPs behind a router (token-choice or
// expert-choice). With h = x + Attn(LN1(x)) and u = LN2(h):
//   out_t = h_t + sum over t's assignments n of w_n * Expert_{e_n}(u_t),
// and a token no expert took (dropped) gets exactly h_t. With shared experts (DeepSeekMoE, Dai et
// al. 2024, eq. 9) every token also gets sum_s Shared_s(u_t), outside the routing.
// Axis legend: B batch, T tokens, D width, N assignments, E experts.
import { tf, type Tensor2D, type Tensor3D } from '@moderoute/core';
import { combineRows, dispatchRows, type ExpertRoutingPlan, type Router } from '@moderoute/routing';
import type { Block, BlockFlops, BlockForwardOptions, BlockOutput } from './Block.js';
import type { BlockDims, BlockParts } from './DenseBlock.js';
import type { ExpertBank } from './ExpertBank.js';
import { attentionCoreFlops, attentionProjectionFlops, mlpFlops } from './flops.js';
import { requireRouterKind, routeOptions, type CapacityOf } from './ModBlock.js';

export const EXPERT_PLAN_KINDS = ['token-choice', 'expert-choice'] as const;

/**
 * Runs the expert rows of `plan` over `u` float32[B', T', D] and combines them:
 * float32[B', T', D] of weighted expert outputs, zero for tokens without an assignment. Only
 * assignments to experts 0..experts.size-1 run; later experts (integrated MoDE's no-ops) are
 * residual-only and contribute nothing.
 */
export function expertUpdate(plan: ExpertRoutingPlan, u: Tensor3D, experts: ExpertBank): Tensor3D {
  const counts = plan.expertCounts.slice(0, experts.size);
  const real = counts.reduce((a, c) => a + c, 0);
  const total = plan.tokenIndex.shape[0];
  if (real === 0) return tf.zerosLike(u);
  // Assignments are expert-major, so the real experts' rows come first.
  const restricted: ExpertRoutingPlan =
    real === total
      ? plan
      : {
          ...plan,
          tokenIndex: tf.slice(plan.tokenIndex, 0, real),
          combineWeights: tf.slice(plan.combineWeights, 0, real),
        };
  // Shape: [B', T', D] -> [N, D] -> experts -> [N, D] -> [B', T', D]
  const y: Tensor2D = experts.apply(dispatchRows(restricted, u), counts);
  return combineRows(restricted, y);
}

/** The shared experts' sum over every token: u float32[B, T, D] -> float32[B, T, D]. */
export function sharedUpdate(shared: ExpertBank, u: Tensor3D): Tensor3D {
  const [b, t, d] = u.shape;
  // Shape: [B, T, D] -> [B*T, D] -> [B, T, D]
  return tf.reshape(shared.applyAll(tf.reshape(u, [b * t, d]) as Tensor2D), [b, t, d]);
}

export class MoeBlock implements Block {
  readonly kind: 'moe' | 'mode-integrated' = 'moe';

  constructor(
    readonly parts: BlockParts,
    readonly router: Router<ExpertRoutingPlan>,
    readonly experts: ExpertBank,
    readonly dims: BlockDims & { readonly expertHidden: number },
    /** Expert assignments processed per sequence at the training capacity (FLOP count). */
    readonly assignmentsOf: CapacityOf,
    /** Router FLOPs per token (2 D E for a linear router). */
    readonly routerFlopsPerToken: number,
    /** Shared experts every token goes through (none by default). */
    readonly shared?: ExpertBank,
  ) {
    requireRouterKind('A MoE or integrated MoDE block', router, EXPERT_PLAN_KINDS);
  }

  forward(x: Tensor3D, options: BlockForwardOptions): BlockOutput {
    const h = this.parts.attend(x, options.mask);
    const u = this.parts.ln2.apply(h);
    const plan = this.router.route(u, routeOptions(options));
    const output = tf.tidy(() => {
      const routed = tf.add(h, expertUpdate(plan, u, this.experts)) as Tensor3D;
      return this.shared === undefined
        ? routed
        : (tf.add(routed, sharedUpdate(this.shared, u)) as Tensor3D);
    });
    return { output, auxLosses: plan.auxLosses, routing: { experts: plan } };
  }

  flops(seqLen: number): BlockFlops {
    const { width, expertHidden } = this.dims;
    const attention = attentionProjectionFlops(seqLen, width) + attentionCoreFlops(seqLen, width);
    const mlp = mlpFlops(
      this.assignmentsOf(seqLen) + (this.shared?.size ?? 0) * seqLen,
      width,
      expertHidden,
    );
    const router = seqLen * this.routerFlopsPerToken;
    return { attention, mlp, router, total: attention + mlp + router };
  }

  routers(): readonly Router[] {
    return [this.router];
  }
}
