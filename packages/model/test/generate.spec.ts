// Causal sampling (Raposo et al. 2024, section 3.5): token-by-token decoding with the KV cache
// equals one full-sequence forward pass under the same causal routing decisions, for every
// block kind; skipped tokens leave nothing in a block's cache; seeded generation is repeatable
// and leak-free; the context policy never gives silent wrong output.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, ShapeError, tf, type Tensor2D } from '@moderoute/core';
import type { BlockSpec } from '@moderoute/blocks';
import {
  MixtureOfDepthsRouter,
  type CausalMode,
  type MixtureOfDepthsPlan,
} from '@moderoute/routing';
import {
  expectClose,
  expectNoLeaks,
  expectNoLeaksAsync,
  forEachBackend,
  runs,
} from '@moderoute/testing';
import {
  foldRouterStatistics,
  routerStatisticsOf,
  Decoder,
  MODEL_IDS,
  argmax,
  createContainer,
  generate,
  generateText,
  type LanguageModel,
  type LanguageModelConfig,
} from '../src/index.js';

const V = 19;
const create = (config: LanguageModelConfig): LanguageModel =>
  createContainer().get(MODEL_IDS.ModelFactory).create(config);
const positionTopOne = {
  name: 'token-choice',
  config: {
    topK: 1,
    priority: 'position',
    capacity: { trainFactor: 1, evalFactor: 1, minimum: 1 },
  },
};

interface Variant {
  readonly name: string;
  readonly routed: BlockSpec;
  readonly mode?: CausalMode;
}

const VARIANTS: Variant[] = [
  { name: 'dense', routed: { kind: 'dense' } },
  {
    name: 'MoD, threshold decisions',
    routed: {
      kind: 'mod',
      depthRouter: { name: 'mixture-of-depths', config: { causalMode: 'threshold' } },
    },
    mode: 'threshold',
  },
  {
    name: 'MoD, predictor decisions',
    routed: {
      kind: 'mod',
      depthRouter: {
        name: 'mixture-of-depths',
        config: { causalMode: 'predictor', gate: 'sigmoid' },
      },
    },
    mode: 'predictor',
  },
  {
    name: 'MoE, token-choice top-1, position priority, finite capacity',
    routed: { kind: 'moe', numExperts: 3, expertRouter: positionTopOne },
  },
  {
    name: 'MoE, token-choice top-2, token-major placement, finite capacity, normalized after drops',
    routed: {
      kind: 'moe',
      numExperts: 3,
      expertRouter: {
        name: 'token-choice',
        config: {
          topK: 2,
          placement: 'token-major',
          renormalize: 'after-drops',
          capacity: { trainFactor: 0.5, evalFactor: 0.5, minimum: 1, scaleByK: true },
        },
      },
    },
  },
  {
    name: 'MoE, sigmoid scores, group-limited top-2, dropless, scaled',
    routed: {
      kind: 'moe',
      numExperts: 4,
      expertRouter: {
        name: 'token-choice',
        config: {
          topK: 2,
          scoreFunction: 'sigmoid',
          expertGroups: 2,
          topKGroups: 1,
          groupScore: 'top2-sum',
          renormalize: true,
          routedScale: 2.5,
          capacity: { dropless: true },
        },
      },
    },
  },
  {
    name: 'MoE with 2 shared experts beside token-choice top-1, finite capacity',
    routed: { kind: 'moe', numExperts: 3, numSharedExperts: 2, expertRouter: positionTopOne },
  },
  {
    name: 'MoE, token-choice top-2, dropless, renormalized',
    routed: {
      kind: 'moe',
      numExperts: 3,
      expertRouter: {
        name: 'token-choice',
        config: { topK: 2, renormalize: true, capacity: { dropless: true } },
      },
    },
  },
  {
    name: 'staged MoDE, threshold then dropless token-choice',
    routed: {
      kind: 'mode-staged',
      numExperts: 3,
      depthRouter: 'mixture-of-depths',
      expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { dropless: true } } },
    },
    mode: 'threshold',
  },
  {
    name: 'staged MoDE, predictor then dropless token-choice',
    routed: {
      kind: 'mode-staged',
      numExperts: 2,
      depthRouter: { name: 'mixture-of-depths', config: { causalMode: 'predictor' } },
      expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { dropless: true } } },
    },
    mode: 'predictor',
  },
  {
    name: 'integrated MoDE, token-choice top-1 over real and no-op experts, finite capacity',
    routed: {
      kind: 'mode-integrated',
      numExperts: 2,
      numNoopExperts: 2,
      expertRouter: positionTopOne,
    },
  },
];

