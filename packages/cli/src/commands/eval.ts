// `moderoute eval`: validation bits per byte of a checkpoint, with top-k or causal routing.
import { Command } from 'commander';
import { initBackend } from '@moderoute/core';
import {
  CorpusCache,
  DEFAULT_MAX_DATA_BYTES,
  MAX_DATA_BYTES_LIMIT,
  restoreModel,
  validationWindows,
  type TrainConfig,
} from '@moderoute/train';
import {
  createContainer,
  MODEL_IDS,
  bitsPerByte,
  causalRules,
  checkCausalSelection,
  evaluateCausalRouting,
} from '@moderoute/model';
import { reportCausalSelection } from '../causalSelection.js';
import type { Io } from '../output.js';
import { choiceOption, intOption, backendRequest, threadsOption } from '../options.js';
import { dataPath, inputFolder } from '../paths.js';

interface EvalFlags {
  checkpoint: string;
  data?: string;
  maxDataBytes?: number;
  windows: number;
  batchSize: number;
  routing: 'top-k' | 'causal';
  backend?: string;
  threads?: number;
  json: boolean;
}

export function evalCommand(io: Io): Command {
  return new Command('eval')
    .description(
      'Evaluate a checkpoint: validation bits per byte, with top-k (training) or causal (sampling) routing decisions',
    )
    .requiredOption(
      '--checkpoint <dir>',
      'a run directory (its latest checkpoint) or a checkpoint directory',
      inputFolder('--checkpoint', 'a run directory or a checkpoint directory'),
    )
    .option(
      '--data <path>',
      "evaluate on this text file or folder instead of the checkpoint run's data",
      dataPath('--data'),
    )
    .option(
      '--max-data-bytes <n>',
      `the most bytes of --data text to read, every file together (default ` +
        `${DEFAULT_MAX_DATA_BYTES}, 1 GiB; at most ${MAX_DATA_BYTES_LIMIT})`,
      intOption('--max-data-bytes', 1, MAX_DATA_BYTES_LIMIT),
    )
    .option('--windows <n>', 'validation windows', intOption('--windows', 1), 64)
    .option('--batch-size <n>', 'windows per batch', intOption('--batch-size', 1), 8)
    .option(
      '--routing <rule>',
      'top-k, or causal (the rule sampling uses: threshold or predictor, from the model)',
      choiceOption('--routing', ['top-k', 'causal'] as const),
      'top-k',
    )
    .option('--backend <name>', 'tensorflow, wasm or cpu')
    .addOption(threadsOption())
    .option('--json', 'print one JSON object', false)
    .action(async (flags: EvalFlags) => {
      await initBackend(backendRequest(flags));
      const { model, checkpoint } = restoreModel(
        flags.checkpoint,
        createContainer().get(MODEL_IDS.ModelFactory),
      );
      try {
        const train = (checkpoint.config as { train?: TrainConfig } | null)?.train;
        const source =
          flags.data !== undefined
            ? { kind: 'path' as const, path: flags.data }
            : (train?.data ?? { kind: 'sotu' as const });
        const seqLen = train?.seqLen ?? model.config.contextLength;
        const corpus = new CorpusCache(
          flags.maxDataBytes !== undefined ? { maxBytes: flags.maxDataBytes } : {},
        ).load(source, { seqLen });
        // The split may hold fewer windows than asked for: report the ones evaluated.
        const windows = validationWindows(corpus.validation, {
          batchSize: flags.batchSize,
          seqLen,
          maxWindows: flags.windows,
        });
        const capped = windows.length < flags.windows;
        const count = {
          windows: windows.length,
          ...(capped ? { windowsRequested: flags.windows } : {}),
        };
        const countText =
          `${windows.length} validation windows of ` +
          `${seqLen}${capped ? ` (all the split has; ${flags.windows} asked for)` : ''}`;
        if (flags.routing === 'top-k') {
          const bpb = bitsPerByte(model, windows, { batchSize: flags.batchSize });
          const result = {
            checkpoint: checkpoint.dir,
            step: checkpoint.step,
            routing: 'top-k',
            ...count,
            seqLen,
            validationBitsPerByte: bpb,
          };
          if (flags.json) io.out(JSON.stringify(result));
          else
            io.out(
              `${checkpoint.dir} (step ${checkpoint.step}): ${bpb.toFixed(4)} bits/byte, top-k routing, ${countText}`,
            );
          return;
        }
        // Causal: every rule the routers support against top-k, loss and per-block agreement.
        const evaluation = evaluateCausalRouting(model, windows, { batchSize: flags.batchSize });
        const mode = causalRules(model).defaultMode ?? 'top-k';
        const guard = reportCausalSelection(io, checkCausalSelection(evaluation.agreement));
        const result = {
          checkpoint: checkpoint.dir,
          step: checkpoint.step,
          routing: mode,
          ...count,
          seqLen,
          validationBitsPerByte: evaluation.bitsPerByte[mode],
          ...evaluation,
          ...guard,
        };
        if (flags.json) {
          io.out(JSON.stringify(result));
          return;
        }
        io.out(`${checkpoint.dir} (step ${checkpoint.step}), ${countText}:`);
        for (const [rule, bpb] of Object.entries(evaluation.bitsPerByte)) {
          const rel =
            rule === 'top-k'
              ? ''
              : ` (${(100 * (evaluation.relativeLossIncrease[rule as 'threshold'] ?? 0)).toFixed(2)}% vs top-k)`;
          io.out(`  ${rule.padEnd(9)} ${bpb.toFixed(4)} bits/byte${rel}`);
        }
        for (const a of evaluation.agreement) {
          for (const rule of ['threshold', 'predictor'] as const) {
            const s = a[rule];
            if (s === undefined) continue;
            io.out(
              `  block ${a.block} (${a.kind}) ${rule}: accuracy ` +
                `${(100 * s.accuracy).toFixed(1)}%, precision ` +
                `${(100 * s.precision).toFixed(1)}%, recall ${(100 * s.recall).toFixed(1)}%, ` +
                `selects ${(100 * s.selectedFraction).toFixed(1)}% (top-k ` +
                `${(100 * a.topKFraction).toFixed(1)}%)`,
            );
          }
        }
      } finally {
        model.dispose();
      }
    });
}
