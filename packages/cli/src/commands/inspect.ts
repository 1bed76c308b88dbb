// `moderoute inspect`: which tokens each routed block of a trained model processed, in the
// terminal and as an SVG heatmap (the MoD paper's routing-pattern figure).
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { initBackend } from '@moderoute/core';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import { routingHeatmapSvg } from '@moderoute/experiments';
import { restoreModel, routingPattern } from '@moderoute/train';
import type { Io } from '../output.js';
import { choiceOption, backendRequest, threadsOption } from '../options.js';
import { inputFolder, outputFile } from '../paths.js';

interface InspectFlags {
  checkpoint: string;
  text: string;
  svg?: string;
  mode: 'top-k' | 'threshold' | 'predictor';
  backend?: string;
  threads?: number;
  json: boolean;
}

const MODES = ['top-k', 'threshold', 'predictor'] as const;

export function inspectCommand(io: Io): Command {
  return new Command('inspect')
    .description(
      'Show, for each token of --text, which routed blocks processed it (terminal and SVG heatmap)',
    )
    .requiredOption(
      '--checkpoint <dir>',
      'a run directory (its latest checkpoint) or a checkpoint directory',
      inputFolder('--checkpoint', 'a run directory or a checkpoint directory'),
    )
    .requiredOption('--text <text>', 'text to route (cut to the model context)')
    .option(
      '--svg <file>',
      'also write the heatmap as SVG to this file (its folder must exist)',
      outputFile('--svg'),
    )
    .option(
      '--mode <rule>',
      `routing decision: ${MODES.join(', ')} (top-k as in training; the others are the causal rules used for sampling)`,
      choiceOption('--mode', MODES),
      'top-k',
    )
    .option('--backend <name>', 'tensorflow, wasm or cpu')
    .addOption(threadsOption())
    .option('--json', 'print the pattern as JSON', false)
    .action(async (flags: InspectFlags) => {
      await initBackend(backendRequest(flags));
      const { model } = restoreModel(
        flags.checkpoint,
        createContainer().get(MODEL_IDS.ModelFactory),
      );
      try {
        const pattern = routingPattern(model, flags.text, flags.mode);
        if (flags.svg) {
          writeFileSync(
            flags.svg,
            await routingHeatmapSvg(
              {
                tokens: pattern.tokens,
                blocks: pattern.blocks,
                values: pattern.processed,
                mode: 'processed',
              },
              { title: `Tokens processed per routed block (${flags.mode})` },
            ),
          );
        }
        if (flags.json) {
          io.out(JSON.stringify(pattern));
          return;
        }
        if (pattern.blocks.length === 0) io.out('this model has no routed blocks');
        const width = Math.max(...pattern.blocks.map((b) => b.length), 4);
        io.out(`${'text'.padEnd(width)} ${pattern.tokens.join('')}`);
        pattern.blocks.forEach((name, i) => {
          const row = pattern.processed[i]!;
          const fraction = row.reduce((a, v) => a + v, 0) / Math.max(1, row.length);
          io.out(
            `${name.padEnd(width)} ${row.map((v) => (v ? '█' : '·')).join('')}  ` +
              `${(100 * fraction).toFixed(0)}% processed`,
          );
        });
        if (flags.svg) io.out(`heatmap: ${flags.svg}`);
      } finally {
        model.dispose();
      }
    });
}
