import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, tf } from '@moderoute/core';
import { expectNoLeaks, forEachBackend, runs } from '@moderoute/testing';
import {
  DataError,
  Rng,
  TrainWindows,
  batchTensors,
  deriveSeed,
  validationBatches,
  validationStarts,
  validationWindowCount,
} from '../src/index.js';

/** The canonical mulberry32 snippet (Tommy Ettinger), as published, returning uint32s. */
function referenceMulberry32(a: number): () => number {
  return () => {
    let t = (a += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const ramp = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 256);

describe('Rng', () => {
  it('should be mulberry32 from a restored state', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (state) => {
        const rng = Rng.fromState(state);
        const ref = referenceMulberry32(state);
        for (let i = 0; i < 5; i++) assert.equal(rng.nextUint32(), ref());
      }),
      runs(50),
    );
  });

  it('should continue its stream exactly after save and restore', () => {
    const a = new Rng(42);
    a.nextUint32();
    const b = Rng.fromState(a.state);
    assert.deepEqual(
      [a.next(), a.nextBelow(7), a.nextUint32()],
      [b.next(), b.nextBelow(7), b.nextUint32()],
    );
  });

  it('should draw nextBelow(n) uniformly (chi-square, 10 bins)', () => {
    const rng = new Rng(7);
    const counts = new Array<number>(10).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const k = rng.nextBelow(10);
      counts[k] = (counts[k] as number) + 1;
    }
    const chi2 = counts.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
    assert.ok(chi2 < 27.9, `chi-square ${chi2} (p = 0.001 critical value for 9 d.o.f. is 27.9)`);
  });

  it('should give unrelated streams for neighbouring seeds and steps', () => {
    const seeds = new Set([
      deriveSeed(0, 0),
      deriveSeed(0, 1),
      deriveSeed(1, 0),
      deriveSeed(1, 1),
      deriveSeed(0, 2),
      deriveSeed(2, 0),
    ]);
    assert.equal(seeds.size, 6);
  });
});