const cases = fc.record({
  seed: fc.nat(1e5),
  width: fc.constantFrom(8, 12),
  heads: fc.constantFrom(1, 2, 4),
  layers: fc.integer({ min: 1, max: 3 }),
  t: fc.integer({ min: 2, max: 9 }),
  firstChunk: fc.integer({ min: 1, max: 4 }),
  routedFirst: fc.boolean(),
});

function configOf(
  variant: Variant,
  c: {
    seed: number;
    width: number;
    heads: number;
    layers: number;
    t: number;
    routedFirst: boolean;
  },
): LanguageModelConfig {
  const heads = c.width % c.heads === 0 ? c.heads : 2;
  return {
    vocabSize: V,
    contextLength: c.t + 2,
    width: c.width,
    numHeads: heads,
    numLayers: c.layers,
    mlpRatio: 2,
    seed: c.seed,
    schedule: { pattern: c.routedFirst ? [variant.routed, 'dense'] : ['dense', variant.routed] },
  };
}

/** Random ids int32 in [0, V). */
function tokens(t: number, seed: number): number[] {
  let s = seed + 1;
  return Array.from({ length: t }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % V;
  });
}

/**
 * Decodes `ids` (a first chunk, then one token per step) and compares every position's logits
 * with one full forward pass under the same mode; also checks, after every step, that each
 * block's cache holds exactly the tokens its attention processed in the full pass.
 */
function decodeMatchesForward(
  variant: Variant,
  c: {
    seed: number;
    width: number;
    heads: number;
    layers: number;
    t: number;
    firstChunk: number;
    routedFirst: boolean;
  },
): void {
  const model = create(configOf(variant, c));
  const ids = tokens(c.t, c.seed);
  try {
    // One training-mode pass first: threshold routers then hold a non-zero tau (their estimate
    // of the top-k cut), which both the full pass and the decoder must apply.
    tf.tidy(() => {
      const trained = model.forward(
        tf.tensor2d(tokens(c.t, c.seed + 1), [1, c.t], 'int32') as Tensor2D,
        { training: true },
      );
      foldRouterStatistics(model, [routerStatisticsOf(model, trained.routing)]);
    });
    for (const block of model.blocks) {
      for (const router of block.routers()) {
        if (router instanceof MixtureOfDepthsRouter && router.threshold !== undefined)
          assert.notEqual(router.thresholdValue(), 0);
        if (router instanceof MixtureOfDepthsRouter && router.config.causalMode === 'predictor')
          assert.notEqual(router.predictorCutValue(), 0);
      }
    }
    // Per block: positions its attention processed in the full forward pass.
    const { logits: expected, processed } = tf.tidy(() => {
      const out = model.forward(
        tf.tensor2d(ids, [1, c.t], 'int32') as Tensor2D,
        variant.mode ? { mode: variant.mode } : {},
      );
      const positions = out.routing.map((plans) => {
        const mod = plans['mod'] as MixtureOfDepthsPlan | undefined;
        return mod === undefined ? ids.map((_, i) => i) : Array.from(mod.positions.dataSync());
      });
      return { logits: tf.keep(tf.reshape(out.logits, [c.t, V])), processed: positions };
    });
    const decoder = new Decoder(model, {
      ...(variant.mode ? { mode: variant.mode } : {}),
      capacityLength: c.t,
    });
    const got: Tensor2D[] = [];
    try {
      const first = Math.min(c.firstChunk, c.t);
      const chunks = [ids.slice(0, first), ...ids.slice(first).map((id) => [id])];
      for (const chunk of chunks) {
        got.push(decoder.feed(chunk));
        const seen = decoder.length;
        assert.deepEqual(
          decoder.cacheLengths(),
          processed.map((p) => p.filter((pos) => pos < seen).length),
          `cache lengths after ${seen} tokens (processed positions ${JSON.stringify(processed)})`,
        );
      }
      const actual = tf.concat(got, 0);
      expectClose(actual, expected, { rtol: 1e-4, atol: 1e-4 }, `${variant.name}: decoded logits`);
      actual.dispose();
    } finally {
      decoder.dispose();
      tf.dispose([expected, ...got]);
    }
  } finally {
    model.dispose();
  }
}

