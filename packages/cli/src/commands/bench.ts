// `moderoute bench`: training steps per variant at the bench config, side by side in one run,
// against the backend's matmul peak and (where installed) the PyTorch peer; routing overhead.
// The benchmark itself lives in @moderoute/experiments; this file parses the flags and composes.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Command, Option } from 'commander';
import { BLOCKS_IDS } from '@moderoute/blocks';
import {
  BATCH,
  DEFAULT_PEER_SCRIPT,
  DEFAULT_TFJS_PEER_SCRIPT,
  OPTIMIZERS,
  OWN_KERNELS_MODES,
  VARIANTS,
  baselineModule,
  benchmarkTraining,
  formatTrainingReport,
  probeVariantMemory,
  type OptimizerName,
  type OwnKernelsMode,
  type VariantMemory,
} from '@moderoute/experiments';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import type { Io } from '../output.js';
import {
  choiceOption,
  describeTraining,
  intOption,
  replicasOption,
  startTraining,
  threadsOption,
  type ReplicasFlag,
} from '../options.js';

interface BenchFlags {
  backend: string;
  threads?: number;
  replicas: ReplicasFlag;
  steps: number;
  passes: number;
  only?: string;
  baseline: boolean;
  optimizer: OptimizerName;
  compareAdam: boolean;
  ownKernels: OwnKernelsMode;
  peer: string | false;
  tfjsPeer: string | false;
  memory: boolean;
  memoryOf?: string;
  json: boolean;
}

/**
 * This command's own entry for a child Node: the built bin.js, or from the sources (tsx, the
 * `@moderoute/source` condition, as in the specs) bin.ts through tsx.
 */
function selfCommand(): string[] {
  const here = import.meta.url;
  if (!/\.[cm]?ts$/.test(new URL(here).pathname))
    return [fileURLToPath(new URL('../bin.js', here))];
  return [
    '--conditions=@moderoute/source',
    '--import',
    pathToFileURL(createRequire(here).resolve('tsx')).href,
    fileURLToPath(new URL('../bin.ts', here)),
  ];
}

/**
 * The arguments of `bench --memory-of variant` after this command's own entry: the same backend,
 * threads, replicas and optimizer, and core's own kernels off if the bench runs them off.
 */
export function memoryChildArgs(
  variant: string,
  flags: Pick<BenchFlags, 'backend' | 'threads' | 'replicas' | 'optimizer' | 'ownKernels'>,
): string[] {
  return [
    'bench',
    '--memory-of',
    variant,
    '--backend',
    flags.backend,
    '--replicas',
    String(flags.replicas),
    '--optimizer',
    flags.optimizer,
    ...(flags.threads !== undefined ? ['--threads', String(flags.threads)] : []),
    ...(flags.ownKernels === 'off' ? ['--own-kernels', 'off'] : []),
  ];
}

/**
 * A variant's memory, measured by this command in a process of its own (`--memory-of`,
 * memoryChildArgs): its last stdout line is the JSON.
 */
async function memoryInChild(variant: string, flags: BenchFlags): Promise<VariantMemory> {
  const args = [...selfCommand(), ...memoryChildArgs(variant, flags)];
  const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 300_000 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as VariantMemory;
}

