// The training-step benchmark behind `moderoute bench` (and `pnpm bench`): training steps at the
// bench config on one backend, for every block kind, interleaved step by step in repeated passes
// (passes.ts) with the PyTorch peer (peers/torch.ts), the plain TF.js peer (peers/tfjs.ts) and
// the backend's 2-D matmul peak; each variant's memory in a process of its own
// (memory.ts); and the cost of routing itself (routingOverhead.ts). The bench config is
// config.ts's; its models come from the factories the command passes, and its backend and
// replicas from the command's `start` (the composition root is the command, commands/bench.ts of
// @moderoute/cli).
import { ConfigError, matmulPeakGflops, type BackendInfo } from '@moderoute/core';
import type { BlockFactory } from '@moderoute/blocks';
import type { ModelFactory } from '@moderoute/model';
import type { ReplicaPool } from '@moderoute/train';
import { BATCH, BENCH, SEQ, VARIANTS, type OptimizerName } from './config.js';
import { processMemory, type VariantMemory } from './memory.js';
import { interleavedMedians, ratioSpreads, spreadOf, type Runner, type Spread } from './passes.js';
import { startTfjsPeer, type TfjsPeer } from './peers/tfjs.js';
import { startTorchPeer, type TorchPeer } from './peers/torch.js';
import { benchRouting, type RoutingOverhead } from './routingOverhead.js';
import { startVariant, type VariantRunner } from './variant.js';

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
  /** Timed training steps per variant and pass after 2 warm-up steps (the median is the pass's). */
  readonly steps: number;
  /** Interleaved passes over all variants, each on fresh models (figures: median over passes). */
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
  /** The TF.js peer script, or undefined to skip it. */
  readonly tfjsPeer: string | undefined;
  /**
   * Measures a variant's memory in a process of its own (`moderoute bench --memory-of`), or
   * undefined to skip the memory column.
   */
  readonly memoryOf?: (variant: string) => Promise<VariantMemory>;
  /** Progress notes (stderr). */
  readonly log: (line: string) => void;
}

/** A variant's figures: medians over the passes. */
export interface VariantFigures {
  /** Median over the passes of each pass's median step. */
  msPerStep: number;
  /** Each pass's median step. */
  msPerStepPasses: number[];
  tokensPerSec: number;
  flopsPerStep: number;
  gflops: number;
  /** Median over the passes of gflops over the pass's matmul peak. */
  fractionOfPeak: number;
  parameters: number;
  memory?: VariantMemory | { error: string };
}

