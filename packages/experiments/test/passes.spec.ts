// The bench's interleaved passes (src/bench/passes.ts): one step of each runner in turn, medians
// of the timed steps, and ratios taken pass by pass.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  interleavedSteps,
  mediansOf,
  pairedRatio,
  ratioSpreads,
  spreadOf,
} from '../src/bench/passes.js';

describe('the interleaved passes of moderoute bench', () => {
  it('should step the runners in turn, round by round, and give the median of the timed steps', async () => {
    const calls: string[] = [];
    const runner = (name: string, times: number[]) => ({
      name,
      step: () => {
        calls.push(name);
        return Promise.resolve(times[calls.filter((c) => c === name).length - 1]!);
      },
    });
    const medians = mediansOf(
      await interleavedSteps(
        [runner('a', [100, 100, 3, 1, 2]), runner('b', [100, 100, 10, 40, 20])],
        2,
        3,
      ),
    );
    assert.deepEqual(calls, ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    assert.deepEqual(medians, { a: 2, b: 20 });
  });

  it('should give each runner its timed steps in round order', async () => {
    let n = 0;
    const runner = (name: string) => ({ name, step: () => Promise.resolve(++n) });
    const times = await interleavedSteps([runner('a'), runner('b')], 1, 3);
    assert.deepEqual(times, { a: [3, 5, 7], b: [4, 6, 8] });
  });

  it("should pair each round's steps: the median of a's step over b's of the same round", () => {
    assert.equal(pairedRatio({ a: [3, 1, 2], b: [10, 40, 20] }, 'a', 'b'), 0.1);
    assert.equal(pairedRatio({ a: [3, 1], b: [10, 40, 20] }, 'a', 'b'), undefined);
    assert.equal(pairedRatio({ a: [3] }, 'a', 'b'), undefined);
    // The host's load changes between rounds: the pass's medians (61 and 205) come from
    // different rounds and give 0.30; the rounds' own ratios (0.6, 0.29, 0.61) give 0.6.
    const times = { dense: [100, 210, 205], mod: [60, 61, 125] };
    assert.equal(pairedRatio(times, 'mod', 'dense'), 0.6);
  });

  it('should swap the runners of each given pair every other round', async () => {
    const calls: string[] = [];
    const runner = (name: string) => ({
      name,
      step: () => (calls.push(name), Promise.resolve(calls.length)),
    });
    const names = ['peak', 'a', 'a twin', 'b', 'b twin'];
    await interleavedSteps(names.map(runner), 1, 2, [
      ['a', 'a twin'],
      ['b', 'b twin'],
    ]);
    assert.deepEqual(calls, [...names, ...['peak', 'a twin', 'a', 'b twin', 'b'], ...names]);
  });

  it('should take each ratio within a pass, then its median and range over the passes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dense: fc.double({ min: 1, max: 1e3, noNaN: true }),
            mod: fc.double({ min: 1, max: 1e3, noNaN: true }),
          }),
          { minLength: 1, maxLength: 9 },
        ),
        (passes) => {
          const r = ratioSpreads(passes, {
            'mod / dense': (p) => p['mod']! / p['dense']!,
            never: () => undefined,
          });
          assert.deepEqual(Object.keys(r), ['mod / dense']);
          const xs = passes.map((p) => p.mod / p.dense).sort((x, y) => x - y);
          const s = r['mod / dense']!;
          assert.equal(s.min, xs[0]);
          assert.equal(s.max, xs[xs.length - 1]);
          const h = xs.length >> 1;
          assert.equal(s.median, xs.length % 2 ? xs[h] : (xs[h - 1]! + xs[h]!) / 2);
        },
      ),
    );
    // A host slowing a whole pass moves both variants: the ratio stays where it was.
    const r = ratioSpreads(
      [
        { dense: 100, mod: 60 },
        { dense: 200, mod: 120 },
        { dense: 110, mod: 66 },
      ],
      { 'mod / dense': (p) => p['mod']! / p['dense']! },
    );
    assert.deepEqual(r['mod / dense'], spreadOf([0.6, 0.6, 0.6]));
  });
});
