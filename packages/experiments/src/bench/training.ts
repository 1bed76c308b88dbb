// The training-step benchmark behind `moderoute bench` (and `pnpm bench`): training steps at the
// bench config on one backend, for every block kind, interleaved step by step in repeated passes
// (passes.ts) with the PyTorch peer (peers/torch.ts), the plain TF.js peer (peers/tfjs.ts) and
// the backend's 2-D matmul peak, core's own kernels on, off or both (each variant then also with
// them off, interleaved); each variant's memory in a process of its own (memory.ts); the ratios
// pass by pass (benchRatios.ts); and the cost of routing itself (routingOverhead.ts). The bench
// config is config.ts's; its models come from the factories the command passes, and its backend
// and replicas from the command's `start` (the composition root is the command, commands/bench.ts
// of @moderoute/cli); its options are trainingOptions.ts's.
import { ConfigError, matmulPeakGflops, withOwnKernels, type PeakProduct } from '@moderoute/core';
import { benchRatios } from './benchRatios.js';
import {
  BATCH,
  BENCH,
  OWN_KERNELS_MODES,
  OWN_PEAK,
  PAIRED_MOD_DENSE,
  SEQ,
  VARIANTS,
  tfjsKernelsTwin,
} from './config.js';
import { processMemory, type VariantMemory } from './memory.js';
import {
  interleavedSteps,
  mediansOf,
  pairedRatio,
  spreadOf,
  type Runner,
  type Spread,
} from './passes.js';
import { startTfjsPeer, type TfjsPeer } from './peers/tfjs.js';
import { startTorchPeer, type TorchPeer } from './peers/torch.js';
import { benchRouting, type RoutingOverhead } from './routingOverhead.js';
import type { BenchFactories, TrainingBenchOptions, VariantFigures } from './trainingOptions.js';
import { startVariant, type DataParallelStepTimes, type VariantRunner } from './variant.js';
import { medianPhases, phaseReport, phasesOf, type StepPhases } from './phases.js';

export type {
  BenchFactories,
  BenchSetup,
  ReplicasFlag,
  TrainingBenchOptions,
  VariantFigures,
} from './trainingOptions.js';

/** Warm-up rounds of each pass, before the timed ones. */
const WARMUP = 2;