/** Runs the benchmark; returns the report (the JSON of `--json`). */
export async function benchmarkTraining(options: TrainingBenchOptions, factories: BenchFactories) {
  const { steps, passes, only, log } = options;
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
  const selected = Object.entries(VARIANTS).filter(([n]) => only === undefined || only.includes(n));
  // Memory first, each variant in a process of its own, before this one holds anything.
  const memory: Record<string, VariantMemory | { error: string }> = {};
  if (options.memoryOf)
    for (const [name] of selected) {
      log(`  memory of ${name} (a process of its own) ...`);
      memory[name] = await options.memoryOf(name).catch((e: unknown) => ({
        error: e instanceof Error ? e.message : String(e),
      }));
    }
  const setup = await options.start(options.baseline ? 1 : options.replicas);
  const { info, replicas, pool } = setup;
  log(`benchmarking training steps on ${setup.description} ...`);
  const torch: TorchPeer =
    options.peer === undefined
      ? { available: false, reason: '--no-peer' }
      : await startTorchPeer(options.peer);
  const tfjs: TfjsPeer =
    options.tfjsPeer === undefined
      ? { available: false, reason: '--no-tfjs-peer' }
      : await startTfjsPeer(options.tfjsPeer);
  try {
    // The peak is a runner of the rounds too (best of 5 products per round), so that a busy host
    // moves it with the steps it is compared with.
    const peak: Runner = {
      name: 'peak',
      step: () => (pool ? pool.matmulPeakGflops(5) : Promise.resolve(matmulPeakGflops(5))),
    };
    const passFigures: Record<string, number>[] = [];
    const flops: Record<string, number> = {};
    const parameters: Record<string, number> = {};
    for (let pass = 0; pass < passes; pass++) {
      log(`  pass ${pass + 1} of ${passes}: the matmul peak and every variant, step by step ...`);
      const own: [string, VariantRunner][] = [];
      try {
        for (const [name, config] of selected) {
          own.push([name, await startVariant(config, optimizerName, factories.models, pool)]);
          if (name === 'dense' && options.baseline)
            own.push([
              'dense_baseline_attention',
              await startVariant(config, optimizerName, factories.baselineModels),
            ]);
          if (
            (name === 'dense' || name === 'mod') &&
            options.compareAdam &&
            optimizerName !== 'adam'
          )
            own.push([
              `${name}_tf_adam`,
              await startVariant(config, 'adam', factories.models, pool),
            ]);
        }
        const runners: Runner[] = [
          peak,
          ...own.map(([name, r]) => ({ name, step: () => r.step() })),
        ];
        for (const [name, r] of own)
          [flops[name], parameters[name]] = [r.flopsPerStep, r.parameters];
        if (torch.available)
          for (const v of ['dense', 'mod'] as const) {
            await torch.server.request(`new ${v}`);
            runners.push({ name: `pytorch_${v}`, step: () => torch.server.step(v) });
          }
        if (tfjs.available) {
          await tfjs.server.request('new dense');
          runners.push({ name: 'tfjs_dense', step: () => tfjs.server.step('dense') });
        }
        passFigures.push(await interleavedMedians(runners, 2, steps));
      } finally {
        for (const [, r] of own) await r.dispose();
      }
    }
    let routing: RoutingOverhead | undefined;
    if (only === undefined) {
      log('  routing overhead ...');
      routing = benchRouting(steps * 2, factories.blocks);
    }
    const variants: Record<string, VariantFigures> = {};
    for (const name of Object.keys(flops)) {
      const ms = spreadOf(passFigures.map((p) => p[name]!)).median;
      variants[name] = {
        msPerStep: ms,
        msPerStepPasses: passFigures.map((p) => p[name]!),
        tokensPerSec: (BATCH * SEQ) / (ms / 1000),
        flopsPerStep: flops[name]!,
        gflops: flops[name]! / ms / 1e6,
        fractionOfPeak: spreadOf(passFigures.map((p) => flops[name]! / p[name]! / 1e6 / p['peak']!))
          .median,
        parameters: parameters[name]!,
        ...(memory[name] ? { memory: memory[name] } : {}),
      };
    }
    const analytic = flops['mod'] && flops['dense'] ? flops['mod'] / flops['dense'] : undefined;
    const ratios = ratioSpreads(passFigures, {
      'dense of peak': (p) =>
        flops['dense'] ? flops['dense'] / p['dense']! / 1e6 / p['peak']! : undefined,
      ...Object.fromEntries(
        Object.keys(flops).map((n) => [
          `${n} / dense`,
          (p: Record<string, number>) => (p['dense'] ? p[n]! / p['dense'] : undefined),
        ]),
      ),
      'mod / dense over analytic': (p) =>
        analytic && p['dense'] && p['mod'] ? p['mod'] / p['dense'] / analytic : undefined,
      'dense / pytorch dense': (p) =>
        p['dense'] && p['pytorch_dense'] ? p['dense'] / p['pytorch_dense'] : undefined,
      'mod / pytorch mod': (p) =>
        p['mod'] && p['pytorch_mod'] ? p['mod'] / p['pytorch_mod'] : undefined,
      'tfjs dense / dense': (p) =>
        p['dense'] && p['tfjs_dense'] ? p['tfjs_dense'] / p['dense'] : undefined,
    });
    const median = (name: string) => spreadOf(passFigures.map((p) => p[name]!)).median;
    const peakSpread = spreadOf(passFigures.map((p) => p['peak']!));
    const dense = variants['dense'];
    const mod = variants['mod'];
    const moe = variants['moe'];
    const report = {
      backend: info.name,
      threads: info.threads,
      replicas,
      info: setup.description,
      passes,
      steps,
      matmulPeakGflops: peakSpread.median,
      matmulPeakSpread: peakSpread,
      /** This process's peak RSS, every variant's model alive at once in each pass. */
      peakRssMb: processMemory().peakRssMb,
      config: { ...BENCH, batch: BATCH, seqLen: SEQ, optimizer: optimizerName },
      variants,
      ratios: ratios as Record<string, Spread>,
      ...(dense && mod && analytic
        ? { modOverDense: { measured: ratios['mod / dense']!.median, analytic } }
        : {}),
      ...(dense && moe ? { moeOverDense: ratios['moe / dense']!.median } : {}),
      ...(routing ? { routing } : {}),
      ...(torch.available
        ? {
            peer: {
              denseMsPerStep: median('pytorch_dense'),
              modMsPerStep: median('pytorch_mod'),
              torch: torch.torch,
              threads: torch.threads,
              memory: await torch.server.memory(),
            },
            overPeer: {
              dense: ratios['dense / pytorch dense']?.median ?? null,
              mod: ratios['mod / pytorch mod']?.median ?? null,
            },
          }
        : { peerUnavailable: torch.reason }),
      ...(tfjs.available
        ? {
            tfjsPeer: {
              msPerStep: median('tfjs_dense'),
              tfjs: tfjs.tfjs,
              backend: tfjs.backend,
              memory: await tfjs.server.memory(),
            },
          }
        : { tfjsPeerUnavailable: tfjs.reason }),
    };
    return report;
  } finally {
    if (torch.available) await torch.server.close();
    if (tfjs.available) await tfjs.server.close();
    await pool?.close();
  }
}

/**
 * The training benchmark's report: step times per variant, the matmul peak, routing overhead, the
 * peers (the JSON of `bench --json`).
 */
export type TrainingBenchReport = Awaited<ReturnType<typeof benchmarkTraining>>;
