// The incremental decoders of the built-in blocks (Block.decoder): the forward passes of
// DenseBlock, ModBlock, MoeBlock and the MoDE blocks over the next n tokens of one sequence, with
// the block's key/value cache, the same layers and primitives, and the routers' causal sessions
// (Raposo et al. 2024, section 3.5: each new token is decided without seeing later tokens; a
// token that skips a block leaves no key or value in that block's cache).
// Axis legend: n new tokens, D width, s tokens a Mixture-of-Depths stage selected among the n.
import { tf, type Tensor2D, type Tensor3D } from '@moderoute/core';
import type {
  CausalSession,
  ExpertRoutingPlan,
  MixtureOfDepthsPlan,
  RoutingPlan,
} from '@moderoute/routing';
import type { BlockDecodeOptions, BlockDecoder, BlockKind } from '../Block.js';
import type { BlockParts } from '../DenseBlock.js';
import type { ExpertBank } from '../ExpertBank.js';
import { expertUpdate } from '../expertUpdate.js';
import { DROPLESS, naming, stageCausalMode, type Stage, type StageName } from '../stages.js';
import { BlockDecodeState } from './kvCache.js';

/** Opens a stage's causal session (eagerly: a router without a causal form throws here). */
function sessions<P extends RoutingPlan>(
  stage: Stage<P>,
  name: StageName,
  options: BlockDecodeOptions,
): () => CausalSession<P> {
  const router = stage.router;
  const mode = stageCausalMode(router, options.mode, options.where, name);
  const capacity =
    options.expertCapacity === 'dropless' && router.kind !== 'mixture-of-depths'
      ? DROPLESS
      : stage.capacity;
  const open = () =>
    router.causal!({ mode, capacity, capacityLength: options.capacityLength }) as CausalSession<P>;
  naming(options.where, name, open);
  return open;
}

/** A decoder whose step may replace its sessions on reset. */
function decoder(
  kind: BlockKind,
  make: (state: BlockDecodeState) => { step(x: Tensor2D): Tensor2D; reset(): void },
): BlockDecoder {
  const state = new BlockDecodeState(kind);
  const inner = make(state);
  return {
    state,
    step: (x) => inner.step(x),
    reset() {
      state.reset();
      inner.reset();
    },
    dispose: () => state.dispose(),
  };
}

/** One sequence's rows as a batch of one: float32[n, D] -> float32[1, n, D]. */
function asBatch(x: Tensor2D): Tensor3D {
  return tf.reshape(x, [1, x.shape[0], x.shape[1]]) as Tensor3D;
}

/** The rows of x float32[n, D] a depth plan selected (x itself when it selected all). */
function selected(parts: BlockParts, x: Tensor2D, plan: MixtureOfDepthsPlan): Tensor2D {
  return plan.rowCounts[0] === x.shape[0] ? x : parts.ops.gatherRows(x, plan.tokenIndex);
}

/** x + g(r) f for the selected rows (f float32[s, D]), x elsewhere -> float32[n, D]. */
function addSelected(
  parts: BlockParts,
  x: Tensor2D,
  f: Tensor2D,
  plan: MixtureOfDepthsPlan,
): Tensor2D {
  const s = plan.rowCounts[0] as number;
  // Shape: [s, D] * [s, 1]
  const rows = tf.mul(f, tf.reshape(plan.combineWeights, [s, 1])) as Tensor2D;
  return tf.add(
    x,
    s === x.shape[0] ? rows : parts.ops.scatterAddRows(rows, plan.tokenIndex, x.shape[0]),
  ) as Tensor2D;
}

/**
 * The expert stage over u float32[n, D] with a plan over [1, n]: the weighted expert outputs
 * float32[n, D] (expertUpdate, as the forward pass), and how many tokens got a real expert.
 */