/** Runs the benchmark; returns the report (the JSON of `--json`). */
export async function benchmarkTraining(options: TrainingBenchOptions, factories: BenchFactories) {
  const { steps, passes, only, log } = options;
  const optimizerName = options.optimizer;
  const mode = options.ownKernels ?? 'on';
  if (!OWN_KERNELS_MODES.includes(mode))
    throw new ConfigError('--own-kernels', mode, `one of ${OWN_KERNELS_MODES.join(', ')}`);
  const ownKernels = mode !== 'off';
  const withKernels = { ownKernels };
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
  const twins = mode === 'both' ? selected.map(([n]) => n) : [];
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
    const peakOf = (product: PeakProduct) => () =>
      pool ? pool.matmulPeakGflops(5, product) : Promise.resolve(matmulPeakGflops(5, product));
    const peak: Runner = { name: 'peak', step: peakOf('tfjs') };
    // With core's own kernels, the same peak measured with core's own product, which beats
    // tfjs's on the peak's shape (docs/performance.md): the stricter yardstick, reported beside.
    const ownPeak: Runner[] = ownKernels ? [{ name: OWN_PEAK, step: peakOf('own') }] : [];
    const passFigures: Record<string, number>[] = [];
    const passPhases: Record<string, StepPhases>[] = [];
    const flops: Record<string, number> = {};
    const parameters: Record<string, number> = {};
    for (let pass = 0; pass < passes; pass++) {
      log(`  pass ${pass + 1} of ${passes}: the matmul peak and every variant, step by step ...`);
      const own: [string, VariantRunner][] = [];
      try {
        for (const [name, config] of selected) {
          const start = (kernels: { ownKernels: boolean }) =>
            startVariant(config, optimizerName, factories.models, pool, kernels);
          own.push([name, await start(withKernels)]);
          if (mode === 'both')
            own.push([tfjsKernelsTwin(name), await start({ ownKernels: false })]);
          if (name === 'dense' && options.baseline)
            own.push([
              'dense_baseline_attention',
              await startVariant(
                config,
                optimizerName,
                factories.baselineModels,
                undefined,
                withKernels,
              ),
            ]);
          if (
            (name === 'dense' || name === 'mod') &&
            options.compareAdam &&
            optimizerName !== 'adam'
          )
            own.push([
              `${name}_tf_adam`,
              await startVariant(config, 'adam', factories.models, pool, withKernels),
            ]);
        }
        // Each variant's data-parallel phases, step by step (warm-up rounds included).
        const stepTimes: Record<string, DataParallelStepTimes[]> = {};
        const timed = ([name, r]: [string, VariantRunner]): Runner => ({
          name,
          step: async () => {
            const ms = await r.step();
            const times = r.phases();
            if (times) (stepTimes[name] ??= []).push(times);
            return ms;
          },
        });
        const runners: Runner[] = [peak, ...ownPeak, ...own.map(timed)];
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
        const pairs = twins.map((n) => [n, tfjsKernelsTwin(n)] as const);
        const times = await interleavedSteps(runners, WARMUP, steps, pairs);
        passPhases.push(
          Object.fromEntries(
            Object.entries(stepTimes).map(([name, list]) => [
              name,
              medianPhases(list.slice(WARMUP).map(phasesOf)),
            ]),
          ),
        );
        const paired = pairedRatio(times, 'mod', 'dense');
        passFigures.push({
          ...mediansOf(times),
          ...(paired === undefined ? {} : { [PAIRED_MOD_DENSE]: paired }),
        });
      } finally {
        for (const [, r] of own) await r.dispose();
      }
    }
    let routing: RoutingOverhead | undefined;
    if (only === undefined) {
      log('  routing overhead ...');
      routing = withOwnKernels(ownKernels, () => benchRouting(steps * 2, factories.blocks));
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
        ownKernels: ownKernels && !twins.some((t) => tfjsKernelsTwin(t) === name),
        ...(memory[name] ? { memory: memory[name] } : {}),
      };
    }
    const analytic = flops['mod'] && flops['dense'] ? flops['mod'] / flops['dense'] : undefined;
    const ratios = benchRatios(passFigures, flops, twins);
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
      ownKernels: mode,
      matmulPeakGflops: peakSpread.median,
      matmulPeakSpread: peakSpread,
      /** The same peak with core's own product (absent without own kernels, or where they do not serve). */
      ...finitePeak(passFigures, OWN_PEAK, 'ownProductPeakSpread'),
      /** This process's peak RSS, every variant's model alive at once in each pass. */
      peakRssMb: processMemory().peakRssMb,
      config: { ...BENCH, batch: BATCH, seqLen: SEQ, optimizer: optimizerName },
      variants,
      ratios,
      ...(dense && mod && analytic
        ? { modOverDense: { measured: ratios['mod / dense']!.median, analytic } }
        : {}),
      ...(dense && moe ? { moeOverDense: ratios['moe / dense']!.median } : {}),
      ...(routing ? { routing } : {}),
      ...(passPhases.some((p) => Object.keys(p).length > 0)
        ? { phases: phaseReport(passPhases, analytic) }
        : {}),
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

/** `{ [key]: spread }` of runner `name`'s finite pass figures, or nothing when there are none. */
function finitePeak<K extends string>(
  passes: readonly Record<string, number>[],
  name: string,
  key: K,
): Partial<Record<K, Spread>> {
  const xs = passes.map((p) => p[name]).filter((x): x is number => Number.isFinite(x));
  return xs.length > 0 ? ({ [key]: spreadOf(xs) } as Partial<Record<K, Spread>>) : {};
}
