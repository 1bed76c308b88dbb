// Runs example 1 at its tiny size: the swap touches one config field (or one binding), both ways
// build the same model, and the three runs differ where their routing says they must.
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { initBackend, tf, type Tensor2D } from '@moderoute/core';
import { MODEL_IDS } from '@moderoute/model';
import {
  SIZES,
  SCHEMES,
  bindingSwap,
  configSwap,
  formatTable,
  swapRouters,
  type SchemeResult,
} from '../src/swapRouters.js';

/** Paths at which two JSON values differ. */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      differences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${path}.${k}`,
      ),
    );
  }
  return Object.is(a, b) ? [] : [path];
}

describe('example 01-swap-routers', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('configSwap', () => {
    it('should change only the router name between the token-choice and expert-choice models', () => {
      const a = configSwap('token-choice', 'tiny').config;
      const b = configSwap('expert-choice', 'tiny').config;
      assert.deepEqual(differences(a, b), ['.schedule.pattern.1.expertRouter']);
    });
  });

  describe('bindingSwap', () => {
    it('should keep one config per block kind and build the same model as the config field', () => {
      assert.deepEqual(
        differences(
          bindingSwap('token-choice', 'tiny').config,
          bindingSwap('expert-choice', 'tiny').config,
        ),
        [],
      );
      const ids = tf.tensor2d(
        Array.from({ length: 32 }, (_, i) => (i * 37) % 256),
        [2, 16],
        'int32',
      ) as Tensor2D;
      const before = tf.memory().numTensors;
      for (const scheme of SCHEMES) {
        const [viaConfig, viaBinding] = [configSwap, bindingSwap].map((way) => {
          const { config, container } = way(scheme, 'tiny');
          const model = container.get(MODEL_IDS.ModelFactory).create(config);
          try {
            const loss = tf.tidy(() => model.loss(ids, ids).loss.dataSync()[0] as number);
            return {
              loss,
              names: [...model.namedParameters().keys()],
              routers: model.blocks[1]!.routers().map((r) => r.kind),
            };
          } finally {
            model.dispose();
          }
        });
        assert.deepEqual(viaBinding, viaConfig, `${scheme}: the binding built another model`);
        assert.equal(viaConfig!.routers[0], scheme);
      }
      assert.equal(tf.memory().numTensors, before, 'leaked tensors');
      ids.dispose();
    });
  });

  describe('swapRouters', () => {
    let results: SchemeResult[];
    before(async () => {
      results = await swapRouters({ size: 'tiny' });
    });

    it('should train every scheme to a finite validation loss', () => {
      assert.deepEqual(
        results.map((r) => r.scheme),
        [...SCHEMES],
      );
      for (const r of results) {
        assert.equal(r.result.stopReason, 'completed');
        assert.equal(r.result.step, SIZES.tiny.train.steps);
        assert.ok(
          r.validationBitsPerByte > 0 && r.validationBitsPerByte < 9,
          `${r.scheme}: ${r.validationBitsPerByte}`,
        );
      }
    });

    it('should route what each scheme promises', () => {
      const [tokenChoice, expertChoice, mod] = results as [
        SchemeResult,
        SchemeResult,
        SchemeResult,
      ];
      for (const r of results)
        assert.equal(r.routedFractionPerBlock[0], 1, 'the dense block saw every token');
      // MoD at capacity 0.125 of T = 16 selects exactly 2 tokens per sequence.
      assert.equal(mod.routedFractionPerBlock[1], 2 / 16);
      // Token-choice and expert-choice may drop tokens, but an untrained router keeps most.
      for (const r of [tokenChoice, expertChoice])
        assert.ok(
          r.routedFractionPerBlock[1]! > 0.25 && r.routedFractionPerBlock[1]! <= 1,
          `${r.scheme}: ${r.routedFractionPerBlock}`,
        );
    });

    it('should count fewer training FLOPs and parameters for Mixture-of-Depths than for the MoE models', () => {
      const [tokenChoice, expertChoice, mod] = results as [
        SchemeResult,
        SchemeResult,
        SchemeResult,
      ];
      assert.equal(
        tokenChoice.parameters,
        expertChoice.parameters,
        'the MoE models differ only in their routing',
      );
      assert.ok(mod.parameters < tokenChoice.parameters);
      assert.ok(
        mod.trainingFlops < tokenChoice.trainingFlops &&
          mod.trainingFlops < expertChoice.trainingFlops,
      );
      for (const r of results)
        assert.equal(
          r.trainingFlops,
          SIZES.tiny.train.steps *
            SIZES.tiny.train.batchSize! *
            3 *
            r.result.forwardFlopsPerSequence,
        );
    });

    it('should give the same runs when the scheme is swapped by a container binding', async () => {
      const bound = await swapRouters({ size: 'tiny', swap: 'binding' });
      assert.deepEqual(
        bound.map((r) => [r.scheme, r.validationBitsPerByte, r.routedFractionPerBlock]),
        results.map((r) => [r.scheme, r.validationBitsPerByte, r.routedFractionPerBlock]),
      );
    });

    it('should print one row per scheme', () => {
      const lines = formatTable(results).split('\n');
      assert.equal(lines.length, 2 + SCHEMES.length);
      assert.match(
        lines[0]!,
        /^scheme +val bits\/byte +train GFLOPs +wall s +params +routed fraction per block$/,
      );
      SCHEMES.forEach((s, i) => assert.ok(lines[2 + i]!.startsWith(s), lines[2 + i]));
    });
  });
});
