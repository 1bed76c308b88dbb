// `moderoute train`: one training run from a config file and/or flags, resumable, with a
// progress bar, a JSONL log and checkpoints in --out.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '@moderoute/core';
import {
  CorpusCache,
  DEFAULT_CHECKPOINT_MINUTES,
  DEFAULT_MAX_DATA_BYTES,
  MAX_DATA_BYTES_LIMIT,
  ProgressReporter,
  Trainer,
  type TrainConfig,
  type TrainResult,
} from '@moderoute/train';
import { EXIT, formatFlops, type Io } from '../output.js';
import {
  choiceOption,
  describeTraining,
  floatOption,
  intOption,
  replicasOption,
  startTraining,
  threadsOption,
  type ReplicasFlag,
} from '../options.js';
import { VARIANT_NAMES, variantModel, type VariantName } from '../variants.js';
import { interruptExitCode, withInterrupt } from '../signals.js';
import { dataPath, inputFile, outputFolder } from '../paths.js';

export interface TrainFlags {
  config?: string;
  variant?: VariantName;
  width?: number;
  layers?: number;
  heads?: number;
  context?: number;
  steps?: number;
  batchSize?: number;
  seqLen?: number;
  lr?: number;
  warmup?: number;
  evalEvery?: number;
  evalWindows?: number;
  checkpointEvery?: number;
  checkpointMinutes?: number;
  data?: string;
  maxDataBytes?: number;
  seed?: number;
  out: string;
  resume: boolean;
  backend?: string;
  threads?: number;
  replicas?: ReplicasFlag;
  json: boolean;
}

