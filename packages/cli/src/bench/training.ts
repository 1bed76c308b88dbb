// The training-step benchmark behind `moderoute bench` (and `pnpm bench`): training steps at the
// bench config on one backend, for every block kind, measured side by side in one run, with the
// backend's 2-D matmul peak; and the cost of routing itself (router + selection + dispatch +
// combine, forward and backward) against the dense block it routes.
//
// Bench config (config.ts, the issues'): vocabulary 256, width 128, 4 layers, 4 heads, sequence
// 128, batch 8, MLP 4x, trained with @moderoute/train's AdamW (the trainer's optimizer). Routed
// variants put their block every other layer (["dense", X]).
// In the same run, where Python with PyTorch is installed, the peer script
// packages/cli/bench/peer/torch_tiny_lm.py (in the repository, not in the published package)
// trains the same config, dense and MoD, and the report gives moderoute's step time over the
// peer's (issue 7).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ContainerModule } from 'inversify';
import Table from 'cli-table3';
import {
  CORE_IDS,
  ConfigError,
  bestTimeMs,
  defaultPrimitives,
  matmulPeakGflops,
  tf,
  type Scalar,
  type Tensor,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { combineRows, dispatchRows } from '@moderoute/routing';
import { ParameterStore, resolveBlockSpec, type Block, BLOCKS_IDS } from '@moderoute/blocks';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';
import type { ReplicaPool } from '@moderoute/train';
import { describeTraining, startTraining, type ReplicasFlag } from '../options.js';
import { baselinePrimitives } from './baselineAttention.js';
import {
  BATCH,
  BENCH,
  OPTIMIZERS,
  SEQ,
  VARIANTS,
  createBenchOptimizer,
  type OptimizerName,
} from './config.js';

/**
 * The peer script, located from this file (src/bench/ or dist/bench/ of @moderoute/cli), never
 * from the working directory: present in a clone of the repository, absent from the published
 * package (the peer is then reported unavailable unless `--peer` names a script).
 */
export const DEFAULT_PEER_SCRIPT = fileURLToPath(
  new URL('../../bench/peer/torch_tiny_lm.py', import.meta.url),
);

/** The peer's figures, or why there are none. */
export type PeerResult =
  | {
      available: true;
      denseMsPerStep: number;
      modMsPerStep: number;
      torch: string;
      threads: number;
      python: string;
    }
  | { available: false; reason: string };

/**
 * Runs the PyTorch peer script once and parses its JSON line. Never throws: a missing Python,
 * a missing torch or a failing script is reported as unavailable, with the reason.
 */
export function runPeer(script: string): PeerResult {
  if (!existsSync(script))
    return { available: false, reason: `peer script not found at ${script}` };
  // Debian's interpreter first: python3-torch installs for it, not for a user's own Python.
  const pythons = [...new Set(['/usr/bin/python3', 'python3'])];
  let reason = 'no python3';
  for (const python of pythons) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    const run = spawnSync(python, [script], { encoding: 'utf8', timeout: 300_000 });
    if (run.error !== undefined) {
      reason = `${python}: ${run.error.message}`;
      continue;
    }
    if (run.status !== 0) {
      const last = run.stderr.trim().split('\n').pop() ?? '';
      reason = `${python} exited with ${run.status}${last ? `: ${last}` : ''}`;
      continue;
    }
    const line = run.stdout
      .trim()
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('{'));
    try {
      const out = JSON.parse(line ?? '') as Record<string, unknown>;
      const dense = Number(out['dense_ms_per_step']);
      const mod = Number(out['mod_ms_per_step']);
      if (!(dense > 0 && mod > 0)) throw new Error('no dense_ms_per_step / mod_ms_per_step');
      return {
        available: true,
        denseMsPerStep: dense,
        modMsPerStep: mod,
        torch: String(out['torch']),
        threads: Number(out['threads']),
        python,
      };
    } catch (error) {
      reason = `${python}: unreadable peer output (${error instanceof Error ? error.message : String(error)})`;
    }
  }
  return { available: false, reason };
}