describe('TrainWindows', () => {
  describe('.batch', () => {
    it('should cut [B, T+1] windows of consecutive tokens inside the buffer', () => {
      const tokens = ramp(200);
      const windows = new TrainWindows(tokens, { batchSize: 3, seqLen: 8, seed: 1 });
      const batch = windows.batch(0);
      assert.equal(batch.tokens.length, 3 * 9);
      batch.starts.forEach((s, b) => {
        assert.ok(s >= 0 && s + 9 <= 200);
        assert.deepEqual(
          [...batch.tokens.subarray(b * 9, b * 9 + 9)],
          [...tokens.subarray(s, s + 9)],
        );
      });
    });

    it('should be a pure function of (seed, step), for any seed and step', () => {
      const tokens = ramp(5000);
      fc.assert(
        fc.property(
          fc.integer(),
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 32 }),
          (seed, step, b, t) => {
            const a = new TrainWindows(tokens, { batchSize: b, seqLen: t, seed }).batch(step);
            const c = new TrainWindows(tokens, { batchSize: b, seqLen: t, seed }).batch(step);
            assert.deepEqual(a.starts, c.starts);
            assert.deepEqual(a.tokens, c.tokens);
          },
        ),
        runs(100),
      );
    });

    it('should give a resumed run the batches of an uninterrupted one', () => {
      const tokens = ramp(10_000);
      const config = { batchSize: 4, seqLen: 16, seed: 123, fingerprint: 'fp' };
      const straight = new TrainWindows(tokens, config);
      const first = Array.from({ length: 10 }, (_, s) => straight.batch(s).starts);
      // Interrupt after step 4: save the position, restore it in a new object, continue.
      const position = JSON.parse(JSON.stringify(new TrainWindows(tokens, config).position(5)));
      const resumed = TrainWindows.resume(tokens, position, 'fp');
      for (let s = position.step; s < 10; s++) assert.deepEqual(resumed.batch(s).starts, first[s]);
    });

    it('should refuse to resume on other data', () => {
      const position = new TrainWindows(ramp(100), {
        batchSize: 1,
        seqLen: 4,
        seed: 0,
        fingerprint: 'a',
      }).position(3);
      assert.throws(
        () => TrainWindows.resume(ramp(100), position, 'b'),
        (e: unknown) =>
          e instanceof ConfigError && /dataPosition\.fingerprint \("a"\)/.test(e.message),
      );
    });

    it('should vary between steps and seeds', () => {
      const w = new TrainWindows(ramp(1_000_000), { batchSize: 4, seqLen: 8, seed: 5 });
      assert.notDeepEqual(w.batch(0).starts, w.batch(1).starts);
      assert.notDeepEqual(
        w.batch(0).starts,
        new TrainWindows(ramp(1_000_000), { batchSize: 4, seqLen: 8, seed: 6 }).batch(0).starts,
      );
    });

    it('should reach both ends of the buffer', () => {
      // N = 12, T = 10: the only starts are 0 and 1.
      const w = new TrainWindows(ramp(12), { batchSize: 64, seqLen: 10, seed: 0 });
      assert.deepEqual(new Set(w.batch(0).starts), new Set([0, 1]));
    });

    it('should refuse a buffer shorter than one window', () => {
      assert.throws(
        () => new TrainWindows(ramp(8), { batchSize: 1, seqLen: 8, seed: 0 }),
        (e: unknown) => e instanceof DataError && e.problem === 'too-short',
      );
    });
  });

  forEachBackend(() => {
    describe('.tensors', () => {
      it('should split windows into inputs and next-token targets (golden)', () => {
        const batch = {
          batchSize: 2,
          seqLen: 3,
          tokens: Int32Array.from([1, 2, 3, 4, 10, 11, 12, 13]),
          starts: [0, 9],
        };
        const { inputs, targets } = batchTensors(batch);
        assert.equal(inputs.dtype, 'int32');
        assert.deepEqual(inputs.arraySync(), [
          [1, 2, 3],
          [10, 11, 12],
        ]);
        assert.deepEqual(targets.arraySync(), [
          [2, 3, 4],
          [11, 12, 13],
        ]);
        tf.dispose([inputs, targets]);
      });

      it('should not leak tensors', () => {
        const w = new TrainWindows(ramp(100), { batchSize: 2, seqLen: 4, seed: 0 });
        expectNoLeaks(() => w.tensors(3));
      });
    });
  });
});

describe('validationBatches', () => {
  it('should visit stride-T windows in order, predicting each token once (golden)', () => {
    const tokens = ramp(11);
    // floor((11 - 1) / 3) = 3 windows: [0..3], [3..6], [6..9]
    assert.equal(validationWindowCount(11, 3), 3);
    const batches = [...validationBatches(tokens, { batchSize: 2, seqLen: 3 })];
    assert.deepEqual(
      batches.map((b) => b.starts),
      [[0, 3], [6]],
    );
    assert.deepEqual([...(batches[1]?.tokens ?? [])], [6, 7, 8, 9]);
  });

  it('should spread maxWindows evenly and be deterministic', () => {
    assert.deepEqual(
      validationStarts(1001, { batchSize: 1, seqLen: 10, maxWindows: 4 }),
      [0, 250, 500, 750],
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5000 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 50 }),
        (n, t, max) => {
          const starts = validationStarts(n, { batchSize: 1, seqLen: t, maxWindows: max });
          assert.equal(starts.length, Math.min(max, validationWindowCount(n, t)));
          starts.forEach((s, i) => {
            assert.ok(s + t + 1 <= n);
            if (i > 0) assert.ok(s > (starts[i - 1] as number));
          });
        },
      ),
      runs(100),
    );
  });

  it('should refuse a split shorter than one window', () => {
    assert.throws(
      () => [...validationBatches(ramp(4), { batchSize: 1, seqLen: 4 })],
      (e: unknown) => e instanceof DataError && e.problem === 'too-short',
    );
  });
});