/** `moderoute bench`: the training-step benchmark of @moderoute/experiments, from its flags. */
export function benchCommand(io: Io): Command {
  return new Command('bench')
    .description(
      'Time training steps of every variant at the bench config (vocab 256, width 128, ' +
        '4 layers, 4 heads, T 128, batch 8) side by side, with the matmul peak, the ' +
        'PyTorch peer where installed, and routing overhead',
    )
    .option('--backend <name>', 'tensorflow, wasm or cpu', 'wasm')
    .addOption(threadsOption())
    .addOption(replicasOption())
    .option(
      '--steps <n>',
      'timed steps per variant and pass after 2 warm-up steps; the median is the pass figure',
      intOption('--steps', 1),
      5,
    )
    .option(
      '--passes <n>',
      'interleaved passes over all variants, each on fresh models; figures are medians over the passes',
      intOption('--passes', 1),
      3,
    )
    .option(
      '--only <names>',
      `comma-separated variants (default all: ${Object.keys(VARIANTS).join(', ')}); skips the routing table`,
    )
    .option(
      '--baseline',
      'also train dense with the attention before the 3-D rewrite (A/B in one run; with --replicas 1)',
      false,
    )
    .option(
      '--optimizer <name>',
      "adamw (the trainer's) or adam (tf.train.adam)",
      choiceOption('--optimizer', OPTIMIZERS),
      'adamw',
    )
    .option('--compare-adam', 'also train dense and MoD with tf.train.adam', false)
    .option(
      '--own-kernels <mode>',
      "core's own wasm kernels: on, off, or both (each variant also runs with them off as " +
        '"<name> (tfjs kernels)", interleaved step by step, and the report gives the own/tfjs ' +
        'step-time ratio per variant); overrides MODEROUTE_OWN_KERNELS, on every replica',
      choiceOption('--own-kernels', OWN_KERNELS_MODES),
      'on',
    )
    .option('--peer <script>', 'the PyTorch peer script', DEFAULT_PEER_SCRIPT)
    .option('--no-peer', 'skip both peers (PyTorch and TF.js)')
    .option('--tfjs-peer <script>', 'the plain TF.js peer script', DEFAULT_TFJS_PEER_SCRIPT)
    .option('--no-tfjs-peer', 'skip the TF.js peer')
    .option('--no-memory', "skip each variant's memory (a process of its own per variant)")
    .addOption(
      new Option('--memory-of <variant>', "print one variant's memory as JSON (used by bench)")
        .choices(Object.keys(VARIANTS))
        .hideHelp(),
    )
    .option('--json', 'one JSON object instead of tables', false)
    .action(async (flags: BenchFlags) => {
      // The composition roots of the bench: built-in modules, and the baseline attention's.
      const container = createContainer();
      const factories = {
        models: container.get(MODEL_IDS.ModelFactory),
        baselineModels: createContainer(baselineModule).get(MODEL_IDS.ModelFactory),
        blocks: container.get(BLOCKS_IDS.BlockFactory),
      };
      const start = async (replicas: ReplicasFlag) => {
        const setup = await startTraining(
          {
            backend: flags.backend,
            ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
            replicas,
          },
          BATCH,
        );
        return { ...setup, description: describeTraining(setup) };
      };
      if (flags.memoryOf !== undefined) {
        const { pool } = await start(flags.replicas);
        try {
          const config = VARIANTS[flags.memoryOf]!;
          io.out(
            JSON.stringify(
              await probeVariantMemory(
                config,
                flags.optimizer,
                factories.models,
                pool,
                3,
                flags.ownKernels !== 'off',
              ),
            ),
          );
        } finally {
          await pool?.close();
        }
        return;
      }
      const report = await benchmarkTraining(
        {
          start,
          replicas: flags.replicas,
          steps: flags.steps,
          passes: flags.passes,
          ...(flags.only ? { only: flags.only.split(',') } : {}),
          baseline: flags.baseline,
          optimizer: flags.optimizer,
          compareAdam: flags.compareAdam,
          ownKernels: flags.ownKernels,
          peer: flags.peer === false ? undefined : flags.peer,
          tfjsPeer: flags.peer === false || flags.tfjsPeer === false ? undefined : flags.tfjsPeer,
          ...(flags.memory ? { memoryOf: (variant: string) => memoryInChild(variant, flags) } : {}),
          log: (line) => (flags.json ? undefined : io.err(line)),
        },
        factories,
      );
      if (flags.json) io.out(JSON.stringify(report));
      else
        for (const line of formatTrainingReport(report, process.stdout.isTTY === true))
          io.out(line);
    });
}
