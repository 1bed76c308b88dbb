// The consistency laws of a block's causal form, part of the block law suite (blockLaws):
// - decoding token by token (Block.decoder, with its key/value cache and the routers' causal
//   sessions) equals the forward pass under the same causal rule, for every sequence of a batch,
//   at random lengths up to the context (Raposo et al. 2024, section 3.5: a causal decision sees
//   no later token, so sampling can reproduce the forward pass);
// - in evaluation with per-sequence capacity groups, a sequence's outputs do not depend on the
//   other sequences of its batch, under top-k and under each causal rule (batch-wide groups are
//   the documented exception: the suite is told `perSequence: false`).
// Axis legend: B batch, T tokens, D width, L the context (capacity) length, n tokens per step.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '@moderoute/core';
import { expectClose } from './assertions.js';
import { runs } from './arbitraries.js';
import { randomTensor } from './gradcheck.js';

/** A causal rule a block decodes with ('threshold' or 'predictor' for MoD stages, or 'causal'). */
export type LawCausalMode = 'threshold' | 'predictor' | 'causal';

/** The block surface the causal laws need (matches @moderoute/blocks' Block). */
export interface CausalLawBlock {
  /** The block's forward pass under a decision rule. */
  forward(
    x: Tensor3D,
    options: {
      training: boolean;
      mask?: Tensor;
      mode?: 'top-k' | LawCausalMode;
      capacityLength?: number;
    },
  ): { output: Tensor3D };
  /** The block's incremental decoder for one sequence under a causal rule. */
  decoder(options: {
    mode?: LawCausalMode;
    expertCapacity: 'router' | 'dropless';
    capacityLength: number;
    where: string;
  }): {
    /** x float32[n, D] of the sequence's next n tokens -> the block's output float32[n, D]. */
    step(x: Tensor2D): Tensor2D;
    /** Frees the decoder's cache. */
    dispose(): void;
  };
}

/**
 * Options of the causal laws: width, the rules to check, per-sequence routing, longest context,
 * runs.
 */
export interface CausalLawOptions {
  readonly width: number;
  /** The causal rules the block decodes with (decode == forward is checked under each). */
  readonly causalModes: readonly LawCausalMode[];
  /** Whether capacity groups are per sequence (default true: the independence law applies). */
  readonly perSequence: boolean;
  /** Longest context L of the random cases (default 12). */
  readonly maxContext?: number;
  readonly numRuns: number;
}

/** Decodes each sequence of x float32[B, T, D] in random chunks: float32[B, T, D]. */
function decodeEach(
  block: CausalLawBlock,
  x: Tensor3D,
  mode: LawCausalMode,
  context: number,
  chunks: readonly number[],
): Tensor3D {
  const [b, t, d] = x.shape;
  const rows: Tensor2D[] = [];
  for (let row = 0; row < b; row++) {
    const decoder = block.decoder({
      mode,
      expertCapacity: 'router',
      capacityLength: context,
      where: 'block',
    });
    try {
      // Shape: [B, T, D] -> [T, D]
      const seq = tf.reshape(tf.slice(x, [row, 0, 0], [1, t, d]), [t, d]) as Tensor2D;
      let at = 0;
      let c = 0;
      while (at < t) {
        const n = Math.min(t - at, Math.max(1, chunks[c++ % chunks.length] as number));
        rows.push(decoder.step(tf.slice(seq, [at, 0], [n, d]) as Tensor2D));
        at += n;
      }
    } finally {
      decoder.dispose();
    }
  }
  // Shape: B x T rows of [n, D] -> [B*T, D] -> [B, T, D]
  return tf.reshape(tf.concat(rows, 0), [b, t, d]) as Tensor3D;
}

/** Declares the causal laws inside the caller's describe / backend scope. */
export function causalLaws(block: () => CausalLawBlock, options: CausalLawOptions): void {
  const { width, causalModes, numRuns } = options;
  const maxContext = options.maxContext ?? 12;
  const cases = fc.integer({ min: 1, max: maxContext }).chain((context) =>
    fc.record({
      batch: fc.integer({ min: 1, max: 3 }),
      context: fc.constant(context),
      seqLen: fc.integer({ min: 1, max: context }),
      chunks: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
      seed: fc.nat(1e6),
    }),
  );

  for (const mode of causalModes) {
    it(`should decode token by token as the forward pass under the rule '${mode}', any length`, () => {
      fc.assert(
        fc.property(cases, ({ batch, seqLen, context, chunks, seed }) => {
          tf.tidy(() => {
            const x = randomTensor([batch, seqLen, width], seed) as Tensor3D;
            const forward = block().forward(x, {
              training: false,
              mode,
              capacityLength: context,
            }).output;
            const decoded = decodeEach(block(), x, mode, context, chunks);
            expectClose(
              decoded,
              forward,
              { rtol: 1e-4, atol: 1e-4 },
              `decoded vs forward (B ${batch}, T ${seqLen}, context ${context})`,
            );
          });
        }),
        runs(numRuns),
      );
    });
  }

  if (options.perSequence) {
    for (const mode of ['top-k', ...causalModes] as const) {
      it(`should give each sequence the outputs it gets alone, in evaluation under '${mode}'`, () => {
        fc.assert(
          fc.property(cases, ({ batch, seqLen, context, seed }) => {
            tf.tidy(() => {
              const b = Math.max(2, batch);
              const x = randomTensor([b, seqLen, width], seed) as Tensor3D;
              const run = (input: Tensor3D) =>
                block().forward(input, { training: false, mode, capacityLength: context }).output;
              const together = run(x);
              for (let row = 0; row < b; row++) {
                const alone = run(tf.slice(x, [row, 0, 0], [1, seqLen, width]) as Tensor3D);
                expectClose(
                  tf.slice(together, [row, 0, 0], [1, seqLen, width]),
                  alone,
                  { rtol: 1e-4, atol: 1e-4 },
                  `sequence ${row} of ${b} vs alone (T ${seqLen})`,
                );
              }
            });
          }),
          runs(numRuns),
        );
      });
    }
  }
}

/** Checks that a decoder leaves no tensor behind (run once per block). */
export function expectDecoderLeakFree(
  block: CausalLawBlock,
  width: number,
  mode: LawCausalMode,
): void {
  const before = tf.memory().numTensors;
  const x = randomTensor([5, width], 7) as Tensor2D;
  const decoder = block.decoder({
    mode,
    expertCapacity: 'router',
    capacityLength: 8,
    where: 'block',
  });
  for (let i = 0; i < 5; i++)
    tf.dispose(tf.tidy(() => decoder.step(tf.slice(x, [i, 0], [1, width]))));
  decoder.dispose();
  x.dispose();
  assert.equal(tf.memory().numTensors, before, 'the decoder leaked tensors');
}