describe('Decoder', () => {
  forEachBackend(() => {
    describe('.feed (token by token with the KV cache)', () => {
      for (const variant of VARIANTS) {
        it(`should equal the full-sequence forward pass under the same causal routing: ${variant.name}`, () => {
          fc.assert(
            fc.property(cases, (c) => {
              decodeMatchesForward(variant, c);
            }),
            runs(6),
          );
        });
      }
    });

    describe('when a token skips a MoD block', () => {
      it('should write no key or value into that block, and leave its output unchanged', () => {
        const model = create({
          vocabSize: V,
          contextLength: 16,
          width: 8,
          numHeads: 2,
          numLayers: 2,
          seed: 3,
          schedule: { pattern: ['mod', 'dense'] },
        });
        const decoder = new Decoder(model, { mode: 'threshold' });
        try {
          const ids = tokens(16, 11);
          let skipped = 0;
          let processed = 0;
          for (const id of ids) {
            const before = decoder.cacheLengths();
            tf.dispose(decoder.feed([id]));
            const after = decoder.cacheLengths();
            assert.equal(after[1], (before[1] as number) + 1, 'the dense block caches every token');
            if (after[0] === before[0]) skipped++;
            else {
              assert.equal(after[0], (before[0] as number) + 1);
              processed++;
            }
          }
          // An untrained router's threshold decisions split tokens (about half each way).
          assert.ok(skipped > 0 && processed > 0, `skipped ${skipped}, processed ${processed}`);
          const stats = decoder.stats();
          assert.equal(stats[0]!.attended, processed);
          assert.equal(stats[0]!.seen, ids.length);
        } finally {
          decoder.dispose();
          model.dispose();
        }
      });
    });

    describe('when every token skips a MoD block (the decoding fast path)', () => {
      it(
        'should run only the decision there: no attention, MLP, ' +
          'gather or scatter kernel, and write nothing',
        async () => {
          for (const causalMode of ['threshold', 'predictor'] as const) {
            const model = create({
              vocabSize: V,
              contextLength: 8,
              width: 8,
              numHeads: 2,
              numLayers: 2,
              seed: 4,
              schedule: {
                pattern: [
                  {
                    kind: 'mod',
                    depthRouter: { name: 'mixture-of-depths', config: { causalMode } },
                  },
                  'dense',
                ],
              },
            });
            // The rules select r > 0 (threshold) or logit > 0 (predictor): zero weights skip every token.
            for (const [name, v] of model.namedParameters())
              if (name.startsWith('blocks.0.routers.0.')) v.assign(tf.zeros(v.shape));
            const decoder = new Decoder(model, { mode: causalMode });
            try {
              tf.dispose(decoder.feed([1, 2]));
              const profile = await tf.profile(() => {
                tf.dispose(decoder.feed([3]));
              });
              const names = profile.kernels.map((k) => k.name);
              assert.equal(
                names.filter((k) => k === 'Softmax').length,
                1,
                `${causalMode}: one attention (the dense block's): ${names.join(',')}`,
              );
              assert.equal(
                names.filter((k) => /Gather/.test(k)).length,
                2,
                `${causalMode}: two gathers (the token embedding and its position row): ${names.join(',')}`,
              );
              assert.ok(
                !names.some((k) => /Scatter/.test(k)),
                `${causalMode}: no scatter: ${names.join(',')}`,
              );
              assert.deepEqual(decoder.cacheLengths(), [0, 3]);
            } finally {
              decoder.dispose();
              model.dispose();
            }
          }
        },
      );
    });

    describe('when routing has no causal form', () => {
      it(
        'should refuse expert-choice routers, top-2 or score priority with a ' +
          'finite capacity, top-k mode, and a missing predictor',
        () => {
          const base = { vocabSize: V, contextLength: 8, width: 8, numHeads: 2, numLayers: 1 };
          const cases: [LanguageModelConfig, object, RegExp][] = [
            [
              { ...base, schedule: { pattern: [{ kind: 'moe', expertRouter: 'expert-choice' }] } },
              {},
              /expertRouter.*the expert-choice router declares no causal rule/,
            ],
            [
              {
                ...base,
                schedule: {
                  pattern: [
                    { kind: 'moe', expertRouter: { name: 'token-choice', config: { topK: 2 } } },
                  ],
                },
              },
              {},
              /blocks\[0\]\.expertRouter\.placement \("rank-major"\) must be 'token-major'/,
            ],
            [
              {
                ...base,
                schedule: {
                  pattern: [
                    {
                      kind: 'moe',
                      expertRouter: { name: 'token-choice', config: { priority: 'score' } },
                    },
                  ],
                },
              },
              {},
              /expertRouter\.priority \("score"\) must be 'position'/,
            ],
            [
              {
                ...base,
                schedule: {
                  pattern: [
                    {
                      kind: 'moe',
                      expertRouter: { name: 'token-choice', config: { priority: 'probs' } },
                    },
                  ],
                },
              },
              {},
              /expertRouter\.priority \("probs"\) must be 'position'/,
            ],
            [
              { ...base, schedule: { pattern: ['mod'] } },
              { mode: 'top-k' },
              /mode \("top-k"\) must be 'threshold', 'predictor' or 'causal'/,
            ],
            [
              { ...base, schedule: { pattern: ['mod'] } },
              { mode: 'predictor' },
              /it has no predictor \(its causalMode is "threshold"\)/,
            ],
          ];
          for (const [config, options, message] of cases) {
            const model = create(config);
            try {
              assert.throws(
                () => new Decoder(model, options as never),
                (e: unknown) => e instanceof ConfigError && message.test(e.message),
              );
            } finally {
              model.dispose();
            }
          }
          // With expertCapacity 'dropless', top-2 token-choice decodes (every choice kept).
          const model = create({
            ...base,
            schedule: {
              pattern: [
                { kind: 'moe', expertRouter: { name: 'token-choice', config: { topK: 2 } } },
              ],
            },
          });
          try {
            new Decoder(model, { expertCapacity: 'dropless' }).dispose();
          } finally {
            model.dispose();
          }
        },
      );

      it('should refuse to outgrow the position table with a ShapeError naming contextLength', () => {
        const model = create({
          vocabSize: V,
          contextLength: 4,
          width: 8,
          numHeads: 2,
          numLayers: 1,
        });
        const decoder = new Decoder(model);
        try {
          tf.dispose(decoder.feed([1, 2, 3]));
          assert.throws(
            () => decoder.feed([4, 5]),
            (e: unknown) => e instanceof ShapeError && /contextLength \(4\)/.test(e.message),
          );
          assert.equal(decoder.length, 3);
          tf.dispose(decoder.feed([4]));
        } finally {
          decoder.dispose();
          model.dispose();
        }
      });
    });

    it('should not leak tensors across a decoding session', () => {
      const model = create({
        vocabSize: V,
        contextLength: 12,
        width: 8,
        numHeads: 2,
        numLayers: 2,
        schedule: {
          pattern: [
            'mod',
            {
              kind: 'mode-staged',
              expertRouter: { name: 'token-choice', config: { capacity: { dropless: true } } },
            },
          ],
        },
      });
      try {
        expectNoLeaks(() => {
          const decoder = new Decoder(model);
          tf.dispose(decoder.feed([1, 2, 3, 4]));
          for (let i = 0; i < 5; i++) decoder.feedLast([i]);
          decoder.dispose();
        }, 'decoder');
      } finally {
        model.dispose();
      }
    });
  });
});