/** The run's TrainConfig: the config file (if any), then the flags over it. */
export function trainConfigFrom(flags: TrainFlags): TrainConfig {
  let file: Partial<TrainConfig> = {};
  if (flags.config !== undefined) {
    try {
      file = JSON.parse(readFileSync(flags.config, 'utf8')) as Partial<TrainConfig>;
    } catch (error) {
      throw new ConfigError(
        '--config',
        flags.config,
        `a readable JSON train config (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    if (file === null || typeof file !== 'object' || Array.isArray(file)) {
      throw new ConfigError(
        '--config',
        flags.config,
        `a JSON object ({"model": {...}, "steps": ...}), not ` +
          `${file === null ? 'null' : Array.isArray(file) ? 'an array' : `a ${typeof file}`}`,
      );
    }
  }
  const base = { ...(file.model ?? {}) };
  const model = {
    ...(flags.variant ? variantModel(flags.variant, base) : base),
    ...(flags.width !== undefined ? { width: flags.width } : {}),
    ...(flags.layers !== undefined ? { numLayers: flags.layers } : {}),
    ...(flags.heads !== undefined ? { numHeads: flags.heads } : {}),
    ...(flags.context !== undefined ? { contextLength: flags.context } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
  };
  const set = <K extends keyof TrainConfig>(key: K, value: TrainConfig[K] | undefined) =>
    value === undefined ? {} : { [key]: value };
  return {
    ...file,
    model,
    steps: flags.steps ?? file.steps ?? 200,
    ...set('batchSize', flags.batchSize),
    ...set('seqLen', flags.seqLen),
    ...set('learningRate', flags.lr),
    ...set('warmupSteps', flags.warmup),
    ...set('evalEvery', flags.evalEvery),
    ...set('evalWindows', flags.evalWindows),
    ...set('checkpointEvery', flags.checkpointEvery),
    ...set('checkpointMinutes', flags.checkpointMinutes),
    ...set('seed', flags.seed),
    ...(flags.data !== undefined ? { data: { kind: 'path' as const, path: flags.data } } : {}),
  };
}

/** A number of minutes >= 0. */
function minutesOption(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(
        `${name} (${JSON.stringify(value)}) must be a number of minutes >= 0`,
      );
    return n;
  };
}

export function trainCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('train')
    .description(
      'Train a model on the embedded corpus (or --data), with checkpoints and a ' +
        'metrics log in --out; an interrupted run continues when started again',
    )
    .option(
      '--config <file>',
      'JSON train config ({"model": {...}, "steps": ..., ...}; see docs/cli.md); flags override it',
      inputFile('--config'),
    )
    .option(
      '--variant <name>',
      `model variant at the bench size: ${VARIANT_NAMES.join(', ')}`,
      choiceOption('--variant', VARIANT_NAMES),
    )
    .option('--width <n>', 'model width D', intOption('--width', 1))
    .option('--layers <n>', 'number of blocks', intOption('--layers', 1))
    .option('--heads <n>', 'attention heads (must divide the width)', intOption('--heads', 1))
    .option('--context <n>', 'position table size: the longest sequence', intOption('--context', 1))
    .option('--steps <n>', 'optimizer steps in all (default 200)', intOption('--steps', 1))
    .option('--batch-size <n>', 'sequences per batch (default 8)', intOption('--batch-size', 1))
    .option(
      '--seq-len <n>',
      'tokens per training sequence (default: the context)',
      intOption('--seq-len', 1),
    )
    .option('--lr <x>', 'peak learning rate (default 3e-3)', floatOption('--lr'))
    .option(
      '--warmup <n>',
      'warm-up steps (default 10% of steps, at most 200)',
      intOption('--warmup', 0),
    )
    .option(
      '--eval-every <n>',
      'evaluate validation bits per byte every n steps (default: at the end)',
      intOption('--eval-every', 0),
    )
    .option(
      '--eval-windows <n>',
      'validation windows per evaluation (default 32)',
      intOption('--eval-windows', 1),
    )
    .option(
      '--checkpoint-every <n>',
      'also checkpoint every n steps (default 0: by time only, and at the end)',
      intOption('--checkpoint-every', 0),
    )
    .option(
      '--checkpoint-minutes <x>',
      `also checkpoint when x minutes passed since the last checkpoint, bounding the ` +
        `work a crash loses (default ${DEFAULT_CHECKPOINT_MINUTES}; 0: off)`,
      minutesOption('--checkpoint-minutes'),
    )
    .option(
      '--data <path>',
      'train on this text file or folder of .txt/.md files instead of the embedded ' +
        'corpus (regular files only, at most 1 GiB in all; see docs/cli.md)',
      dataPath('--data'),
    )
    .option(
      '--max-data-bytes <n>',
      `the most bytes of --data text to read, every file together (default ` +
        `${DEFAULT_MAX_DATA_BYTES}, 1 GiB; at most ${MAX_DATA_BYTES_LIMIT})`,
      intOption('--max-data-bytes', 1, MAX_DATA_BYTES_LIMIT),
    )
    .option(
      '--seed <n>',
      'seed of the model and the data order (default 0)',
      intOption('--seed', 0),
    )
    .option('--out <dir>', 'run directory', outputFolder('--out'), 'runs/train')
    .option(
      '--no-resume',
      'start over even if --out holds checkpoints of this model, removing them and the ' +
        'metrics log (fails rather than overwrite another model)',
    )
    .option(
      '--backend <name>',
      'tensorflow, wasm or cpu (default: the best available; MODEROUTE_BACKEND also works)',
    )
    .addOption(threadsOption())
    .addOption(replicasOption())
    .option('--json', 'print one JSON object with the result instead of text', false)
    .action(async (flags: TrainFlags) => {
      const config = trainConfigFrom(flags);
      const trainer = new Trainer(config);
      const setup = await startTraining(flags, trainer.config.batchSize);
      if (!flags.json) io.err(`backend: ${describeTraining(setup)}`);
      const progress = new ProgressReporter({
        total: trainer.config.steps,
        label: flags.out,
        json: flags.json,
      });
      let stopSignal: AbortSignal | undefined;
      const result: TrainResult = await withInterrupt(io, (signal) => {
        stopSignal = signal;
        return trainer.run({
          outDir: flags.out,
          resume: flags.resume,
          corpusCache: new CorpusCache(
            flags.maxDataBytes !== undefined ? { maxBytes: flags.maxDataBytes } : {},
          ),
          replicas: setup.pool ?? 1,
          signal,
          onStart: ({ step, model }) => {
            if (!flags.json) {
              io.err(
                `model: ${model.parameterCount()} parameters, ` +
                  `${formatFlops(model.flops(trainer.config.seqLen).forward)} per sequence ` +
                  `forward${step > 0 ? `; resuming at step ${step}` : ''}`,
              );
            }
            progress.start(step);
          },
          onStep: (e) =>
            progress.update(e.step, { loss: e.loss, tokensPerSecond: e.tokensPerSecond }),
          onEval: (e) => {
            if (!flags.json && !progress.enabled)
              io.err(`step ${e.step}: validation ${e.validationBitsPerByte.toFixed(4)} bits/byte`);
          },
        });
      }).finally(async () => {
        progress.stop();
        await setup.pool?.close();
      });
      if (flags.json) io.out(JSON.stringify(result));
      else {
        io.out(
          `${result.stopReason === 'completed' ? 'finished' : result.stopReason}: step ` +
            `${result.step}/${trainer.config.steps}, ${formatFlops(result.trainingFlops)} ` +
            `trained, ${result.tokensSeen} tokens, ${result.wallSeconds.toFixed(1)} s`,
        );
        if (result.finalValidationBitsPerByte !== undefined)
          io.out(`validation: ${result.finalValidationBitsPerByte.toFixed(4)} bits/byte`);
        if (result.message) io.err(result.message);
        if (result.lastCheckpoint) io.out(`checkpoint: ${result.lastCheckpoint}`);
      }
      setExit(
        result.stopReason === 'completed'
          ? EXIT.ok
          : result.stopReason === 'interrupted'
            ? stopSignal
              ? interruptExitCode(stopSignal)
              : EXIT.interrupted
            : EXIT.diverged,
      );
    });
}
