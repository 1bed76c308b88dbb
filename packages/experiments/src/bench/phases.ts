// Where a data-parallel training step's time goes, per variant, in `moderoute bench`: the
// training thread's phases of each step (DataParallel.lastTiming: post, its own rows, the wait for
// the workers, the combine; then the bench's optimizer update and the routers' fold) and the
// workers' own account of theirs (load, compute, pack). The bench records them for every timed
// step, takes each phase's median within a pass and then over the passes, as for the step times
// (passes.ts), and reports MoD/dense over the analytic FLOP ratio on the training thread's rows
// alone beside the whole step's: the part of the step that scales with tokens, without the serial
// part and the wait that every variant pays alike.
import { spreadOf, type Spread } from './passes.js';
import { median, type DataParallelStepTimes } from './variant.js';

/** One data-parallel step's phases, in ms (see the top of this file). */
export interface StepPhases {
  /** Packing the weights and posting the step (training thread). */
  readonly postMs: number;
  /** The training thread's own rows. */
  readonly computeMs: number;
  /** Waiting for the slowest worker after that. */
  readonly waitMs: number;
  /** Combining the replicas' gradients. */
  readonly combineMs: number;
  /** The optimizer's update (gradient clip included). */
  readonly updateMs: number;
  /** Folding the routers' statistics. */
  readonly foldMs: number;
  /** The slowest worker's load of the weights, its rows and its gradients' pack. */
  readonly workerLoadMs: number;
  readonly workerComputeMs: number;
  readonly workerPackMs: number;
}

/** The phases in report order, with their column labels. */
export const PHASE_COLUMNS: readonly (readonly [keyof StepPhases, string])[] = [
  ['postMs', 'post'],
  ['computeMs', 'own rows'],
  ['waitMs', 'wait'],
  ['combineMs', 'combine'],
  ['updateMs', 'update'],
  ['foldMs', 'fold'],
  ['workerLoadMs', 'worker load'],
  ['workerComputeMs', 'worker rows'],
  ['workerPackMs', 'worker pack'],
];

/** A step's phases from DataParallel's timing and the update and fold the bench timed after it. */
export function phasesOf({ timing, updateMs, foldMs }: DataParallelStepTimes): StepPhases {
  const slowest = (f: (w: DataParallelStepTimes['timing']['workers'][number]) => number) =>
    timing.workers.length > 0 ? Math.max(...timing.workers.map(f)) : 0;
  return {
    postMs: timing.postMs,
    computeMs: timing.computeMs,
    waitMs: timing.waitMs,
    combineMs: timing.combineMs,
    updateMs,
    foldMs,
    workerLoadMs: slowest((w) => w.loadMs),
    workerComputeMs: slowest((w) => w.computeMs),
    workerPackMs: slowest((w) => w.packMs),
  };
}

/** Each phase's median over `steps` (at least one). */
export function medianPhases(steps: readonly StepPhases[]): StepPhases {
  const m = (key: keyof StepPhases) => median(steps.map((s) => s[key]));
  return {
    postMs: m('postMs'),
    computeMs: m('computeMs'),
    waitMs: m('waitMs'),
    combineMs: m('combineMs'),
    updateMs: m('updateMs'),
    foldMs: m('foldMs'),
    workerLoadMs: m('workerLoadMs'),
    workerComputeMs: m('workerComputeMs'),
    workerPackMs: m('workerPackMs'),
  };
}

/** What the report gives: each variant's phases over the passes, and MoD/dense on own rows. */
export interface PhaseReport {
  /** Each phase's median over the passes of its pass medians, by variant. */
  readonly variants: Record<string, StepPhases>;
  /**
   * MoD's own rows over dense's, pass by pass, over the analytic FLOP ratio (absent without both
   * variants or the analytic ratio).
   */
  readonly modOverDenseOwnRows?: Spread;
}

/**
 * The phase report of the passes' per-variant medians (`passes[p][variant]`, variants with no
 * data-parallel steps absent), with `analytic` MoD/dense's FLOP ratio.
 */
export function phaseReport(
  passes: readonly Readonly<Record<string, StepPhases>>[],
  analytic: number | undefined,
): PhaseReport {
  const names = [...new Set(passes.flatMap((p) => Object.keys(p)))];
  const variants = Object.fromEntries(
    names.map((name) => [
      name,
      medianPhases(passes.flatMap((p) => (p[name] === undefined ? [] : [p[name]]))),
    ]),
  );
  const ratios = passes.flatMap((p) =>
    p['mod'] && p['dense'] && analytic
      ? [p['mod'].computeMs / p['dense'].computeMs / analytic]
      : [],
  );
  return { variants, ...(ratios.length > 0 ? { modOverDenseOwnRows: spreadOf(ratios) } : {}) };
}
