// `moderoute bench`: training steps per variant at the bench config, side by side in one run,
// against the backend's matmul peak and (where installed) the PyTorch peer; routing overhead.
// The benchmark itself lives in @moderoute/experiments; this file parses the flags and composes.
import { Command } from 'commander';
import { BLOCKS_IDS } from '@moderoute/blocks';
import {
  BATCH,
  DEFAULT_PEER_SCRIPT,
  OPTIMIZERS,
  VARIANTS,
  baselineModule,
  benchmarkTraining,
  formatTrainingReport,
  type OptimizerName,
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
  peer: string | false;
  json: boolean;
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
      'timed steps per variant after 2 warm-up steps; the best is reported',
      intOption('--steps', 1),
      5,
    )
    .option(
      '--passes <n>',
      'passes over all variants, each on a fresh model; each variant keeps its best',
      intOption('--passes', 1),
      2,
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
    .option('--peer <script>', 'the PyTorch peer script', DEFAULT_PEER_SCRIPT)
    .option('--no-peer', 'skip the PyTorch peer')
    .option('--json', 'one JSON object instead of tables', false)
    .action(async (flags: BenchFlags) => {
      // The composition roots of the bench: built-in modules, and the baseline attention's.
      const container = createContainer();
      const factories = {
        models: container.get(MODEL_IDS.ModelFactory),
        baselineModels: createContainer(baselineModule).get(MODEL_IDS.ModelFactory),
        blocks: container.get(BLOCKS_IDS.BlockFactory),
      };
      const report = await benchmarkTraining(
        {
          start: async (replicas) => {
            const setup = await startTraining(
              {
                backend: flags.backend,
                ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
                replicas,
              },
              BATCH,
            );
            return { ...setup, description: describeTraining(setup) };
          },
          replicas: flags.replicas,
          steps: flags.steps,
          passes: flags.passes,
          ...(flags.only ? { only: flags.only.split(',') } : {}),
          baseline: flags.baseline,
          optimizer: flags.optimizer,
          compareAdam: flags.compareAdam,
          peer: flags.peer === false ? undefined : flags.peer,
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
