// The training-step benchmark behind `moderoute bench` (and `pnpm bench`): training steps at the
// bench config on one backend, for every block kind, measured side by side in one run, with the
// backend's 2-D matmul peak and the PyTorch peer (peer.ts); and the cost of routing itself
// (routingOverhead.ts). The bench config is config.ts's; its models come from the factories the
// command passes, and its backend and replicas from the command's `start` (the composition root
// is the command, commands/bench.ts of @moderoute/cli).
import { ConfigError, matmulPeakGflops, type BackendInfo } from '@moderoute/core';
import type { BlockFactory } from '@moderoute/blocks';
import type { ModelFactory } from '@moderoute/model';
import type { ReplicaPool } from '@moderoute/train';
import { BATCH, BENCH, SEQ, VARIANTS, type OptimizerName } from './config.js';
import { betterPeer, runPeer, type PeerResult } from './peer.js';
import { benchRouting, type RoutingOverhead } from './routingOverhead.js';
import { benchVariant, type VariantResult } from './variant.js';

/** What the bench builds its models and blocks with (from the command's containers). */
export interface BenchFactories {
  /** Builds the variants' models. */
  readonly models: ModelFactory;
  /** Builds the dense model of `--baseline`, its attention rebound to the baseline one. */
  readonly baselineModels: ModelFactory;
  /** Builds the blocks of the routing-overhead table. */
  readonly blocks: BlockFactory;
}

/** Data-parallel replicas as the `--replicas` flag gives them: a count, or every core. */
export type ReplicasFlag = number | 'auto';

/** The backend and replicas a bench runs on, as the caller's `start` set them up. */
export interface BenchSetup {
  /** The backend initBackend chose. */
  readonly info: BackendInfo;
  /** Data-parallel replicas, the training thread included (1: no pool). */
  readonly replicas: number;
  /** The worker replicas when `replicas` > 1; the bench closes it when done. */
  readonly pool?: ReplicaPool;
  /** One line saying what runs (the backend, the replicas, any note), for the log and report. */
  readonly description: string;
}

/** How a training benchmark runs: what to time, how often, and against what. */
export interface TrainingBenchOptions {
  /**
   * Starts the backend and the replica pool for `replicas` replicas at the bench's batch size
   * (`BATCH`), as the training commands do; called once, after the options are checked.
   */
  readonly start: (replicas: ReplicasFlag) => Promise<BenchSetup>;
  /**
   * Data-parallel replicas of each variant's steps, as `--replicas` (1: one thread of control on
   * the backend's own kernel threads).
   */
  readonly replicas: ReplicasFlag;
  /** Timed training steps per variant after 2 warm-up steps (the best is reported). */
  readonly steps: number;
  /** Passes over all variants, each on a fresh model; each variant keeps its best pass. */
  readonly passes: number;
  /** Variants to run (default all); skips the routing table. */
  readonly only?: readonly string[];
  /** Also train dense with the baseline attention (baselineAttention.ts), right after dense. */
  readonly baseline: boolean;
  /** The optimizer of every variant's steps: the trainer's AdamW or tf.train.adam. */
  readonly optimizer: OptimizerName;
  /** Also train dense and MoD with tf.train.adam, each right after its AdamW run. */
  readonly compareAdam: boolean;
  /** The PyTorch peer script, or undefined to skip it. */
  readonly peer: string | undefined;
  /** Progress notes (stderr). */
  readonly log: (line: string) => void;
}

/** Runs the benchmark; returns the report (the JSON of `--json`). */
export async function benchmarkTraining(options: TrainingBenchOptions, factories: BenchFactories) {
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
  const setup = await options.start(options.baseline ? 1 : options.replicas);
  const { info, replicas, pool } = setup;
  const log = options.log;
  log(`benchmarking training steps on ${setup.description} ...`);
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
        better(name, await benchVariant(config, steps, optimizerName, factories.models, pool));
        if (name === 'dense' && options.baseline) {
          log('  dense_baseline_attention ...');
          better(
            'dense_baseline_attention',
            await benchVariant(config, steps, optimizerName, factories.baselineModels),
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
            await benchVariant(config, steps, 'adam', factories.models, pool),
          );
        }
      }
    }
    let routing: RoutingOverhead | undefined;
    if (only === undefined) {
      log('  routing overhead ...');
      routing = benchRouting(steps * 2, factories.blocks);
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
      info: setup.description,
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

/**
 * The training benchmark's report: step times per variant, the matmul peak, routing overhead, the
 * peer (the JSON of `bench --json`).
 */
export type TrainingBenchReport = Awaited<ReturnType<typeof benchmarkTraining>>;
