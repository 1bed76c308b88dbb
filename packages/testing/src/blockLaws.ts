// The law suite every decoder block runs, routed or dense, built-in or assembled from plugins:
// output shape equals input shape, tokens a routed block did not process pass through unchanged,
// gradients reach every router, deterministic, no leaked tensors; and the causal laws
// (causalLaws.ts): decoding equals the forward pass under the same causal rule, and a sequence's
// outputs do not depend on the other sequences of its batch.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  tf,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor3D,
  type Variable,
} from '@moderoute/core';
import { expectClose } from './assertions.js';
import { forEachBackend, type TEST_BACKENDS } from './backends.js';
import { runs } from './arbitraries.js';
import { randomTensor } from './gradcheck.js';
import {
  causalLaws,
  expectDecoderLeakFree,
  type CausalLawBlock,
  type LawCausalMode,
} from './causalLaws.js';

/** The structural surface of a block the laws need (matches @moderoute/blocks' Block). */
export interface LawBlock extends CausalLawBlock {
  /** The block's forward pass, as the laws call it. */
  forward(
    x: Tensor3D,
    options: {
      training: boolean;
      mask?: Tensor;
      mode?: 'top-k' | LawCausalMode;
      capacityLength?: number;
    },
  ): {
    output: Tensor3D;
    auxLosses: Readonly<Record<string, Scalar>>;
    routing?: Readonly<
      Record<
        string,
        {
          readonly kind: string;
          readonly tokenIndex: Tensor1D;
          readonly batchSize: number;
          readonly seqLen: number;
        }
      >
    >;
  };
}

/** What a block law case is made of: the block, its parameters (by name) and its disposal. */
export interface LawBlockCase {
  readonly block: LawBlock;
  /**
   * The block's parameter store: its routers' variables are the trainable ones named
   * `...routers.<r>.<name>` (ParameterScope; without a store, the gradient law is skipped).
   */
  readonly store?: {
    /** Every parameter of the block by its full name. */
    named(): ReadonlyMap<string, Variable>;
  };
  /** Frees the case's block and parameters. */
  dispose(): void;
}

/** The trainable variables of each router of a case, by router prefix `...routers.<r>`. */
function routerVariables(made: LawBlockCase): Map<string, Variable[]> {
  const byRouter = new Map<string, Variable[]>();
  for (const [name, v] of made.store?.named() ?? []) {
    const router = /^(.*\.routers\.\d+)\./.exec(name)?.[1];
    if (router === undefined || !v.trainable) continue;
    byRouter.set(router, [...(byRouter.get(router) ?? []), v]);
  }
  return byRouter;
}

/** The batch and sequence sizes a block law runs at. */
export interface BlockLawCase {
  readonly batch: number;
  readonly seqLen: number;
}

/**
 * Options of `blockLaws`: width, backends, runs, and what the block kind promises (pass-through,
 * causal rules, per-sequence routing).
 */
export interface BlockLawOptions {
  /** Model width the factory builds blocks for. */
  readonly width: number;
  /** Backends to run on (default cpu and wasm). */
  readonly backends?: typeof TEST_BACKENDS;
  /**
   * Whether tokens absent from every plan's tokenIndex must pass through unchanged (routed blocks
   * whose routing wraps the whole block: MoD, staged MoDE).
   */
  readonly unprocessedPassThrough?: boolean;
  /** Property runs per law (default 4). */
  readonly numRuns?: number;
  /**
   * The causal rules the block decodes with ('threshold' or 'predictor' for Mixture-of-Depths
   * stages, 'causal' for expert stages only; default none: a block whose routing has no causal
   * form). Decoding token by token must equal the forward pass under each.
   */
  readonly causalModes?: readonly LawCausalMode[];
  /**
   * Whether capacity groups are per sequence (default true): in evaluation a sequence's outputs
   * must then not depend on the other sequences of its batch. Batch-wide groups set false.
   */
  readonly perSequence?: boolean;
}

/** Flat tokens (b * T + t) that appear in any of a block output's plans of the given kinds. */
function routedTokens(
  routing: NonNullable<ReturnType<LawBlock['forward']>['routing']>,
  stage: string,
): Set<number> {
  const plan = routing[stage];
  return new Set(plan ? Array.from(plan.tokenIndex.dataSync()) : []);
}

