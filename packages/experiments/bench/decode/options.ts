// The bench's command line: flags, usage text and their checks.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CONTEXT, DECODE_VARIANTS, REPO } from './config.js';

/** The bench's checked command-line options. */
export interface DecodeOptions {
  readonly backend: string;
  readonly reps: number;
  readonly json: boolean;
  readonly profile: boolean;
  /** --checkpoint NAME=DIR specs (empty: train the default variants). */
  readonly checkpoint: readonly string[];
  readonly steps: number;
  readonly retrain: boolean;
  readonly runs: string;
  readonly variants: string;
  readonly evalWindows: number;
  readonly promptTokens: number;
  readonly seeds: readonly number[];
}

const USAGE = [
  'Usage: pnpm bench:decode [--backend wasm|cpu|tensorflow] [--reps N] [--json] [--profile]',
  '                         [--checkpoint NAME=DIR ...] [--steps N] [--retrain] [--runs DIR] [--variants a,b]',
  '  --checkpoint    measure these trained runs/checkpoints instead of training the default models',
  `  --steps         training steps of the default models (default 300; cached under --runs)`,
  `  --variants      default models to train and measure (${Object.keys(DECODE_VARIANTS).join(', ')})`,
  '  --reps          decode runs per model, interleaved; the fastest is reported (default 5)',
  '  --eval-windows  validation windows of the agreement and loss (default 16)',
  '  --prompt-tokens validation-text prompt; sampled tokens then fill the 512-token context (default 64)',
  '  --seeds         retrain the routed models with each of these seeds (model init and data order; default 0);',
  '                  dense is trained once (seed 0) and timed beside every retrain',
  '  --profile       also count kernels and host reads per decode step',
  '  --json          one JSON object instead of tables',
].join('\n');

/** Parses and checks the bench's flags; prints the usage and returns undefined on --help. */
export function parseDecodeOptions(argv: readonly string[]): DecodeOptions | undefined {
  const { values } = parseArgs({
    // `pnpm bench:decode -- --flag` passes the '--' through.
    args: argv.filter((a) => a !== '--'),
    options: {
      backend: { type: 'string', default: 'wasm' },
      reps: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      checkpoint: { type: 'string', multiple: true },
      steps: { type: 'string', default: '300' },
      retrain: { type: 'boolean', default: false },
      runs: { type: 'string', default: join(REPO, 'runs', 'bench-decode') },
      variants: { type: 'string', default: Object.keys(DECODE_VARIANTS).join(',') },
      'eval-windows': { type: 'string', default: '16' },
      'prompt-tokens': { type: 'string', default: '64' },
      seeds: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const reps = Number(values.reps);
  const steps = Number(values.steps);
  const evalWindows = Number(values['eval-windows']);
  const promptTokens = Number(values['prompt-tokens']);
  for (const [flag, v] of [
    ['--reps', reps],
    ['--steps', steps],
    ['--eval-windows', evalWindows],
    ['--prompt-tokens', promptTokens],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${flag} (${v}) must be an integer >= 1`);
  }
  if (promptTokens >= CONTEXT)
    throw new Error(`--prompt-tokens (${promptTokens}) must be < ${CONTEXT}`);
  const seeds = (values.seeds as string).split(',').map((x) => Number(x));
  if (
    seeds.length === 0 ||
    seeds.some((x) => !Number.isInteger(x) || x < 0) ||
    new Set(seeds).size !== seeds.length
  )
    throw new Error(`--seeds (${values.seeds}) must be distinct integers >= 0, comma-separated`);
  return {
    backend: values.backend ?? 'wasm',
    reps,
    json: values.json === true,
    profile: values.profile === true,
    checkpoint: values.checkpoint ?? [],
    steps,
    retrain: values.retrain === true,
    runs: values.runs as string,
    variants: values.variants as string,
    evalWindows,
    promptTokens,
    seeds,
  };
}