interface VariantResult {
  msPerStep: number;
  tokensPerSec: number;
  flopsPerStep: number;
  gflops: number;
  fractionOfPeak: number;
  parameters: number;
}

/** The faster of two peer runs, figure by figure. */
function betterPeer(a: PeerResult & { available: true }, b: PeerResult): PeerResult {
  if (!b.available) return a;
  return {
    ...a,
    denseMsPerStep: Math.min(a.denseMsPerStep, b.denseMsPerStep),
    modMsPerStep: Math.min(a.modMsPerStep, b.modMsPerStep),
  };
}

/** A container whose blocks use core's attention before issue 7 (`--baseline`). */
function baselineContainer() {
  return createContainer(
    new ContainerModule(({ rebind }) => {
      rebind(CORE_IDS.Primitives).toConstantValue(baselinePrimitives(defaultPrimitives));
    }),
  );
}

/** Best wall time of `body` over `reps` runs after `warmup` runs, in ms (bestTimeMs for async steps). */
async function bestTimeMsAsync(
  body: () => Promise<void>,
  reps: number,
  warmup = 2,
): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < warmup + reps; i++) {
    const start = performance.now();
    await body();
    if (i >= warmup) best = Math.min(best, performance.now() - start);
  }
  return best;
}

/**
 * Trains `steps` timed steps of a fresh model. With a replica pool each step is data-parallel
 * (DataParallel: the rows split among the training thread and the pool's worker threads).
 */
async function benchVariant(
  config: LanguageModelConfig,
  steps: number,
  optimizerName: OptimizerName,
  container = createContainer(),
  replicaPool?: ReplicaPool,
): Promise<VariantResult> {
  const model = container.get(MODEL_IDS.ModelFactory).create(config);
  const optimizer = await createBenchOptimizer(optimizerName, model.trainableParameters());
  const batch = tf.randomUniform([BATCH, SEQ + 1], 0, 256, 'int32', 7);
  const inputs = tf.slice(batch, [0, 0], [BATCH, SEQ]) as Tensor2D;
  const targets = tf.slice(batch, [0, 1], [BATCH, SEQ]) as Tensor2D;
  const vars = model.trainableVariables();
  const varName = new Map([...model.trainableParameters()].map(([name, v]) => [name, v.name]));
  const pool = replicaPool ? await replicaPool.attach(model) : undefined;
  try {
    let ms: number;
    if (pool) {
      ms = await bestTimeMsAsync(async () => {
        const r = await pool.step(inputs, targets);
        // The bench optimizers take gradients by variable name, as tf.variableGrads gives them.
        tf.tidy(() =>
          optimizer.apply(
            Object.fromEntries([...r.grads].map(([name, g]) => [varName.get(name)!, g])),
          ),
        );
        tf.dispose([...r.grads.values()]);
      }, steps);
    } else {
      ms = bestTimeMs(() => {
        const { value, grads } = tf.variableGrads(
          () => model.loss(inputs, targets, { training: true }).loss,
          vars,
        );
        optimizer.apply(grads);
        tf.dispose(grads);
        return value;
      }, steps);
    }
    const flopsPerStep = model.flops(SEQ).training * BATCH;
    return {
      msPerStep: ms,
      tokensPerSec: (BATCH * SEQ) / (ms / 1000),
      flopsPerStep,
      gflops: flopsPerStep / ms / 1e6,
      fractionOfPeak: Number.NaN,
      parameters: model.parameterCount(),
    };
  } finally {
    optimizer.dispose();
    model.dispose();
    tf.dispose([batch, inputs, targets]);
  }
}

