// The sweep presets: the isoFLOP analysis of Raposo et al. 2024 (figures 3-4) at three small
// scales. Each trains dense, MoD (12.5% capacity every other block) and staged MoDE (sweep-full
// adds MoD in every block and token-choice MoE) at every size, budget and seed. The sizes are
// log-spaced in parameters (about 2.2x apart) around where the comparison presets put the
// isoFLOP-optimal dense model at these budgets (below d96; docs/reproduction.md, "Measured:
// quick"), so the fitted curves can have a minimum inside the swept range.
import type { SweepSpec } from './sweepSpec.js';

/** The name of a built-in sweep. */
export type SweepPresetName = 'sweep-demo' | 'sweep' | 'sweep-full';
/** The built-in sweeps, smallest first. */
export const SWEEP_PRESET_NAMES: readonly SweepPresetName[] = ['sweep-demo', 'sweep', 'sweep-full'];

const SMALL = [
  { width: 24, numLayers: 2, numHeads: 2 },
  { width: 32, numLayers: 2, numHeads: 2 },
  { width: 48, numLayers: 3, numHeads: 3 },
  { width: 64, numLayers: 4, numHeads: 4 },
];

const SWEEP_DEMO: SweepSpec = {
  kind: 'sweep',
  name: 'sweep-demo',
  description:
    'The sweep pipeline end to end in a few minutes: two budgets, three families, two sizes, ' +
    'two seeds (too small to fit an optimum; the report says so).',
  budgets: [1e10, 2e10],
  families: ['dense', 'mod-every-other', 'mode-staged'],
  sizes: SMALL.slice(0, 2),
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
    'MoDE at four sizes (29k-237k parameters), three seeds each (at most 30 minutes on 2 ' +
    'CPU cores).',
  budgets: [3e10, 1e11],
  families: ['dense', 'mod-every-other', 'mode-staged'],
  sizes: SMALL,
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
