// One decoding step of each block kind, over n new tokens of one sequence with the block's
// key/value cache: the incremental form of the blocks' forward passes under causal routing.
// Raposo et al. 2024, section 3.5: at sampling time a routed block decides for each new token
// without seeing later tokens (threshold on the router logit, or the predictor), never by top-k
// over the step; a token that skips a block leaves no key or value in that block's cache.
// Axis legend: n new tokens, D width, E experts (real, then integrated MoDE's no-ops), K
// experts per token, s tokens a MoD stage selected among the n.
import {
  ConfigError,
  gatherRows,
  gelu,
  layerNorm,
  linear,
  scatterAddRows,
  tf,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import type {
  Block,
  BlockParts,
  ExpertBank,
  LayerNormLayer,
  IntegratedModeBlock,
  ModBlock,
  MoeBlock,
  StagedModeBlock,
} from '@moderoute/blocks';
import { MlpLayer } from '@moderoute/blocks';
import {
  CapacityPolicy,
  MixtureOfDepthsRouter,
  PREDICTOR_HINT,
  TokenChoiceRouter,
  type ExpertRoutingPlan,
  type MixtureOfDepthsPlan,
  type Router,
} from '@moderoute/routing';
import { affine, attendCached, layerNormRow } from './cachedAttention.js';
import { BlockDecodeState } from './kvCache.js';

/** The causal decision rules of Mixture-of-Depths routers (section 3.5). */
export type CausalDecisionMode = 'threshold' | 'predictor';
export const CAUSAL_DECISION_MODES: readonly CausalDecisionMode[] = ['threshold', 'predictor'];

/**
 * How token-choice capacity applies while decoding: 'router' (the router's own capacity policy,
 * evaluated for a sequence of `capacityLength` tokens, with running per-expert loads, so a token
 * is dropped exactly when the full-sequence forward of that length drops it), or 'dropless'
 * (every token keeps its top-K experts).
 */
export type ExpertCapacityMode = 'router' | 'dropless';

export interface DecodeOptions {
  /**
   * Decision rule of every Mixture-of-Depths router. Default: each router's configured
   * `causalMode` ('threshold', r > tau, for routers trained with 'none' too, where tau is 0).
   * 'top-k' is refused: over a decoding step it would route every token.
   */
  readonly mode?: CausalDecisionMode;
  /** Token-choice capacity while decoding (default 'router'). */
  readonly expertCapacity?: ExpertCapacityMode;
  /** Sequence length at which 'router' capacity is evaluated (default: the model's contextLength). */
  readonly capacityLength?: number;
}

export interface ResolvedDecodeOptions {
  readonly mode: CausalDecisionMode | undefined;
  readonly expertCapacity: ExpertCapacityMode;
  readonly capacityLength: number;
}

/** A block's incremental step: x float32[n, D] of new tokens -> the block's output float32[n, D]. */
export interface BlockDecoder {
  readonly state: BlockDecodeState;
  /** Call inside tf.tidy; updates the cache and the loads. */
  step(x: Tensor2D): Tensor2D;
}

interface DepthRule {
  readonly router: Router<MixtureOfDepthsPlan>;
  readonly mode: CausalDecisionMode;
  /** The rule's cut, read once per decoder: r > tau (threshold) or logit > cut (predictor). */
  readonly tau: number;
}

interface ExpertRule {
  readonly router: Router<ExpertRoutingPlan>;
  readonly experts: ExpertBank;
  /** Experts the router chooses among (real plus no-op). */
  readonly numExperts: number;
  readonly topK: number;
  /** How a token's weights are normalized (TokenChoiceRouterConfig.renormalize). */
  readonly renormalize: 'none' | 'before-drops' | 'after-drops';
  /** Factor on every weight (TokenChoiceRouterConfig.routedScale). */
  readonly routedScale: number;
  /** Per-expert capacity for the whole sequence; Infinity when dropless. */
  readonly capacity: number;
}

function depthRule(
  router: Router<MixtureOfDepthsPlan>,
  where: string,
  options: ResolvedDecodeOptions,
): DepthRule {
  const configured = router.getConfig()['causalMode'];
  const cutOf = (mode: CausalDecisionMode) =>
    router instanceof MixtureOfDepthsRouter
      ? mode === 'predictor'
        ? router.predictorCutValue()
        : router.thresholdValue()
      : 0;
  if (options.mode === undefined) {
    const mode = configured === 'predictor' ? 'predictor' : 'threshold';
    return { router, mode, tau: cutOf(mode) };
  }
  if (options.mode === 'predictor' && configured !== undefined && configured !== 'predictor') {
    throw new ConfigError(
      'mode',
      options.mode,
      `a decision rule ${where}'s router was trained for: its causalMode is ${JSON.stringify(configured)}, so it has no predictor: ${PREDICTOR_HINT}`,
    );
  }
  return { router, mode: options.mode, tau: cutOf(options.mode) };
}

function expertRule(
  router: Router<ExpertRoutingPlan>,
  experts: ExpertBank,
  where: string,
  options: ResolvedDecodeOptions,
): ExpertRule {
  if (router.kind !== 'token-choice') {
    throw new ConfigError(
      `${where}.expertRouter`,
      router.className,
      "a token-choice router for causal decoding: expert-choice routing lets each expert pick its top-C tokens of the whole sequence, so a token's experts depend on later tokens (Zhou et al. 2022); train with token-choice routing (top-1 with position priority, or dropless) to sample",
    );
  }
  const config = router.getConfig();
  const numExperts = typeof config['numExperts'] === 'number' ? config['numExperts'] : experts.size;
  const topK = typeof config['topK'] === 'number' ? config['topK'] : 1;
  const renormalize =
    config['renormalize'] === true
      ? 'before-drops'
      : config['renormalize'] === 'before-drops' || config['renormalize'] === 'after-drops'
        ? config['renormalize']
        : 'none';
  const routedScale = typeof config['routedScale'] === 'number' ? config['routedScale'] : 1;
  const base = { router, experts, numExperts, topK, renormalize, routedScale } as const;
  if (options.expertCapacity === 'dropless') return { ...base, capacity: Infinity };
  const policy = (router as unknown as { capacity?: unknown }).capacity;
  if (!(policy instanceof CapacityPolicy)) {
    throw new ConfigError(
      `${where}.expertRouter`,
      router.className,
      "a router exposing its CapacityPolicy as `capacity`, or decoding with expertCapacity: 'dropless'",
    );
  }
  if (policy.config.dropless) return { ...base, capacity: Infinity };
  // With a finite capacity, a token's assignment must depend on earlier tokens only: choices
  // placed token by token in position order (top-1, or token-major placement; rank-major places
  // every top-1 choice of the sequence before any top-2).
  if (topK !== 1 && config['placement'] !== 'token-major') {
    throw new ConfigError(
      `${where}.expertRouter.topK`,
      topK,
      "1 for causal decoding with a finite capacity and rank-major placement (top-2 choices are placed after every top-1 choice of the sequence); use placement 'token-major', a dropless router or expertCapacity: 'dropless'",
    );
  }
  if (config['priority'] !== undefined && config['priority'] !== 'position') {
    throw new ConfigError(
      `${where}.expertRouter.priority`,
      config['priority'],
      "'position' for causal decoding with a finite capacity ('score' and 'probs' priorities rank a token against later ones); use a dropless router or expertCapacity: 'dropless'",
    );
  }
  const n = options.capacityLength;
  return {
    ...base,
    capacity: Math.min(policy.capacity({ groupSize: n, numExperts, topK, training: false }), n),
  };
}

/** Which of the n tokens a MoD stage sends through its block, and their combine weights g(r) float32[s]. */
interface DepthDecision {
  readonly count: number;
  /** int32[s] selected token indices, ascending; undefined when every token (s = n) or none is selected. */
  readonly tokenIndex: Tensor1D | undefined;
  readonly weights: Tensor1D | undefined;
}

/** The predictor MLP's variables of the built-in router, or undefined. */
function predictorOf(
  router: MixtureOfDepthsRouter,
): { w1: Variable; b1: Variable; w2: Variable; b2: Variable } | undefined {
  const v = router.namedVariables();
  const [w1, b1, w2, b2] = [
    v['predictor.w1'],
    v['predictor.b1'],
    v['predictor.w2'],
    v['predictor.b2'],
  ];
  return w1 && b1 && w2 && b2 ? { w1, b1, w2, b2 } : undefined;
}

function gateOf(router: MixtureOfDepthsRouter, r: Tensor1D): Tensor1D {
  const gate = router.config.gate;
  return gate === 'identity' ? r : gate === 'sigmoid' ? tf.sigmoid(r) : tf.tanh(r);
}

/**
 * The MoD stage: which of the n tokens go through the block, and their combine weights g(r).
 * For the built-in router this computes the rule directly with the ops its route() uses for the
 * decision (threshold: r = x w against tau; predictor: logit = gelu(x W1 + b1) w2 + b2, then r for the
 * selected tokens only), reading the n decision values back once, without the top-k selection,
 * losses and metrics a decoding step does not use; when no token is selected it creates no
 * tensor. Any other router goes through route() with the causal mode.
 */
function decideDepth(rule: DepthRule, x: Tensor2D): DepthDecision {
  const [n, d] = x.shape;
  const router = rule.router;
  const predictor =
    router instanceof MixtureOfDepthsRouter && rule.mode === 'predictor'
      ? predictorOf(router)
      : undefined;
  if (
    router instanceof MixtureOfDepthsRouter &&
    (rule.mode === 'threshold' || predictor !== undefined)
  ) {
    const w = router.weight as unknown as Tensor2D;
    // Shape: [n, D] x [D, 1] -> [n, 1] -> [n]
    let r: Tensor1D | undefined;
    let decision: Tensor1D;
    if (predictor === undefined) {
      r = tf.reshape(linear(x, w), [n]) as Tensor1D;
      decision = r;
    } else {
      // Shape: [n, D] -> [n, H] -> [n, 1] -> [n]
      const hidden = gelu(
        linear(x, predictor.w1 as unknown as Tensor2D, predictor.b1 as unknown as Tensor1D),
      );
      decision = tf.reshape(
        linear(hidden, predictor.w2 as unknown as Tensor2D, predictor.b2 as unknown as Tensor1D),
        [n],
      ) as Tensor1D;
    }
    const host = decision.dataSync();
    // Threshold: r > tau; predictor: logit > its cut.
    const selected: number[] = [];
    for (let i = 0; i < n; i++) if ((host[i] as number) > rule.tau) selected.push(i);
    const count = selected.length;
    if (count === 0) return { count, tokenIndex: undefined, weights: undefined };
    if (count === n)
      return {
        count,
        tokenIndex: undefined,
        weights: gateOf(router, r ?? (tf.reshape(linear(x, w), [n]) as Tensor1D)),
      };
    const tokenIndex = tf.tensor1d(Int32Array.from(selected), 'int32') as Tensor1D;
    // Shape: [n] -> [s], or [s, D] x [D, 1] -> [s]
    const rs =
      r !== undefined
        ? gatherRows(r, tokenIndex)
        : (tf.reshape(linear(gatherRows(x, tokenIndex), w), [count]) as Tensor1D);
    return { count, tokenIndex, weights: gateOf(router, rs) };
  }
  // Shape: [n, D] -> [1, n, D]; one sequence, every token real.
  const plan = rule.router.route(tf.reshape(x, [1, n, d]) as Tensor3D, { mode: rule.mode });
  return {
    count: plan.tokenIndex.shape[0],
    tokenIndex: plan.tokenIndex,
    weights: plan.combineWeights,
  };
}

/** Rows of x float32[n, D] a decision selected: x itself when it selected every token. */
function selectRows(x: Tensor2D, decision: DepthDecision): Tensor2D {
  return decision.tokenIndex === undefined ? x : gatherRows(x, decision.tokenIndex);
}

/** x + the selected rows' update f float32[s, D] weighted by g(r), scattered back to float32[n, D]. */
function addSelected(x: Tensor2D, f: Tensor2D, decision: DepthDecision): Tensor2D {
  // Shape: [s, D] * [s, 1]
  const rows = tf.mul(f, tf.reshape(decision.weights as Tensor1D, [decision.count, 1])) as Tensor2D;
  return tf.add(
    x,
    decision.tokenIndex === undefined
      ? rows
      : scatterAddRows(rows, decision.tokenIndex, x.shape[0]),
  ) as Tensor2D;
}

/** The primitives a layer computes with (core's defaults unless a container rebinds them). */
function opsOf(layer: LayerNormLayer | MlpLayer): {
  layerNorm?: unknown;
  linear?: unknown;
  gelu?: unknown;
} {
  return (
    (layer as unknown as { ops?: { layerNorm?: unknown; linear?: unknown; gelu?: unknown } }).ops ??
    {}
  );
}

/**
 * Layer norm of the new tokens: one row (a decoding step) in fewer kernels (layerNormRow) when
 * the layer uses core's layer norm; otherwise the layer's own.
 */
function norm(ln: LayerNormLayer, x: Tensor2D): Tensor2D {
  return x.shape[0] === 1 && opsOf(ln).layerNorm === layerNorm
    ? layerNormRow(x, ln.gamma as unknown as Tensor1D, ln.beta as unknown as Tensor1D)
    : ln.apply(x);
}

/** The MLP gelu(x W1 + b1) W2 + b2 with fused products when the layer uses core's linear and gelu; otherwise the layer's own. */
function mlp(layer: BlockParts['mlp'] & object, x: Tensor2D): Tensor2D {
  if (!(layer instanceof MlpLayer) || opsOf(layer).linear !== linear || opsOf(layer).gelu !== gelu)
    return layer.apply(x);
  return affine(
    gelu(affine(x, layer.w1 as unknown as Tensor2D, layer.b1 as unknown as Tensor1D)),
    layer.w2 as unknown as Tensor2D,
    layer.b2 as unknown as Tensor1D,
  );
}

/**
 * Token-choice expert stage over u float32[n, D]: sum over each token's kept assignments of
 * w * Expert_e(u) -> float32[n, D] (zero for tokens with no real expert). Capacity is applied
 * with the block's running loads, token by token in position order.
 */
/**
 * Each token's top-K experts (best first, ties to the lower expert) and the router
 * probabilities float32[n * E], host arrays. The built-in router's are computed directly
 * (softmax(u W), as its route() does in evaluation, without capacity, losses and metrics);
 * others come from route()'s plan.
 */
function tokenChoices(
  rule: ExpertRule,
  u: Tensor2D,
): { choices: ArrayLike<number>; probs: ArrayLike<number>; k: number; e: number } {
  const [n, d] = u.shape;
  const router = rule.router;
  if (router instanceof TokenChoiceRouter) {
    const { choices, scores } = router.chooseTokens(u);
    return { choices, probs: scores, k: router.config.topK, e: router.config.numExperts };
  }
  // Shape: [n, D] -> [1, n, D]
  const plan = router.route(tf.reshape(u, [1, n, d]) as Tensor3D, {});
  if (plan.kind !== 'token-choice' || plan.routerProbs === undefined) {
    throw new ConfigError(
      'expertRouter',
      router.className,
      'a token-choice router whose plans carry choices and routerProbs',
    );
  }
  return {
    choices: plan.choices.dataSync(),
    probs: plan.routerProbs.dataSync(),
    k: plan.topK,
    e: plan.numExperts,
  };
}

function expertStage(
  rule: ExpertRule,
  state: BlockDecodeState,
  u: Tensor2D,
): { update: Tensor2D; computed: number } {
  const [n, d] = u.shape;
  const { choices, probs, k, e } = tokenChoices(rule, u);
  const real = rule.experts.size;
  const byExpert: { token: number; weight: number }[][] = Array.from({ length: real }, () => []);
  const tokensWithExpert = new Set<number>();
  for (let t = 0; t < n; t++) {
    // Token by token, each in its choice order: the token-major placement (with top-1, or with
    // a dropless capacity, the same as rank-major).
    const kept: number[] = [];
    for (let r = 0; r < k; r++) {
      const ex = choices[t * k + r] as number;
      if ((state.expertLoads[ex] as number) >= rule.capacity) continue;
      state.expertLoads[ex] = (state.expertLoads[ex] as number) + 1;
      kept.push(ex);
    }
    const normOver =
      rule.renormalize === 'before-drops'
        ? Array.from({ length: k }, (_, r) => choices[t * k + r] as number)
        : kept;
    const norm =
      rule.renormalize === 'none'
        ? 1
        : Math.max(
            normOver.reduce((sum, ex) => sum + (probs[t * e + ex] as number), 0),
            1.1920929e-7,
          );
    for (const ex of kept) {
      if (ex >= real) continue; // a no-op expert (integrated MoDE): the residual path
      byExpert[ex]!.push({
        token: t,
        weight: (rule.routedScale * (probs[t * e + ex] as number)) / norm,
      });
      tokensWithExpert.add(t);
    }
  }
  const rows = byExpert.flat();
  if (rows.length === 0) return { update: tf.zeros([n, d]), computed: 0 };
  const tokenIndex = tf.tensor1d(
    Int32Array.from(rows, (r) => r.token),
    'int32',
  ) as Tensor1D;
  // Shape: [n, D] -> expert-major rows [N, D] -> experts -> [N, D], weighted by [N, 1]
  const y = rule.experts.apply(
    gatherRows(u, tokenIndex),
    byExpert.map((list) => list.length),
  );
  const weighted = tf.mul(
    y,
    tf.tensor2d(
      Float32Array.from(rows, (r) => r.weight),
      [rows.length, 1],
    ),
  );
  // Shape: scatter-add [N, D] -> [n, D]
  return {
    update: scatterAddRows(weighted as Tensor2D, tokenIndex, n),
    computed: tokensWithExpert.size,
  };
}

/** Attention over the cache, then the dense MLP: the residual update f(x) of BlockParts.update. */
function denseUpdate(parts: BlockParts, state: BlockDecodeState, x: Tensor2D): Tensor2D {
  const a = attendCached(parts.attention, norm(parts.ln1, x), state.attention);
  if (parts.mlp === undefined) return a;
  return tf.add(a, mlp(parts.mlp, norm(parts.ln2, tf.add(x, a) as Tensor2D))) as Tensor2D;
}

/**
 * The incremental decoder of a model's block `index`. Throws a ConfigError for routing that has
 * no causal form (expert-choice, top-K > 1 or score priority with a finite capacity).
 */
export function blockDecoder(
  block: Block,
  index: number,
  options: ResolvedDecodeOptions,
): BlockDecoder {
  const where = `blocks[${index}]`;
  switch (block.kind) {
    case 'dense': {
      const { parts } = block as unknown as { parts: BlockParts };
      const state = new BlockDecodeState('dense', 0);
      return {
        state,
        step(x) {
          const n = x.shape[0];
          state.stats.seen += n;
          state.stats.attended += n;
          state.stats.computed += n;
          return tf.add(x, denseUpdate(parts, state, x)) as Tensor2D;
        },
      };
    }
    case 'mod': {
      const mod = block as ModBlock;
      const rule = depthRule(mod.router, where, options);
      const state = new BlockDecodeState('mod', 0);
      return {
        state,
        step(x) {
          const n = x.shape[0];
          state.stats.seen += n;
          const decision = decideDepth(rule, x);
          // A token that skips the block keeps x and writes nothing to the cache.
          if (decision.count === 0) return x;
          state.stats.attended += decision.count;
          state.stats.computed += decision.count;
          // Shape: [n, D] -> selected [s, D]; f on them; weighted rows scattered back to [n, D]
          return addSelected(x, denseUpdate(mod.parts, state, selectRows(x, decision)), decision);
        },
      };
    }
    case 'moe':
    case 'mode-integrated': {
      const routed = block as MoeBlock | IntegratedModeBlock;
      const rule = expertRule(routed.router, routed.experts, where, options);
      const state = new BlockDecodeState(block.kind, rule.numExperts);
      return {
        state,
        step(x) {
          const n = x.shape[0];
          state.stats.seen += n;
          state.stats.attended += n;
          const h = tf.add(
            x,
            attendCached(routed.parts.attention, norm(routed.parts.ln1, x), state.attention),
          ) as Tensor2D;
          const u = norm(routed.parts.ln2, h);
          const { update, computed } = expertStage(rule, state, u);
          state.stats.computed += computed;
          const out = tf.add(h, update) as Tensor2D;
          return routed.shared === undefined
            ? out
            : (tf.add(out, routed.shared.applyAll(u)) as Tensor2D);
        },
      };
    }
    case 'mode-staged': {
      const staged = block as StagedModeBlock;
      const depth = depthRule(staged.depthRouter, where, options);
      const experts = expertRule(staged.expertRouter, staged.experts, where, options);
      const state = new BlockDecodeState('mode-staged', experts.numExperts);
      return {
        state,
        step(x) {
          const n = x.shape[0];
          state.stats.seen += n;
          const decision = decideDepth(depth, x);
          if (decision.count === 0) return x;
          state.stats.attended += decision.count;
          // Shape: [n, D] -> selected [s, D]
          const xs = selectRows(x, decision);
          const a = attendCached(
            staged.parts.attention,
            norm(staged.parts.ln1, xs),
            state.attention,
          );
          const { update, computed } = expertStage(
            experts,
            state,
            norm(staged.parts.ln2, tf.add(xs, a) as Tensor2D),
          );
          state.stats.computed += computed;
          return addSelected(x, tf.add(a, update) as Tensor2D, decision);
        },
      };
    }
    default: {
      const kind: never = block.kind;
      throw new ConfigError(
        `${where}.kind`,
        kind,
        'a block kind with a decoder (dense, mod, moe, mode-staged, mode-integrated)',
      );
    }
  }
}
