// Host-side selection (packages/routing/src/selection.ts): topKOf keeps the k best in order,
// ties by lower index, whether it selects in one pass (k small against the candidates) or sorts,
// exactly as a full sort does; largestValues and the top-k cut statistic agree with a sort.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { largestValues, topKCutStatistic, topKOf } from '@moderoute/routing';
import { runs } from '@moderoute/testing';

/** The reference: every candidate sorted best first (ties by lower index), the first k. */
function sortedTopK(candidates: number[], k: number, scores: number[]): number[] {
  const order = [...candidates].sort((i, j) =>
    scores[i] === scores[j] ? i - j : scores[j]! > scores[i]! ? 1 : -1,
  );
  return order.slice(0, Math.max(0, k));
}

/** Scores with many ties (a few small integers) or none (continuous values), up to 200 long. */
const scoreLists = () =>
  fc.oneof(
    fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 200, size: 'max' }),
    fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { maxLength: 200, size: 'max' }),
  );

/** k: often small against the list (one pass), sometimes large (a sort) or past its end. */
const counts = (min: number) =>
  fc.oneof(fc.integer({ min, max: 12 }), fc.integer({ min, max: 210 }));

describe('host-side selection', () => {
  it('topKOf should give a full sort’s first k, ties by lower index, for every k', () => {
    fc.assert(
      fc.property(scoreLists(), counts(-1), fc.nat(), (scores, k, seed) => {
        // Candidates: a shuffled subset of the indices, as a router's real tokens are.
        const candidates = scores.map((_, i) => i).filter((i) => (i * 7 + seed) % 5 !== 0);
        candidates.sort((a, b) => ((a * 31 + seed) % 97) - ((b * 31 + seed) % 97));
        const got = topKOf(candidates, k, (i) => scores[i]!);
        assert.deepEqual(got, sortedTopK(candidates, k, scores));
      }),
      runs(300),
    );
  });

  it('should take Int32Array candidates', () => {
    assert.deepEqual(
      topKOf(Int32Array.from([4, 2, 0, 3, 1]), 2, (i) => [5, 1, 5, 0, 2][i]!),
      [0, 2],
    );
  });

  it('largestValues should give the largest values of a sort, largest first', () => {
    fc.assert(
      fc.property(scoreLists(), counts(0), (values, count) => {
        const sorted = [...values].sort((a, b) => b - a).slice(0, count);
        assert.deepEqual(largestValues(values, count), sorted);
      }),
      runs(300),
    );
  });

  it('topKCutStatistic should take the midpoint of the k-th and (k+1)-th largest real values', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.nat(),
        (batch, seqLen, k, seed) => {
          const values = Float32Array.from(
            { length: batch * seqLen },
            (_, i) => Math.fround(Math.sin(i * 12.9898 + seed) * 43758.5453) % 7,
          );
          const valid = Uint8Array.from({ length: batch * seqLen }, (_, i) =>
            (i + seed) % 6 ? 1 : 0,
          );
          let sum = 0;
          let count = 0;
          for (let row = 0; row < batch; row++) {
            const real: number[] = [];
            for (let i = row * seqLen; i < (row + 1) * seqLen; i++)
              if (valid[i]) real.push(values[i]!);
            if (real.length <= k) continue;
            real.sort((a, b) => b - a);
            sum += (real[k - 1]! + real[k]!) / 2;
            count++;
          }
          assert.deepEqual(topKCutStatistic(values, valid, batch, seqLen, k), { sum, count });
        },
      ),
      runs(200),
    );
  });
});
