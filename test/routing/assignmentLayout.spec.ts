// layoutAssignments (assignmentLayout.ts), the one function that derives an expert plan's slots
// order, buffer rows and per-expert counts: its output is a valid plan layout for any set of
// assignments in any order, and it refuses assignments that no valid layout holds.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ModerouteError } from '@moderoute/core';
import { layoutAssignments, type Assignment } from '@moderoute/routing';
import { runs } from '@moderoute/testing';

/** A buffer shape and a set of distinct (expert, group, slot) cells in random order. */
const problems = fc
  .record({
    numExperts: fc.integer({ min: 1, max: 5 }),
    numGroups: fc.integer({ min: 1, max: 4 }),
    capacity: fc.integer({ min: 1, max: 5 }),
  })
  .chain((shape) => {
    const cells: [number, number, number][] = [];
    for (let e = 0; e < shape.numExperts; e++)
      for (let g = 0; g < shape.numGroups; g++)
        for (let s = 0; s < shape.capacity; s++) cells.push([e, g, s]);
    return fc.record({
      shape: fc.constant(shape),
      cells: fc.shuffledSubarray(cells),
      tokens: fc.array(fc.nat(1000), { minLength: cells.length, maxLength: cells.length }),
    });
  });

describe('layoutAssignments', () => {
  it('should give a valid plan layout: contiguous per expert, slots < C, buffer rows unique', () => {
    fc.assert(
      fc.property(problems, ({ shape, cells, tokens }) => {
        const input: Assignment[] = cells.map(([expert, group, slot], i) => ({
          token: tokens[i] as number,
          expert,
          group,
          slot,
        }));
        const out = layoutAssignments(input, shape);
        const { numExperts: e, numGroups: g, capacity: c } = shape;
        const n = input.length;
        assert.equal(out.tokenIndex.length, n);
        assert.deepEqual(
          out.expertCounts,
          Array.from({ length: e }, (_, ex) => input.filter((a) => a.expert === ex).length),
        );
        let start = 0;
        out.expertCounts.forEach((count, ex) => {
          // Contiguous per expert, in expert order.
          for (let j = start; j < start + count; j++) assert.equal(out.expertIndex[j], ex);
          start += count;
        });
        const seen = new Set<number>();
        for (let j = 0; j < n; j++) {
          const a = input[out.sources[j] as number] as Assignment;
          assert.equal(seen.has(out.sources[j] as number), false, 'each assignment once');
          seen.add(out.sources[j] as number);
          assert.ok((out.slotIndex[j] as number) < c);
          assert.equal(out.tokenIndex[j], a.token);
          assert.equal(out.expertIndex[j], a.expert);
          assert.equal(out.slotIndex[j], a.slot);
          assert.equal(out.bufferIndex[j], (a.expert * g + a.group) * c + a.slot);
          assert.ok((out.bufferIndex[j] as number) < e * g * c);
          // Strictly increasing rows: unique, and ordered by (expert, group, slot).
          if (j > 0) assert.ok((out.bufferIndex[j] as number) > (out.bufferIndex[j - 1] as number));
        }
      }),
      runs(200),
    );
  });

  it('should carry each assignment its source', () => {
    const out = layoutAssignments(
      [
        { token: 7, expert: 1, group: 0, slot: 0, source: 40 },
        { token: 3, expert: 0, group: 1, slot: 1, source: 41 },
        { token: 5, expert: 0, group: 1, slot: 0, source: 42 },
      ],
      { numExperts: 2, numGroups: 2, capacity: 2 },
    );
    assert.deepEqual([...out.sources], [42, 41, 40]);
    assert.deepEqual([...out.bufferIndex], [2, 3, 4]);
    assert.deepEqual(out.expertCounts, [2, 1]);
  });

  it('should refuse a slot out of capacity and two assignments in one buffer row', () => {
    const shape = { numExperts: 2, numGroups: 1, capacity: 2 };
    assert.throws(
      () => layoutAssignments([{ token: 0, expert: 0, group: 0, slot: 2 }], shape),
      (e: unknown) => e instanceof ModerouteError && /slot 2/.test(e.message),
    );
    assert.throws(
      () =>
        layoutAssignments(
          [
            { token: 0, expert: 1, group: 0, slot: 1 },
            { token: 1, expert: 1, group: 0, slot: 1 },
          ],
          shape,
        ),
      (e: unknown) => e instanceof ModerouteError && /buffer row 3/.test(e.message),
    );
  });
});