/** Routing overhead: route + dispatch + combine (identity experts), fwd+bwd, over a dense block's fwd+bwd. */
function benchRouting(
  reps: number,
): Record<string, { ms: number; denseBlockMs: number; fractionOfDenseBlock: number }> {
  const container = createContainer();
  const factory = container.get(BLOCKS_IDS.BlockFactory);
  const dims = {
    width: BENCH.width,
    numHeads: BENCH.numHeads,
    mlpHidden: 4 * BENCH.width,
    residualStd: 0.01,
  };
  const store = new ParameterStore(0);
  const build = (spec: Parameters<typeof resolveBlockSpec>[0], i: number): Block =>
    factory.create(resolveBlockSpec(spec, dims.mlpHidden), dims, {
      store: store.scope(`b${i}`),
      seed: i,
    });
  const dense = build({ kind: 'dense' }, 0);
  const routed: Record<string, Block> = {
    'token-choice (E=4, K=1, cf 1.25)': build(
      {
        kind: 'moe',
        numExperts: 4,
        expertRouter: {
          name: 'token-choice',
          config: { capacity: { trainFactor: 1.25, evalFactor: 1.25 } },
        },
      },
      1,
    ),
    'expert-choice (E=4, cf 1)': build(
      { kind: 'moe', numExperts: 4, expertRouter: 'expert-choice' },
      2,
    ),
    'mixture-of-depths (12.5%)': build({ kind: 'mod' }, 3),
  };
  const x = tf.randomNormal([BATCH, SEQ, BENCH.width], 0, 1, 'float32', 3) as Tensor3D;
  const dy = tf.randomNormal([BATCH, SEQ, BENCH.width], 0, 1, 'float32', 4);
  const grad = (f: (x: Tensor) => Tensor) => () =>
    tf.grads((xx: Tensor) => tf.sum(tf.mul(f(xx), dy)) as Scalar)([x]);
  try {
    const denseMs = bestTimeMs(
      grad((xx) => dense.forward(xx as Tensor3D, { training: true }).output),
      reps,
    );
    const out: Record<string, { ms: number; denseBlockMs: number; fractionOfDenseBlock: number }> =
      {};
    for (const [name, block] of Object.entries(routed)) {
      const { router, capacity } = block.stages()[0]!;
      const ms = bestTimeMs(
        grad((xx) => {
          const plan = router.route(xx as Tensor3D, { training: true, capacity });
          const aux = Object.values(plan.auxLosses).reduce<Tensor>(
            (a, l) => tf.add(a, l),
            tf.scalar(0),
          );
          return tf.add(combineRows(plan, dispatchRows(plan, xx as Tensor3D)), aux);
        }),
        reps,
      );
      out[name] = { ms, denseBlockMs: denseMs, fractionOfDenseBlock: ms / denseMs };
    }
    return out;
  } finally {
    store.dispose();
    for (const b of [dense, ...Object.values(routed)]) for (const r of b.routers()) r.dispose();
    tf.dispose([x, dy]);
  }
}

export interface TrainingBenchOptions {
  readonly backend: string;
  /** wasm kernel threads (default: MODEROUTE_THREADS, else all cores; 1 with replicas). */
  readonly threads?: number;
  /** Data-parallel replicas of each variant's steps, as `--replicas` (1: one thread of control on the backend's own kernel threads). */
  readonly replicas: ReplicasFlag;
  /** Timed training steps per variant after 2 warm-up steps (the best is reported). */
  readonly steps: number;
  /** Passes over all variants, each on a fresh model; each variant keeps its best pass. */
  readonly passes: number;
  /** Variants to run (default all); skips the routing table. */
  readonly only?: readonly string[];
  /** Also train dense with the attention of before issue 7, right after dense. */
  readonly baseline: boolean;
  readonly optimizer: OptimizerName;
  /** Also train dense and MoD with tf.train.adam, each right after its AdamW run. */
  readonly compareAdam: boolean;
  /** The PyTorch peer script, or undefined to skip it. */
  readonly peer: string | undefined;
  /** Progress notes (stderr). */
  readonly log: (line: string) => void;
}

