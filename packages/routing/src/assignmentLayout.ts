// The one place that lays out an expert plan's assignments: from each kept assignment's token,
// expert, group and slot (its place in its expert's buffer of that group), the flat
// (expert, group, slot)-ordered arrays of ExpertRoutingPlan, buffer rows
// bufferIndex = (expert * G + group) * C + slot (the dispatch layout of flaxformer's
// expert-major [E, G, C] buffers), and per-expert counts. Every router (built-in or plugin),
// every causal session and the stacking of per-sequence plans derive their layout here.
// Axis legend: E experts, G groups, C capacity, N kept assignments.
import { ModerouteError, type Tensor1D } from '@moderoute/core';
import { int32 } from './common.js';

/** One kept assignment, as a router decided it. */
export interface Assignment {
  /** The token m (b * T + t, or the position in the plan's tokens). */
  readonly token: number;
  readonly expert: number;
  readonly group: number;
  /** Its slot in its expert's buffer of its group, 0 <= slot < capacity. */
  readonly slot: number;
  /** What the caller wants carried along (e.g. the index of its weight); default: its index. */
  readonly source?: number;
}

/** The buffer geometry of a plan. */
export interface AssignmentShape {
  readonly numExperts: number;
  readonly numGroups: number;
  readonly capacity: number;
}

/** Host arrays of a plan's assignments, ordered by (expert, group, slot). */
export interface AssignmentArrays {
  readonly tokenIndex: Int32Array;
  readonly expertIndex: Int32Array;
  readonly slotIndex: Int32Array;
  readonly bufferIndex: Int32Array;
  /** The assignments' `source` (or input index) in this order. */
  readonly sources: Int32Array;
  readonly expertCounts: number[];
}

function isIndex(value: number, bound: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < bound;
}

/**
 * Lays out assignments (in any order) as a plan's arrays: sorted by buffer row, which orders
 * them by (expert, group, slot) because slot < C, so each expert's assignments are contiguous.
 * Throws a ModerouteError (a router bug, not user input) on an expert, group or slot out of
 * range or two assignments in one buffer row.
 */
export function layoutAssignments(
  assignments: readonly Assignment[],
  shape: AssignmentShape,
): AssignmentArrays {
  const { numExperts: e, numGroups: g, capacity: c } = shape;
  if (!isIndex(e, Infinity) || !isIndex(g, Infinity) || !isIndex(c, Infinity))
    throw new ModerouteError(`layoutAssignments: bad buffer shape [E ${e}, G ${g}, C ${c}]`);
  const total = assignments.length;
  const rows = new Float64Array(total);
  assignments.forEach((a, i) => {
    if (!isIndex(a.expert, e) || !isIndex(a.group, g) || !isIndex(a.slot, c))
      throw new ModerouteError(
        `layoutAssignments: assignment ${i} (expert ${a.expert}, group ${a.group}, slot ` +
          `${a.slot}) outside the buffers [E ${e}, G ${g}, C ${c}]`,
      );
    rows[i] = (a.expert * g + a.group) * c + a.slot;
  });
  const order = Array.from({ length: total }, (_, i) => i).sort(
    (i, j) => (rows[i] as number) - (rows[j] as number),
  );
  const tokenIndex = new Int32Array(total);
  const expertIndex = new Int32Array(total);
  const slotIndex = new Int32Array(total);
  const bufferIndex = new Int32Array(total);
  const sources = new Int32Array(total);
  const expertCounts = new Array<number>(e).fill(0);
  order.forEach((i, n) => {
    const a = assignments[i] as Assignment;
    const row = rows[i] as number;
    if (n > 0 && bufferIndex[n - 1] === row)
      throw new ModerouteError(`layoutAssignments: two assignments in buffer row ${row}`);
    tokenIndex[n] = a.token;
    expertIndex[n] = a.expert;
    slotIndex[n] = a.slot;
    bufferIndex[n] = row;
    sources[n] = a.source ?? i;
    expertCounts[a.expert]! += 1;
  });
  return { tokenIndex, expertIndex, slotIndex, bufferIndex, sources, expertCounts };
}

/** A plan's index fields (tokenIndex, expertIndex, slotIndex, bufferIndex as int32 tensors, and
 * expertCounts) from a layout, as every built-in plan carries them. */
export function layoutIndexTensors(layout: AssignmentArrays): {
  readonly tokenIndex: Tensor1D;
  readonly expertIndex: Tensor1D;
  readonly slotIndex: Tensor1D;
  readonly bufferIndex: Tensor1D;
  readonly expertCounts: number[];
} {
  return {
    tokenIndex: int32(layout.tokenIndex) as Tensor1D,
    expertIndex: int32(layout.expertIndex) as Tensor1D,
    slotIndex: int32(layout.slotIndex) as Tensor1D,
    bufferIndex: int32(layout.bufferIndex) as Tensor1D,
    expertCounts: layout.expertCounts,
  };
}
