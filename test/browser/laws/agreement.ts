// How the law page compares a webgl run with the same run on cpu: decisions (which tokens, which
// experts, which slots) must be identical unless the cpu scores hold a near-tie that float32
// rounding on the GPU may break the other way; numbers (combine weights, losses, block outputs,
// gradients) must agree within TOLERANCE. Each agreement suite keeps a SuiteCounter: cases
// compared, near-ties skipped, and the worst difference seen (reported by the spec).
import fc from 'fast-check';
import { tf } from '@moderoute/core';
import type { SuiteCounter } from './report.js';

/**
 * webgl against cpu: |webgl - cpu| <= atol + rtol * |cpu|. Both compute in float32 (SwiftShader
 * renders float32 textures; the spec checks WEBGL_RENDER_FLOAT32_ENABLED), but webgl sums in
 * another order and takes exp, log and division from GLSL, a few ulps off: over a block and its
 * backward pass the differences seen reach a few 1e-7, at most 3% of this bound, which sits about
 * 800 ulps above the value and far below a wrong kernel's error (docs/testing.md, "Tolerances").
 */
export const TOLERANCE = { rtol: 1e-4, atol: 1e-5 } as const;

/**
 * Two scores closer than this (in one group that a decision compares) are a near-tie: float32
 * rounding on either backend may order them differently, so differing decisions are not an error
 * there and the case is counted as skipped instead.
 */
export const TIE_MARGIN = 1e-4;

/** A fresh counter. */
export function newCounter(): SuiteCounter {
  return { cases: 0, nearTies: 0, backends: [], worst: { ratio: 0, absDiff: 0, what: '' } };
}

/**
 * fast-check's check of an agreement suite: each case runs on cpu, then on webgl (tfjs's active
 * backend switched for each), and `compare` compares the two runs (throwing on a mismatch;
 * false when decisions differed at a near-tie). The counter gets the backends really active.
 */
export function assertAgreement<C, R>(
  counter: SuiteCounter,
  cases: fc.Arbitrary<C>,
  run: (c: C) => R,
  compare: (cmp: Comparison, cpu: R, webgl: R) => boolean,
  numRuns: number,
): Promise<void> {
  return fc.assert(
    fc.asyncProperty(cases, async (c) => {
      const ran: string[] = [];
      const runs: R[] = [];
      for (const backend of ['cpu', 'webgl']) {
        await tf.setBackend(backend);
        runs.push(run(c));
        ran.push(tf.getBackend());
      }
      const cmp = new Comparison(counter);
      const comparable = compare(cmp, runs[0]!, runs[1]!);
      cmp.finish();
      if (comparable) countCase(counter, ...ran);
      else counter.nearTies++;
    }),
    { numRuns },
  );
}

/** Records that a case ran on `backends`. */
export function countCase(counter: SuiteCounter, ...backends: string[]): void {
  counter.cases++;
  for (const b of backends) if (!counter.backends.includes(b)) counter.backends.push(b);
}

/**
 * One case's comparison: every quantity is compared (none stops at the first mismatch), each
 * mismatch recorded by name with its largest error, and `finish` throws listing them all.
 */
export class Comparison {
  private readonly mismatches: string[] = [];

  constructor(private readonly counter: SuiteCounter) {}

  /** Records whether webgl values agree with cpu values within TOLERANCE; tracks the worst. */
  values(what: string, cpu: ArrayLike<number>, webgl: ArrayLike<number>): void {
    if (cpu.length !== webgl.length) {
      this.mismatches.push(`${what}: ${webgl.length} values on webgl, ${cpu.length} on cpu`);
      return;
    }
    let worst = { ratio: 0, i: -1 };
    let beyond = 0;
    for (let i = 0; i < cpu.length; i++) {
      const c = cpu[i] as number;
      const g = webgl[i] as number;
      const ratio = Math.abs(g - c) / (TOLERANCE.atol + TOLERANCE.rtol * Math.abs(c));
      // NaN on either side (or a NaN ratio) counts as infinitely far.
      const r = Number.isFinite(g) && Number.isFinite(c) && !Number.isNaN(ratio) ? ratio : Infinity;
      if (r > 1) beyond++;
      if (r > worst.ratio || worst.i < 0) worst = { ratio: r, i };
    }
    if (worst.i < 0) return;
    const c = cpu[worst.i] as number;
    const g = webgl[worst.i] as number;
    const absDiff = Math.abs(g - c);
    if (beyond > 0)
      this.mismatches.push(
        `${what}: ${beyond} of ${cpu.length} values beyond ` +
          `${TOLERANCE.atol} + ${TOLERANCE.rtol} |cpu|; ` +
          `worst [${worst.i}]: |webgl - cpu| ${absDiff.toExponential(2)}, ` +
          `${worst.ratio.toPrecision(3)} times the bound (webgl ${g}, cpu ${c})`,
      );
    else if (worst.ratio > this.counter.worst.ratio)
      this.counter.worst = { ratio: worst.ratio, absDiff, what: `${what}[${worst.i}]` };
  }

  /** Records a mismatch that is not a number comparison (differing decisions, say). */
  mismatch(message: string): void {
    this.mismatches.push(message);
  }

  /** Throws listing every mismatch of the case, if any. */
  finish(): void {
    if (this.mismatches.length > 0)
      throw new Error(
        `webgl disagrees with cpu in ${this.mismatches.length} quantit` +
          `${this.mismatches.length === 1 ? 'y' : 'ies'}:\n- ${this.mismatches.join('\n- ')}`,
      );
  }
}

/** Asserts two integer arrays (decisions) are identical; returns whether they were. */
export function sameDecisions(cpu: ArrayLike<number>, webgl: ArrayLike<number>): boolean {
  return cpu.length === webgl.length && Array.from(cpu).every((v, i) => v === webgl[i]);
}

/**
 * The smallest gap between two scores of one group on cpu that is below TIE_MARGIN, unless the
 * pair is an exact tie on both backends (identical tokens: both break it by position); Infinity
 * when there is none. `cpu` and `webgl` hold the same groups in the same order.
 */
export function nearTieGap(cpu: readonly number[][], webgl: readonly number[][]): number {
  let smallest = Infinity;
  cpu.forEach((group, g) => {
    const other = webgl[g] ?? [];
    for (let i = 0; i < group.length; i++)
      for (let j = i + 1; j < group.length; j++) {
        const gap = Math.abs((group[i] as number) - (group[j] as number));
        const exactTie = gap === 0 && other[i] === other[j];
        if (gap < TIE_MARGIN && !exactTie) smallest = Math.min(smallest, gap);
      }
  });
  return smallest;
}

/**
 * Score groups of a [B, T, E] array that routing decisions compare: each token's scores across
 * experts (top-K) and each expert's scores across all tokens (capacity priority, expert-choice).
 */
export function expertScoreGroups(scores: number[][][]): number[][] {
  const rows = scores.flat();
  const experts = rows[0]?.length ?? 0;
  const columns = Array.from({ length: experts }, (_, e) => rows.map((r) => r[e] as number));
  return [...rows, ...columns];
}

/**
 * Runs `body` on the active backend, then `cleanup` (which disposes what the case made); throws
 * if tensors are left behind. An error of `body` itself propagates unmasked.
 */
export function leakChecked<T>(body: () => T, cleanup: () => void): T {
  const before = tf.memory().numTensors;
  let result: T;
  try {
    result = body();
  } finally {
    cleanup();
  }
  const left = tf.memory().numTensors - before;
  if (left !== 0) throw new Error(`${tf.getBackend()}: the case left ${left} tensor(s) behind`);
  return result;
}