describe('generate', () => {
  forEachBackend(() => {
    const config: LanguageModelConfig = {
      vocabSize: 256,
      contextLength: 24,
      width: 16,
      numHeads: 2,
      numLayers: 2,
      seed: 5,
      schedule: { pattern: ['dense', 'mod'] },
    };

    it('should give the same text for the same seed, and not leak tensors', async () => {
      const model = create(config);
      try {
        const options = { maxTokens: 12, temperature: 1, topK: 40, topP: 0.95, seed: 7 };
        let a: readonly number[] = [];
        let b: readonly number[] = [];
        await expectNoLeaksAsync(async () => {
          a = (await generateText(model, 'Hello', options)).tokens;
        }, 'generate');
        b = (await generateText(model, 'Hello', options)).tokens;
        const c = (await generateText(model, 'Hello', { ...options, seed: 8 })).tokens;
        assert.equal(a.length, 12);
        assert.deepEqual(a, b);
        assert.notDeepEqual(a, c);
      } finally {
        model.dispose();
      }
    });

    it('should free the caches when the consumer stops early', async () => {
      const model = create(config);
      try {
        await expectNoLeaksAsync(async () => {
          let n = 0;
          for await (const piece of generate(model, [1, 2, 3], { maxTokens: 10, seed: 1 })) {
            assert.equal(piece.index, n++);
            if (n === 3) break;
          }
        }, 'generate, closed early');
      } finally {
        model.dispose();
      }
    });

    it('should decode greedily at temperature 0: the argmax of the full forward pass at every step', async () => {
      const model = create(config);
      try {
        const prompt = [72, 105, 33];
        const result = await generateText(model, prompt, { maxTokens: 8, temperature: 0 });
        const seq = [...prompt];
        for (let i = 0; i < 8; i++) {
          const next = tf.tidy(() => {
            const logits = model.forward(tf.tensor2d(seq, [1, seq.length], 'int32') as Tensor2D, {
              mode: 'threshold',
            }).logits;
            return argmax(tf.slice(logits, [0, seq.length - 1, 0], [1, 1, 256]).dataSync());
          });
          seq.push(next);
        }
        assert.deepEqual(result.tokens, seq.slice(prompt.length));
      } finally {
        model.dispose();
      }
    });

    describe('when the sequence would outgrow contextLength', () => {
      it("should refuse up front with contextPolicy 'refuse' (the default)", async () => {
        const model = create(config);
        try {
          await assert.rejects(
            generateText(model, 'x'.repeat(20), { maxTokens: 10 }),
            (e: unknown) =>
              e instanceof ShapeError &&
              /contextLength \(24\)/.test(e.message) &&
              /slide/.test(e.message),
          );
          // Exactly filling the table is fine: the last sampled token is never fed back.
          assert.equal(
            (await generateText(model, 'x'.repeat(20), { maxTokens: 5, temperature: 0 })).tokens
              .length,
            5,
          );
        } finally {
          model.dispose();
        }
      });

      it("should slide: each step equals the full forward pass over the current window ('slide')", async () => {
        const model = create(config);
        try {
          const keep = 10;
          const prompt = Array.from({ length: 30 }, (_, i) => 65 + (i % 26));
          const result = await generateText(model, prompt, {
            maxTokens: 30,
            temperature: 0,
            contextPolicy: 'slide',
            windowKeep: keep,
          });
          assert.ok(result.windowSlides >= 2, String(result.windowSlides));
          let window = prompt.slice(-24);
          const expected: number[] = [];
          for (let i = 0; i < 30; i++) {
            const next = tf.tidy(() => {
              const logits = model.forward(
                tf.tensor2d(window, [1, window.length], 'int32') as Tensor2D,
                { mode: 'threshold' },
              ).logits;
              return argmax(tf.slice(logits, [0, window.length - 1, 0], [1, 1, 256]).dataSync());
            });
            expected.push(next);
            window =
              window.length >= 24
                ? [...window.slice(window.length - (keep - 1)), next]
                : [...window, next];
          }
          assert.deepEqual(result.tokens, expected);
        } finally {
          model.dispose();
        }
      });
    });

    it('should stream UTF-8 text and stop at a stop token', async () => {
      const model = create(config);
      try {
        const first = (await generateText(model, 'é', { maxTokens: 6, temperature: 0 })).tokens;
        const stop = first[2] as number;
        const result = await generateText(model, 'é', {
          maxTokens: 6,
          temperature: 0,
          stopTokens: [stop],
        });
        assert.equal(result.stopReason, 'stopToken');
        assert.deepEqual(result.tokens, first.slice(0, first.indexOf(stop) + 1));
        assert.equal(result.text, new TextDecoder().decode(Uint8Array.from(result.tokens)));
        assert.deepEqual(result.promptTokens, [0xc3, 0xa9]);
      } finally {
        model.dispose();
      }
    });
  });
});
