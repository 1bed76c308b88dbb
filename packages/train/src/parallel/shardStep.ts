// One shard's share of a training step: the loss of a batch of rows and its gradients, by
// parameter name. The Trainer runs it on the whole batch (one replica); data-parallel training
// runs it on each replica's rows (DataParallel.ts, replicaWorker.ts) and combines the results.
// Axis legend: B batch, T tokens per sequence.
import { tf, type Tensor, type Tensor2D } from '@moderoute/core';
import { routerStatisticsOf, type LanguageModel, type ModelStatistics } from '@moderoute/model';
import type { RoutingPlan } from '@moderoute/routing';

/** Routing summary of one block over a step: what fraction of tokens its block computation saw. */
export interface BlockRoutingSummary {
  readonly block: number;
  readonly kind: string;
  /** Real tokens processed (MoD: selected; MoE: with at least one kept choice of a real expert). */
  readonly routedTokens: number;
  /** Real tokens of the step (routedFraction's denominator). */
  readonly realTokens: number;
  /** routedTokens / realTokens (1 for dense blocks). */
  readonly routedFraction: number;
  /** Tokens per expert (MoD: [selected]). */
  readonly load: readonly number[];
}

/**
 * Summarises the routing plans of one forward pass per block, from the plans' counts.
 * `realExperts[i]` is block i's number of real experts: assignments to later experts
 * (integrated MoDE's no-ops) do not count as processing a token.
 */
export function summariseRouting(
  routing: readonly Readonly<Record<string, RoutingPlan>>[],
  kinds: readonly string[],
  realExperts: readonly number[] = [],
): BlockRoutingSummary[] {
  return routing.map((plans, block) => {
    const outer = plans['mod'] ?? plans['experts'];
    if (outer === undefined)
      return {
        block,
        kind: kinds[block] ?? 'dense',
        routedTokens: 0,
        realTokens: 0,
        routedFraction: 1,
        load: [],
      };
    const { realTokens, load } = outer.counts;
    let routedTokens: number;
    if (outer.kind === 'mixture-of-depths') routedTokens = load[0] ?? 0;
    else {
      // Expert plans: tokens with at least one assignment to a real expert.
      const real = realExperts[block] ?? outer.numExperts;
      const experts = outer.expertIndex.dataSync();
      const processed = new Set<number>();
      outer.tokenIndex.dataSync().forEach((tok, n) => {
        if ((experts[n] as number) < real) processed.add(tok);
      });
      routedTokens = processed.size;
    }
    const kind = kinds[block] ?? outer.kind;
    const routedFraction = realTokens > 0 ? routedTokens / realTokens : 0;
    return { block, kind, routedTokens, realTokens, routedFraction, load };
  });
}

/** Merges the summaries of shards of one batch: counts added, fractions of the sums. */
export function mergeRoutingSummaries(
  parts: readonly (readonly BlockRoutingSummary[])[],
): BlockRoutingSummary[] {
  const first = parts[0] ?? [];
  return first.map((b, i) => {
    const sum = (f: (s: BlockRoutingSummary) => number) =>
      parts.reduce((s, p) => s + (p[i] ? f(p[i]) : 0), 0);
    const routedTokens = sum((s) => s.routedTokens);
    const realTokens = sum((s) => s.realTokens);
    return {
      block: b.block,
      kind: b.kind,
      routedTokens,
      realTokens,
      routedFraction: realTokens > 0 ? routedTokens / realTokens : b.routedFraction,
      load: b.load.map((_, e) => parts.reduce((s, p) => s + (p[i]?.load[e] ?? 0), 0)),
    };
  });
}

/** The scalars of a step's loss (host numbers). */
export interface LossValues {
  /** Next-token loss plus the routers' auxiliary losses: what the gradients are of. */
  readonly loss: number;
  readonly lmLoss: number;
  readonly auxLosses: Readonly<Record<string, number>>;
}

export interface ShardGradients extends LossValues {
  /**
   * Gradient of `loss` for the trainable parameters it reaches, by name, in the model's parameter
   * order (caller disposes).
   */
  readonly grads: Map<string, Tensor>;
  readonly routing: BlockRoutingSummary[];
  /**
   * The routers' statistics of the step (plan.statistics by router key), one entry per replica
   * in replica order: what the training step folds into the routers (foldRouterStatistics).
   */
  readonly statistics: readonly ModelStatistics[];
}

/** Which step of which run, and which replica: what keys the routing randomness. */
export interface StepKey {
  /** The training step (the number of updates applied before it). */
  readonly step: number;
  /** The run seed. */
  readonly seed: number;
  /** The replica computing these rows (0: the training thread). */
  readonly replica: number;
}

/**
 * The training-mode loss of `model` on `inputs` -> `targets` (int32 [B, T]) and its gradients
 * for the trainable parameters, with the routing randomness keyed by `key` (without it, the
 * routers' own seeds). Changes no state: the routers' statistics come back in `statistics`.
 */
export function shardGradients(
  model: LanguageModel,
  inputs: Tensor2D,
  targets: Tensor2D,
  key?: StepKey,
): ShardGradients {
  const kinds = model.config.blocks.map((b) => b.kind);
  const realExperts = model.config.blocks.map((b) => b.numExperts);
  const trainable = model.trainableParameters();
  let lm: Tensor | undefined;
  let aux: Record<string, Tensor> = {};
  let routing: BlockRoutingSummary[] = [];
  let statistics: ModelStatistics = {};
  const { value, grads } = tf.variableGrads(() => {
    const r = model.loss(inputs, targets, { training: true, ...key });
    statistics = routerStatisticsOf(model, r.routing);
    lm = tf.keep(r.lmLoss);
    aux = Object.fromEntries(Object.entries(r.auxLosses).map(([k, v]) => [k, tf.keep(v)]));
    routing = summariseRouting(r.routing, kinds, realExperts);
    return r.loss;
  }, [...trainable.values()]);
  try {
    return {
      loss: value.dataSync()[0] as number,
      lmLoss: lm!.dataSync()[0] as number,
      auxLosses: Object.fromEntries(
        Object.entries(aux).map(([k, v]) => [k, v.dataSync()[0] as number]),
      ),
      // In the model's parameter order (the grads object's own order puts numeric names first);
      // a parameter the loss does not reach has no gradient and no entry.
      grads: new Map(
        [...trainable].flatMap(([name, v]) =>
          grads[v.name] ? [[name, grads[v.name]!] as const] : [],
        ),
      ),
      routing,
      statistics: [statistics],
    };
  } finally {
    tf.dispose([value, lm!, ...Object.values(aux)]);
  }
}