/** Runs the benchmark; returns the report (the JSON of `--json`). */
export async function benchmarkTraining(options: TrainingBenchOptions) {
  const { steps, passes, only } = options;
  const optimizerName = options.optimizer;
  for (const name of only ?? [])
    if (!(name in VARIANTS))
      throw new ConfigError('--only', name, `variants among ${Object.keys(VARIANTS).join(', ')}`);
  // The baseline's attention is bound in a container of its own, which worker replicas cannot
  // load: its A/B against dense would compare one replica with several.
  // ("auto" then means one replica.)
  if (options.baseline && options.replicas !== 'auto' && options.replicas > 1)
    throw new ConfigError(
      '--baseline',
      true,
      'used with --replicas 1 (the baseline attention trains on one replica only)',
    );
  // The backend and replicas as the training commands choose them. One pool of worker replicas
  // serves every variant in turn (warm threads, as in a long run); the peak is then the
  // replicas' matmul throughput at once.
  const setup = await startTraining(
    {
      backend: options.backend,
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      replicas: options.baseline ? 1 : options.replicas,
    },
    BATCH,
  );
  const { info, replicas, pool } = setup;
  const log = options.log;
  log(`benchmarking training steps on ${describeTraining(setup)} ...`);
  try {
    const peakBefore = pool ? await pool.matmulPeakGflops() : matmulPeakGflops();
    // The peer runs before and after moderoute's variants; each figure is the better of the two
    // (as the matmul peak), since other work on a shared machine only ever adds time.
    const runPeerOnce = (): PeerResult => {
      if (options.peer === undefined) return { available: false, reason: '--no-peer' };
      log(`  peer (${options.peer}) ...`);
      return runPeer(options.peer);
    };
    const peerBefore = runPeerOnce();
    const variants: Record<string, VariantResult> = {};
    const better = (key: string, r: VariantResult) => {
      const prev = variants[key];
      variants[key] = prev === undefined || r.msPerStep < prev.msPerStep ? r : prev;
    };
    // Every variant is trained in each pass (a fresh model each time) and keeps its best pass: on a
    // shared machine a variant then does not owe its figure to where in the run it happened to be.
    for (let pass = 0; pass < passes; pass++) {
      for (const [name, config] of Object.entries(VARIANTS)) {
        if (only !== undefined && !only.includes(name)) continue;
        log(`  ${name} (pass ${pass + 1} of ${passes}) ...`);
        better(name, await benchVariant(config, steps, optimizerName, createContainer(), pool));
        if (name === 'dense' && options.baseline) {
          log('  dense_baseline_attention ...');
          better(
            'dense_baseline_attention',
            await benchVariant(config, steps, optimizerName, baselineContainer()),
          );
        }
        if (
          (name === 'dense' || name === 'mod') &&
          options.compareAdam &&
          optimizerName !== 'adam'
        ) {
          log(`  ${name}_tf_adam ...`);
          better(
            `${name}_tf_adam`,
            await benchVariant(config, steps, 'adam', createContainer(), pool),
          );
        }
      }
    }
    let routing: ReturnType<typeof benchRouting> | undefined;
    if (only === undefined) {
      log('  routing overhead ...');
      routing = benchRouting(steps * 2);
    }
    const peak = Math.max(peakBefore, pool ? await pool.matmulPeakGflops() : matmulPeakGflops());
    for (const v of Object.values(variants)) v.fractionOfPeak = v.gflops / peak;
    const peer = peerBefore.available ? betterPeer(peerBefore, runPeerOnce()) : peerBefore;
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    const dense = variants['dense'];
    const mod = variants['mod'];
    const moe = variants['moe'];
    const report = {
      backend: info.name,
      threads: info.threads,
      replicas,
      info: describeTraining(setup),
      matmulPeakGflops: peak,
      peakRssMb,
      config: { ...BENCH, batch: BATCH, seqLen: SEQ, optimizer: optimizerName },
      variants,
      ...(dense && mod
        ? {
            modOverDense: {
              measured: mod.msPerStep / dense.msPerStep,
              analytic: mod.flopsPerStep / dense.flopsPerStep,
            },
          }
        : {}),
      ...(dense && moe ? { moeOverDense: moe.msPerStep / dense.msPerStep } : {}),
      ...(routing ? { routing } : {}),
      ...(peer.available
        ? {
            peer: {
              denseMsPerStep: peer.denseMsPerStep,
              modMsPerStep: peer.modMsPerStep,
              torch: peer.torch,
              threads: peer.threads,
            },
            overPeer: {
              dense: dense ? dense.msPerStep / peer.denseMsPerStep : null,
              mod: mod ? mod.msPerStep / peer.modMsPerStep : null,
            },
          }
        : { peerUnavailable: peer.reason }),
    };
    return report;
  } finally {
    await pool?.close();
  }
}