function expertStage(
  plan: ExpertRoutingPlan,
  u: Tensor2D,
  experts: ExpertBank,
): { update: Tensor2D; computed: number } {
  const real = plan.expertCounts.slice(0, experts.size).reduce((a, c) => a + c, 0);
  const tokens = new Set(plan.tokenIndex.dataSync().subarray(0, real));
  const update = tf.reshape(expertUpdate(plan, asBatch(u), experts), u.shape) as Tensor2D;
  return { update, computed: tokens.size };
}

export function denseDecoder(parts: BlockParts): BlockDecoder {
  return decoder('dense', (state) => ({
    step(x) {
      const n = x.shape[0];
      state.stats.seen += n;
      state.stats.attended += n;
      state.stats.computed += n;
      return tf.add(x, parts.decodeUpdate(x, state.attention)) as Tensor2D;
    },
    reset() {},
  }));
}

export function modDecoder(
  parts: BlockParts,
  depth: Stage<MixtureOfDepthsPlan>,
  options: BlockDecodeOptions,
): BlockDecoder {
  const open = sessions(depth, 'depthRouter', options);
  return decoder('mod', (state) => {
    let session = open();
    return {
      step(x) {
        state.stats.seen += x.shape[0];
        const plan = session.step(asBatch(x));
        const s = plan.rowCounts[0] as number;
        // A token that skips the block keeps x and writes nothing to the cache.
        if (s === 0) return x;
        state.stats.attended += s;
        state.stats.computed += s;
        const f = parts.decodeUpdate(selected(parts, x, plan), state.attention);
        return addSelected(parts, x, f, plan);
      },
      reset() {
        session = open();
      },
    };
  });
}

export function expertDecoder(
  kind: 'moe' | 'mode-integrated',
  parts: BlockParts,
  stage: Stage<ExpertRoutingPlan>,
  experts: ExpertBank,
  shared: ExpertBank | undefined,
  options: BlockDecodeOptions,
): BlockDecoder {
  const open = sessions(stage, 'expertRouter', options);
  return decoder(kind, (state) => {
    let session = open();
    return {
      step(x) {
        const n = x.shape[0];
        state.stats.seen += n;
        state.stats.attended += n;
        const h = tf.add(x, parts.decodeAttention(x, state.attention)) as Tensor2D;
        const u = parts.ln2.applyRows(h);
        const { update, computed } = expertStage(session.step(asBatch(u)), u, experts);
        state.stats.computed += computed;
        const out = tf.add(h, update) as Tensor2D;
        return shared === undefined ? out : (tf.add(out, shared.applyAll(u)) as Tensor2D);
      },
      reset() {
        session = open();
      },
    };
  });
}

export function stagedDecoder(
  parts: BlockParts,
  depth: Stage<MixtureOfDepthsPlan>,
  stage: Stage<ExpertRoutingPlan>,
  experts: ExpertBank,
  options: BlockDecodeOptions,
): BlockDecoder {
  const openDepth = sessions(depth, 'depthRouter', options);
  const openExperts = sessions(stage, 'expertRouter', options);
  return decoder('mode-staged', (state) => {
    let depthSession = openDepth();
    let expertSession = openExperts();
    return {
      step(x) {
        state.stats.seen += x.shape[0];
        const plan = depthSession.step(asBatch(x));
        const s = plan.rowCounts[0] as number;
        if (s === 0) return x;
        state.stats.attended += s;
        // Shape: [n, D] -> selected [s, D]
        const xs = selected(parts, x, plan);
        const a = parts.decodeAttention(xs, state.attention);
        const u = parts.ln2.applyRows(tf.add(xs, a) as Tensor2D);
        const { update, computed } = expertStage(expertSession.step(asBatch(u)), u, experts);
        state.stats.computed += computed;
        return addSelected(parts, x, tf.add(a, update) as Tensor2D, plan);
      },
      reset() {
        depthSession = openDepth();
        expertSession = openExperts();
      },
    };
  });
}
