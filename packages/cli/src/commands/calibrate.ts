// `moderoute calibrate`: sets the causal cuts of a checkpoint's Mixture-of-Depths routers from
// its own weights (Raposo et al. 2024, section 3.5; docs/sampling.md) and rewrites the checkpoint
// in place, for checkpoints written before the Trainer calibrated them or by another loop.
import { Command } from 'commander';
import { initBackend } from '@moderoute/core';
import { createContainer, MODEL_IDS, type BlockAgreement } from '@moderoute/model';
import {
  DEFAULT_MAX_DATA_BYTES,
  MAX_DATA_BYTES_LIMIT,
  CorpusCache,
  recalibrateCheckpoint,
} from '@moderoute/train';
import type { Io } from '../output.js';
import { intOption, backendRequest, threadsOption } from '../options.js';
import { dataPath, inputFolder } from '../paths.js';

interface CalibrateFlags {
  checkpoint: string;
  data?: string;
  maxDataBytes?: number;
  windows: number;
  batchSize?: number;
  backend?: string;
  threads?: number;
  json: boolean;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** `selects S% (agreement A%)` of each rule a block has, from causalAgreement. */
function selection(a: BlockAgreement | undefined, rule: 'threshold' | 'predictor'): string {
  const s = a?.[rule];
  return s === undefined
    ? '-'
    : `selects ${pct(s.selectedFraction)} (agreement ${pct(s.accuracy)})`;
}

export function calibrateCommand(io: Io): Command {
  return new Command('calibrate')
    .description(
      "Set a checkpoint's causal MoD cuts (tau, the predictor's cut) to the top-k quantile of its " +
        'own router logits on training windows, and rewrite the checkpoint in place',
    )
    .requiredOption(
      '--checkpoint <dir>',
      'a run directory (its latest checkpoint) or a checkpoint directory',
      inputFolder('--checkpoint', 'a run directory or a checkpoint directory'),
    )
    .option(
      '--data <path>',
      "calibrate on this text file or folder instead of the checkpoint run's data",
      dataPath('--data'),
    )
    .option(
      '--max-data-bytes <n>',
      `the most bytes of --data text to read (default ${DEFAULT_MAX_DATA_BYTES}; at most ` +
        `${MAX_DATA_BYTES_LIMIT})`,
      intOption('--max-data-bytes', 1, MAX_DATA_BYTES_LIMIT),
    )
    .option(
      '--windows <n>',
      'validation windows the selected fractions are measured on, before and after',
      intOption('--windows', 1),
      16,
    )
    .option(
      '--batch-size <n>',
      "windows per batch (default the run's)",
      intOption('--batch-size', 1),
    )
    .option('--backend <name>', 'tensorflow, wasm or cpu')
    .addOption(threadsOption())
    .option('--json', 'print one JSON object', false)
    .action(async (flags: CalibrateFlags) => {
      await initBackend(backendRequest(flags));
      const result = await recalibrateCheckpoint(flags.checkpoint, {
        factory: createContainer().get(MODEL_IDS.ModelFactory),
        ...(flags.data !== undefined ? { data: { kind: 'path' as const, path: flags.data } } : {}),
        ...(flags.maxDataBytes !== undefined
          ? { corpusCache: new CorpusCache({ maxBytes: flags.maxDataBytes }) }
          : {}),
        windows: flags.windows,
        ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
      });
      if (flags.json) {
        io.out(JSON.stringify(result));
        return;
      }
      io.out(
        `${result.checkpoint} (step ${result.step}): cuts calibrated on ` +
          `${result.calibrationWindows} training windows of ${result.seqLen} tokens; selected ` +
          `fractions on ${result.validationWindows} validation windows (top-k ` +
          `${pct(result.after[0]?.topKFraction ?? 0)}):`,
      );
      for (const c of result.cuts) {
        const before = result.before.find((a) => a.block === c.block);
        const after = result.after.find((a) => a.block === c.block);
        for (const rule of ['threshold', 'predictor'] as const) {
          const cut = c[rule];
          if (cut === undefined) continue;
          io.out(
            `  block ${c.block} (${c.kind}) ${rule}: cut ${cut[0].toFixed(4)} -> ${cut[1].toFixed(4)}, ` +
              `${selection(before, rule)} -> ${selection(after, rule)}`,
          );
        }
      }
    });
}