/** Declares the block laws for `makeBlock` (a fresh block per call; the suite disposes nothing it did not make). */
export function blockLaws(
  name: string,
  makeBlock: () => LawBlockCase,
  options: BlockLawOptions,
): void {
  const { width, numRuns = 4 } = options;
  const cases = fc.record({
    batch: fc.integer({ min: 1, max: 3 }),
    seqLen: fc.integer({ min: 1, max: 12 }),
    seed: fc.nat(1e6),
  });

  describe(`${name} (block laws)`, () => {
    forEachBackend(() => {
      let made: LawBlockCase;
      before(() => {
        made = makeBlock();
      });
      after(() => made.dispose());

      it('should return the input shape, finite, deterministically', () => {
        fc.assert(
          fc.property(cases, ({ batch, seqLen, seed }) => {
            tf.tidy(() => {
              const x = randomTensor([batch, seqLen, width], seed) as Tensor3D;
              const a = made.block.forward(x, { training: false });
              const b = made.block.forward(x, { training: false });
              assert.deepEqual(a.output.shape, [batch, seqLen, width]);
              assert.ok(
                Number.isFinite(tf.sum(tf.abs(a.output)).dataSync()[0] as number),
                'output is not finite',
              );
              expectClose(b.output, a.output, { rtol: 0, atol: 0 }, 'second forward');
            });
          }),
          runs(numRuns),
        );
      });

      if (options.unprocessedPassThrough) {
        it('should pass tokens it did not process through unchanged', () => {
          fc.assert(
            fc.property(cases, ({ batch, seqLen, seed }) => {
              tf.tidy(() => {
                const x = randomTensor([batch, seqLen, width], seed) as Tensor3D;
                const out = made.block.forward(x, { training: true });
                const processed = routedTokens(out.routing ?? {}, 'mod');
                const xs = x.reshape([batch * seqLen, width]).arraySync() as number[][];
                const ys = out.output.reshape([batch * seqLen, width]).arraySync() as number[][];
                for (let i = 0; i < batch * seqLen; i++) {
                  if (!processed.has(i))
                    assert.deepEqual(ys[i], xs[i], `token ${i} was not processed but changed`);
                }
              });
            }),
            runs(numRuns),
          );
        });
      }

      it('should send a non-zero gradient to every router variable', () => {
        tf.tidy(() => {
          const x = randomTensor([2, 8, width], 3) as Tensor3D;
          const cot = randomTensor([2, 8, width], 4);
          const routers = routerVariables(made);
          const vars = [...routers.values()].flat();
          if (vars.length === 0) return;
          const { grads } = tf.variableGrads(() => {
            const out = made.block.forward(x, { training: true });
            const aux = Object.values(out.auxLosses).reduce<Tensor>(
              (acc, l) => tf.add(acc, l),
              tf.scalar(0),
            );
            return tf.add(tf.sum(tf.mul(out.output, cot)), aux) as Scalar;
          }, vars as Variable[]);
          // At least the routers' scoring weights (the first variable of each) must learn.
          for (const variables of routers.values()) {
            const first = variables[0];
            if (first === undefined) continue;
            const g = grads[first.name];
            assert.ok(g !== undefined, `no gradient for router variable ${first.name}`);
            assert.ok(
              (tf.max(tf.abs(g)).dataSync()[0] as number) > 0,
              `zero gradient for router variable ${first.name}`,
            );
          }
        });
      });

      causalLaws(() => made.block, {
        width,
        causalModes: options.causalModes ?? [],
        perSequence: options.perSequence ?? true,
        numRuns,
      });

      for (const mode of (options.causalModes ?? []).slice(0, 1)) {
        it('should not leak tensors while decoding', () => {
          expectDecoderLeakFree(made.block, width, mode);
        });
      }

      it('should not leak tensors across forward and backward', () => {
        const before = tf.memory().numTensors;
        const x = randomTensor([2, 6, width], 5) as Tensor3D;
        tf.tidy(() => {
          made.block.forward(x, { training: true });
        });
        const vars = [...routerVariables(made).values()].flat();
        const result = tf.variableGrads(
          () => tf.sum(made.block.forward(x, { training: true }).output) as Scalar,
          vars.length ? (vars as Variable[]) : undefined,
        );
        tf.dispose([result.value, ...Object.values(result.grads), x]);
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
      });
    }, options.backends);
  });
}
