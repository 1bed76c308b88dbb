// `moderoute generate`: sample text from a checkpoint with the KV cache and causal routing
// decisions (Raposo et al. 2024, section 3.5), streaming it as it comes.
import { Command } from 'commander';
import { initBackend } from '@moderoute/core';
import {
  createContainer,
  MODEL_IDS,
  checkDecodeSelection,
  generate,
  type GenerateResult,
} from '@moderoute/model';
import { reportCausalSelection } from '../causalSelection.js';
import { restoreModel } from '@moderoute/train';
import type { Io } from '../output.js';
import { choiceOption, floatOption, intOption, backendRequest, threadsOption } from '../options.js';
import { inputFolder } from '../paths.js';

interface GenerateFlags {
  checkpoint: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  mode?: 'threshold' | 'predictor';
  contextPolicy: 'refuse' | 'slide';
  backend?: string;
  threads?: number;
  json: boolean;
}

export function generateCommand(io: Io): Command {
  return new Command('generate')
    .description(
      'Generate text from a checkpoint: KV cache per block, causal MoD decisions ' +
        '(never top-k over the step), streamed to stdout',
    )
    .requiredOption(
      '--checkpoint <dir>',
      'a run directory (its latest checkpoint) or a checkpoint directory',
      inputFolder('--checkpoint', 'a run directory or a checkpoint directory'),
    )
    .requiredOption('--prompt <text>', 'the text to continue')
    .option('--max-tokens <n>', 'tokens (bytes) to generate', intOption('--max-tokens', 1), 200)
    .option(
      '--temperature <x>',
      'sampling temperature; 0 is greedy',
      floatOption('--temperature', { min: 0, minInclusive: true }),
      0.8,
    )
    .option('--top-k <n>', 'sample among the k most likely tokens only', intOption('--top-k', 1))
    .option(
      '--top-p <x>',
      'nucleus sampling: the smallest set of tokens with probability >= p',
      floatOption('--top-p', { min: 0, max: 1 }),
    )
    .option('--seed <n>', 'sampling seed (same seed, same text)', intOption('--seed', 0), 0)
    .option(
      '--mode <rule>',
      'MoD decision rule: threshold or predictor (default: the rule each router was trained with)',
      choiceOption('--mode', ['threshold', 'predictor'] as const),
    )
    .option(
      '--context-policy <policy>',
      'past the position table: refuse (error up front) or slide (re-encode the last tokens)',
      choiceOption('--context-policy', ['refuse', 'slide'] as const),
      'slide',
    )
    .option('--backend <name>', 'tensorflow, wasm or cpu')
    .addOption(threadsOption())
    .option('--json', 'print one JSON object with the text and per-block decode statistics', false)
    .action(async (flags: GenerateFlags) => {
      await initBackend(backendRequest(flags));
      const { model } = restoreModel(
        flags.checkpoint,
        createContainer().get(MODEL_IDS.ModelFactory),
      );
      try {
        const stream = generate(model, flags.prompt, {
          maxTokens: flags.maxTokens,
          temperature: flags.temperature,
          seed: flags.seed,
          contextPolicy: flags.contextPolicy,
          ...(flags.topK !== undefined ? { topK: flags.topK } : {}),
          ...(flags.topP !== undefined ? { topP: flags.topP } : {}),
          ...(flags.mode !== undefined ? { mode: flags.mode } : {}),
        });
        const started = performance.now();
        // The first token comes after every option and the prompt are checked: nothing is
        // printed for a run that fails validation.
        let next = await stream.next();
        if (!flags.json) io.write(flags.prompt);
        while (!next.done) {
          if (!flags.json) io.write(next.value.text);
          next = await stream.next();
        }
        const result: GenerateResult = next.value;
        const seconds = (performance.now() - started) / 1000;
        if (!flags.json) io.write('\n');
        const guard = reportCausalSelection(
          io,
          checkDecodeSelection(model, result.blocks, flags.mode),
        );
        if (flags.json) {
          io.out(
            JSON.stringify({
              ...result,
              seconds,
              tokensPerSecond: result.tokens.length / seconds,
              ...guard,
            }),
          );
        } else {
          io.err(
            `${result.tokens.length} tokens in ${seconds.toFixed(2)} s ` +
              `(${(result.tokens.length / seconds).toFixed(1)} tokens/s), stopped by ` +
              `${result.stopReason}`,
          );
        }
      } finally {
        model.dispose();
      }
    });
}