export type TrainingBenchReport = Awaited<ReturnType<typeof benchmarkTraining>>;

/** The report as tables and lines of text. */
export function formatTrainingReport(report: TrainingBenchReport, tty: boolean): string[] {
  const lines: string[] = [];
  const { variants, routing } = report;
  const peak = report.matmulPeakGflops;
  const dense = variants['dense'];
  const peer = 'peer' in report ? report.peer : undefined;
  const style = tty ? {} : { style: { head: [], border: [] } };
  const how =
    report.replicas > 1 ? 'plain 2-D matmul peak of the replicas at once' : 'plain 2-D matmul peak';
  lines.push(
    `\n${report.info}; ${how} ${peak.toFixed(2)} GFLOP/s; peak RSS ${report.peakRssMb.toFixed(0)} MB`,
  );
  const peerMs: Record<string, number> = peer
    ? { dense: peer.denseMsPerStep, mod: peer.modMsPerStep }
    : {};
  const t = new Table({
    head: [
      'variant',
      'ms/step',
      'tokens/s',
      'GFLOP/step',
      'GFLOP/s',
      'of peak',
      'x dense time',
      'x dense FLOPs',
      'x peer time',
      'params',
    ],
    ...style,
  });
  for (const [name, v] of Object.entries(variants)) {
    const p = peerMs[name];
    t.push([
      name,
      v.msPerStep.toFixed(1),
      v.tokensPerSec.toFixed(0),
      (v.flopsPerStep / 1e9).toFixed(2),
      v.gflops.toFixed(2),
      `${(100 * v.fractionOfPeak).toFixed(0)}%`,
      dense ? (v.msPerStep / dense.msPerStep).toFixed(2) : '-',
      dense ? (v.flopsPerStep / dense.flopsPerStep).toFixed(2) : '-',
      p !== undefined ? (v.msPerStep / p).toFixed(2) : '-',
      String(v.parameters),
    ]);
  }
  lines.push(t.toString());
  if (peer) {
    lines.push(
      `peer: PyTorch ${peer.torch}, ${peer.threads} thread(s), same config, same run (better of a run before and one after): dense ${peer.denseMsPerStep} ms/step, MoD ${peer.modMsPerStep} ms/step (target: moderoute at most 2x)`,
    );
  } else {
    lines.push(
      `peer: skipped (${'peerUnavailable' in report ? report.peerUnavailable : 'unavailable'})`,
    );
  }
  if (report.modOverDense) {
    const m = report.modOverDense;
    lines.push(
      `MoD/dense step time ${m.measured.toFixed(3)} vs analytic FLOP ratio ${m.analytic.toFixed(3)} (target: at most 1.1x: ${(m.measured / m.analytic).toFixed(2)}x)`,
    );
  }
  if (routing) {
    const r = new Table({
      head: ['routing (fwd+bwd)', 'ms', 'dense block ms', 'of dense block'],
      ...style,
    });
    for (const [name, v] of Object.entries(routing))
      r.push([
        name,
        v.ms.toFixed(2),
        v.denseBlockMs.toFixed(2),
        `${(100 * v.fractionOfDenseBlock).toFixed(1)}%`,
      ]);
    lines.push(r.toString());
  }
  return lines;
}
