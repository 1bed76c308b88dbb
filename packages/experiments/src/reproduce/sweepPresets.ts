// The sweep presets: the isoFLOP analysis of Raposo et al. 2024 (figures 3-4) at three small
// scales. Each trains dense, MoD (12.5% capacity every other block) and staged MoDE (sweep-full
// adds MoD in every block and token-choice MoE) at every size, budget and seed. At `sweep`'s
// budgets every run is short and the loss still falls steeply over its first few hundred steps,
// so the isoFLOP-optimal model is about the largest that gets ~500 steps of 16 x 64 bytes (a
// one-seed probe: d12 at 3e10 FLOPs, below d6 at 1e10; docs/reproduction.md, "Choosing sweep's
// sizes"). Its two-layer widths 8-32 (1.4-1.8x apart in forward FLOPs) at 3e10 and 6e10 FLOPs
// put each budget's optimum inside the swept range, so the fitted curves have a minimum to
// compare; one layer would make the every-other-block families dense.
import type { SweepSpec } from './sweepSpec.js';

/** The name of a built-in sweep. */
export type SweepPresetName = 'sweep-demo' | 'sweep' | 'sweep-full';
/** The built-in sweeps, smallest first. */
export const SWEEP_PRESET_NAMES: readonly SweepPresetName[] = ['sweep-demo', 'sweep', 'sweep-full'];

const twoLayers = (width: number) => ({ width, numLayers: 2, numHeads: 2 });

const SWEEP_DEMO: SweepSpec = {
  kind: 'sweep',
  name: 'sweep-demo',
  description:
    'The sweep pipeline end to end in a few minutes: two budgets, three families, two sizes, ' +
    'two seeds (too small to fit an optimum; the report says so).',
  budgets: [1e10, 2e10],
  families: ['dense', 'mod-every-other', 'mode-staged'],
  sizes: [24, 32].map(twoLayers),
  seeds: [0, 1],
  batchSize: 16,
  seqLen: 64,
  evalPoints: 2,
  evalWindows: 16,
  finalEvalWindows: 256,
  checkpointsPerRun: 0,
  expectedMinutes: 3,
};

const SWEEP: SweepSpec = {
  kind: 'sweep',
  name: 'sweep',
  description:
    'The isoFLOP sweep at small scale: two budgets, dense, MoD every other block and staged ' +
    "MoDE at five two-layer widths (6.6k-69k parameters) around both budgets' optima, three " +
    'seeds each (about 30 minutes on 2 CPU cores).',
  budgets: [3e10, 6e10],
  families: ['dense', 'mod-every-other', 'mode-staged'],
  sizes: [8, 12, 16, 24, 32].map(twoLayers),
  seeds: [0, 1, 2],
  batchSize: 16,
  seqLen: 64,
  evalPoints: 4,
  evalWindows: 32,
  finalEvalWindows: 1024,
  checkpointsPerRun: 1,
  expectedMinutes: 30,
};

const SWEEP_FULL: SweepSpec = {
  kind: 'sweep',
  name: 'sweep-full',
  description:
    'The large sweep: three budgets, five families, five sizes (0.2M-6.5M parameters) at ' +
    'T = 128, three seeds: 225 runs, about 28 CPU-hours on 2 cores (for many machines ' +
    'with --shard, or a GPU).',
  budgets: [1e12, 3e12, 1e13],
  families: ['dense', 'mod-every-other', 'mode-staged', 'mod-every-block', 'moe-token-choice'],
  sizes: [
    { width: 64, numLayers: 4, numHeads: 4 },
    { width: 96, numLayers: 4, numHeads: 4 },
    { width: 128, numLayers: 4, numHeads: 4 },
    { width: 192, numLayers: 6, numHeads: 6 },
    { width: 256, numLayers: 8, numHeads: 8 },
  ],
  seeds: [0, 1, 2],
  batchSize: 16,
  seqLen: 128,
  learningRate: 2e-3,
  evalPoints: 6,
  evalWindows: 64,
  finalEvalWindows: 2048,
  checkpointsPerRun: 4,
  expectedMinutes: 1700,
};

/** The sweep presets by name. */
export const SWEEP_PRESETS: Readonly<Record<SweepPresetName, SweepSpec>> = Object.freeze({
  'sweep-demo': SWEEP_DEMO,
  sweep: SWEEP,
  'sweep-full': SWEEP_FULL,
});
