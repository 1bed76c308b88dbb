// `pnpm bench:decode`: decoding with the KV cache and causal routing, for TRAINED dense, MoD and
// MoDE models at the bench config with a 512-token context, side by side in one run:
//   - decode tokens/s (generate(), batch 1: a validation-text prompt, then sampled tokens until
//     the context holds 512), and the fraction of tokens each routed block processed meanwhile;
//   - agreement of the causal decisions with top-k per routed block (accuracy, precision,
//     recall) and validation bits/byte with causal versus top-k decisions
//     (evaluateCausalRouting, Raposo et al. 2024, section 3.5);
//   - with --profile, kernels and host reads per decode step (context 256).
//
//   pnpm bench:decode [--backend wasm] [--reps N] [--json] [--profile]
//                     [--checkpoint NAME=DIR ...] [--steps N] [--retrain] [--runs DIR] [--seeds 0,1,2]
//
// Targets (docs/sampling.md), checked for every routed block of every model and retrain: the causal rule
// agrees with top-k >= 97% and selects within 2 points of top-k's fraction (never zero), and MoD
// decodes >= 1.5x dense; each miss is a FAILED TARGET line, the spread over seeds a table.
//
// Models: each `--checkpoint NAME=DIR` (a run or checkpoint directory; its model must have
// contextLength >= 512), or by default four models the bench trains itself with the Trainer at
// the bench config (vocabulary 256, width 128, 4 layers, 4 heads, MLP 4x, contextLength 512) on
// the embedded corpus, the same data, seed, steps and schedule for each (with --seeds, the routed
// models once per seed: the seed of the model's initialisation and of the data order):
//   dense; mod (12.5% capacity every other block, threshold rule: the router's BCE, coefficient
//   1e-2, the default, and the cut the Trainer calibrates at save); mod_predictor (the same with
// causalMode 'predictor': a predictor regressing r, with a linear path, decides);
//   staged_mode (the mod stage, then 4 experts top-1 dropless).
// Trained checkpoints are cached under runs/bench-decode/<variant>-<config hash> (gitignored):
// a re-run with the same settings skips training (--retrain forces it).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { describeBackend, initBackend, tf } from '@moderoute/core';
import {
  createContainer,
  MODEL_IDS,
  Decoder,
  evaluateCausalRouting,
  generate,
  SELECTION_MARGIN,
  checkCausalSelection,
  causalRules,
  type CausalEvaluation,
  type LanguageModel,
  type LanguageModelConfig,
} from '@moderoute/model';
import {
  CorpusCache,
  Trainer,
  restoreModel,
  validationStarts,
  type TrainConfig,
} from '@moderoute/train';

/** The Mixture-of-Depths causal rules the bench decodes and evaluates with. */
type DepthRule = 'threshold' | 'predictor';

const BENCH = {
  vocabSize: 256,
  width: 128,
  numLayers: 4,
  numHeads: 4,
  contextLength: 512,
  mlpRatio: 4,
} as const;
const CONTEXT = BENCH.contextLength;
const TAIL = 128;
const modRouter = (causalMode: 'threshold' | 'predictor') => ({
  name: 'mixture-of-depths',
  config: { capacity: 0.125, causalMode },
});

export const DECODE_VARIANTS: Record<string, LanguageModelConfig> = {
  dense: { ...BENCH },
  mod: {
    ...BENCH,
    schedule: { pattern: ['dense', { kind: 'mod', depthRouter: modRouter('threshold') }] },
  },
  mod_predictor: {
    ...BENCH,
    schedule: { pattern: ['dense', { kind: 'mod', depthRouter: modRouter('predictor') }] },
  },
  staged_mode: {
    ...BENCH,
    schedule: {
      pattern: [
        'dense',
        {
          kind: 'mode-staged',
          numExperts: 4,
          depthRouter: modRouter('threshold'),
          expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { dropless: true } } },
        },
      ],
    },
  },
};

/** The training run of the default models (the same for each). */
function trainSettings(steps: number, seed = 0): Omit<TrainConfig, 'model'> {
  return {
    batchSize: 2,
    seqLen: CONTEXT,
    steps,
    learningRate: 3e-3,
    warmupSteps: Math.max(1, Math.floor(steps / 10)),
    evalWindows: 8,
    seed,
  };
}

/** Bumped when the bench's cached checkpoints must be retrained (2: causal cuts calibrated at save). */
const CACHE_VERSION = 2;
/** Salts of single variants' caches (the predictor's linear path and target, issue 21). */
const VARIANT_CACHE_SALT: Record<string, string> = { mod_predictor: 'predictor-logit-linear' };

/** The targets every retrain must meet, checked over every routed block of every model. */
const TARGETS = { agreement: 0.97, selectionMargin: SELECTION_MARGIN, modSpeedup: 1.5 } as const;

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

interface Contender {
  readonly name: string;
  readonly model: LanguageModel;
  /** Training sequence length (the agreement and loss windows' T). */
  readonly seqLen: number;
  readonly source: string;
  readonly trainSeconds?: number;
}

interface DecodeRow {
  readonly name: string;
  readonly mode: DepthRule | undefined;
}

interface DecodeResult {
  /** 1000 / median step time over all decode steps. */
  tokensPerSec: number;
  /** Tokens / total time of the decode steps (pre-empted steps included). */
  meanTokensPerSec: number;
  /** 1000 / median step time over the last TAIL steps (context 384-511). */
  tailTokensPerSec: number;
  msPerToken: number;
  /** Per routed block (by index): fraction of tokens its attention processed / that got a real expert or MLP. */
  processed: Record<string, { attended: number; computed: number }>;
}

/** One generation filling the context: `prompt`, then sampled tokens up to CONTEXT in all. */
async function decodeRun(
  model: LanguageModel,
  prompt: readonly number[],
  mode: DepthRule | undefined,
): Promise<DecodeResult> {
  const stamps: number[] = [];
  const stream = generate(model, prompt, {
    maxTokens: CONTEXT - prompt.length + 1,
    temperature: 0.8,
    topK: 40,
    seed: 1,
    ...(mode ? { mode } : {}),
  });
  let start = performance.now();
  let first = true;
  for (;;) {
    const next = await stream.next();
    const now = performance.now();
    if (next.done) {
      const processed: DecodeResult['processed'] = {};
      next.value.blocks.forEach((b, i) => {
        if (b.kind !== 'dense')
          processed[String(i)] = { attended: b.attended / b.seen, computed: b.computed / b.seen };
      });
      // stamps[i]: one decode step (feed one token, sample the next). Medians are robust to the
      // other processes of a shared machine pre-empting a few steps.
      const ms = median(stamps);
      return {
        tokensPerSec: 1000 / ms,
        tailTokensPerSec: 1000 / median(stamps.slice(-TAIL)),
        msPerToken: ms,
        meanTokensPerSec: stamps.length / (stamps.reduce((a, s) => a + s, 0) / 1000),
        processed,
      };
    }
    // The first yield follows the prompt's prefill; every later one follows one decode step.
    if (!first) stamps.push(now - start);
    first = false;
    start = performance.now();
  }
}

interface StepProfile {
  /** Kernels per decode step (tf.profile; wrappers of other kernels not counted). */
  kernels: number;
  /** Host reads (dataSync/readSync) per decode step. */
  hostReads: number;
  /** Kernel name -> calls per step, most frequent first. */
  byKernel: Record<string, number>;
}

/** Kernel and host-read counts of decode steps at context 256 (the prompt, then its tokens again). */
async function profileSteps(
  model: LanguageModel,
  prompt: readonly number[],
  mode: DepthRule | undefined,
  steps = 16,
): Promise<StepProfile> {
  const decoder = new Decoder(model, mode ? { mode } : {});
  const backend = tf.backend();
  const readSync = backend.readSync.bind(backend);
  let reads = 0;
  backend.readSync = (id: object) => {
    reads++;
    return readSync(id);
  };
  try {
    decoder.feedLast(prompt.slice(0, CONTEXT / 2));
    const counts = new Map<string, number>();
    let kernels = 0;
    reads = 0;
    for (let i = 0; i < steps; i++) {
      const profile = await tf.profile(() => {
        decoder.feedLast([prompt[i % prompt.length] as number]);
      });
      for (const k of profile.kernels) {
        if (tf.getKernel(k.name, tf.getBackend()) === undefined) continue;
        kernels++;
        counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
      }
    }
    const byKernel = Object.fromEntries(
      [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => [k, c / steps]),
    );
    return { kernels: kernels / steps, hostReads: reads / steps, byKernel };
  } finally {
    backend.readSync = readSync;
    decoder.dispose();
  }
}

/** The variant a contender retrains ('mod@2' -> 'mod'). */
function variantOf(name: string): string {
  return name.replace(/@\d+$/, '');
}

/**
 * The issue-21 targets over every contender: each routed block's causal rule agrees with top-k
 * >= 97% and selects within 2 points of top-k's fraction (never zero: checkCausalSelection), and
 * MoD (threshold rule) decodes >= 1.5x dense; plus the spread of each figure over the retrains.
 */
function targetReport(
  contenders: readonly Contender[],
  evaluations: Record<string, CausalEvaluation>,
  rows: readonly DecodeRow[],
  best: Record<string, DecodeResult>,
  denseTps: number | undefined,
) {
  const failures: string[] = [];
  const spreads = new Map<
    string,
    {
      variant: string;
      block: number;
      agreement: [number, number];
      selected: [number, number];
      overDense?: [number, number];
    }
  >();
  const widen = (range: [number, number] | undefined, x: number): [number, number] =>
    range ? [Math.min(range[0], x), Math.max(range[1], x)] : [x, x];
  for (const c of contenders) {
    const row = rows.find((r) => r.name.startsWith(`${c.name} (`));
    const rule = row?.mode ?? 'threshold';
    const overDense = row && denseTps ? best[row.name]!.tokensPerSec / denseTps : undefined;
    const agreement = evaluations[c.name]!.agreement;
    for (const check of checkCausalSelection(agreement)) {
      if (check.rule !== rule) continue;
      const acc = agreement.find((a) => a.block === check.block)![rule]!.accuracy;
      if (!check.ok || Math.abs(check.selectedFraction - check.capacity) > TARGETS.selectionMargin)
        failures.push(
          `${c.name} block ${check.block} ${rule}: selects ` +
            `${(100 * check.selectedFraction).toFixed(1)}% (top-k ` +
            `${(100 * check.capacity).toFixed(1)}%)`,
        );
      if (acc < TARGETS.agreement)
        failures.push(
          `${c.name} block ${check.block} ${rule}: agreement ${(100 * acc).toFixed(1)}% < ${100 * TARGETS.agreement}%`,
        );
      const key = `${variantOf(c.name)} (${rule})#${check.block}`;
      const prev = spreads.get(key);
      spreads.set(key, {
        variant: `${variantOf(c.name)} (${rule})`,
        block: check.block,
        agreement: widen(prev?.agreement, acc),
        selected: widen(prev?.selected, check.selectedFraction),
        ...(overDense !== undefined ? { overDense: widen(prev?.overDense, overDense) } : {}),
      });
    }
    if (variantOf(c.name) === 'mod' && overDense !== undefined && overDense < TARGETS.modSpeedup)
      failures.push(`${c.name}: decodes ${overDense.toFixed(2)}x dense < ${TARGETS.modSpeedup}x`);
  }
  const retrains = new Set(contenders.map((c) => c.name.match(/@(\d+)$/)?.[1] ?? '0')).size;
  return { ...TARGETS, retrains, spread: [...spreads.values()], failures };
}

function configHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 10);
}

/** Trains (or finds in the cache) one default variant; returns its run directory. */
async function trainedRun(
  name: string,
  seed: number,
  settings: Omit<TrainConfig, 'model'>,
  runsDir: string,
  retrain: boolean,
  corpusCache: CorpusCache,
  log: (s: string) => void,
): Promise<{ dir: string; seconds?: number }> {
  // Seed 0 keeps the variant's config as it was (and so its cache directory).
  const config: TrainConfig = {
    ...settings,
    model: seed === 0 ? DECODE_VARIANTS[name]! : { ...DECODE_VARIANTS[name]!, seed },
  };
  // The version salt keeps checkpoints trained before the Trainer calibrated the causal cuts
  // out of use.
  const salt = VARIANT_CACHE_SALT[name];
  const key = salt === undefined ? [config, CACHE_VERSION] : [config, CACHE_VERSION, salt];
  const dir = join(runsDir, `${name}-${configHash(key)}`);
  name = seed === 0 ? name : `${name}@${seed}`;
  const done = join(dir, 'bench-done.json');
  if (!retrain && existsSync(done)) {
    const summary = JSON.parse(readFileSync(done, 'utf8')) as {
      wallSeconds: number;
      finalValidationBitsPerByte: number;
    };
    log(
      `  ${name}: cached ${dir} (trained in ${summary.wallSeconds.toFixed(0)} s, val ` +
        `${summary.finalValidationBitsPerByte.toFixed(3)} bits/byte)`,
    );
    return { dir, seconds: summary.wallSeconds };
  }
  if (retrain) rmSync(dir, { recursive: true, force: true });
  log(
    `  ${name}: training ${settings.steps} steps of ${settings.batchSize} x ${settings.seqLen} tokens -> ${dir}`,
  );
  const result = await new Trainer(config).run({
    outDir: dir,
    resume: true,
    corpusCache,
    onStep: (e) => {
      if (e.step % 50 === 0)
        log(
          `    step ${e.step}/${e.totalSteps} loss ${e.lmLoss.toFixed(3)} routed ` +
            `${e.routing.map((r) => r.routedFraction.toFixed(3)).join(' ')}`,
        );
    },
  });
  if (result.stopReason !== 'completed')
    throw new Error(`training ${name} stopped: ${result.message ?? result.stopReason}`);
  writeFileSync(
    done,
    JSON.stringify({
      wallSeconds: result.wallSeconds,
      finalValidationBitsPerByte: result.finalValidationBitsPerByte,
      step: result.step,
      trainingFlops: result.trainingFlops,
    }),
  );
  log(
    `  ${name}: trained in ${result.wallSeconds.toFixed(0)} s, val ` +
      `${result.finalValidationBitsPerByte?.toFixed(3)} bits/byte`,
  );
  return { dir, seconds: result.wallSeconds };
}

/** The decode rows of a model: its default rule, plus the threshold rule when it decides by a predictor. */
function decodeRows(c: Contender): DecodeRow[] {
  const modes = causalRules(c.model).modes;
  const routed = c.model.blocks.some((b) =>
    b.routers().some((r) => r.kind === 'mixture-of-depths'),
  );
  if (!routed) return [{ name: c.name, mode: undefined }];
  // A predictor-trained router's r gets no BCE: its threshold rule is untrained, so only its predictor is timed.
  return modes.includes('predictor')
    ? [{ name: `${c.name} (predictor)`, mode: 'predictor' }]
    : [{ name: `${c.name} (threshold)`, mode: 'threshold' }];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    // `pnpm bench:decode -- --flag` passes the '--' through.
    args: process.argv.slice(2).filter((a) => a !== '--'),
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
    console.log(
      [
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
      ].join('\n'),
    );
    return;
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
  const info = await initBackend({ backend: values.backend ?? 'wasm' });
  const log = (s: string) => values.json || console.error(s);
  const corpusCache = new CorpusCache();
  const { validation } = corpusCache.load({ kind: 'sotu' }, { seqLen: CONTEXT });
  const wallStart = performance.now();

  // 1. The models: given checkpoints, or the default variants trained (or cached) here.
  const contenders: Contender[] = [];
  try {
    if (values.checkpoint && values.checkpoint.length > 0) {
      for (const spec of values.checkpoint) {
        const eq = spec.indexOf('=');
        const [name, dir] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [spec, spec];
        const { model, checkpoint } = restoreModel(
          dir,
          createContainer().get(MODEL_IDS.ModelFactory),
        );
        const seqLen = ((checkpoint.config as { seqLen?: number } | null)?.seqLen ??
          model.config.contextLength) as number;
        contenders.push({ name, model, seqLen, source: checkpoint.dir });
        if (model.config.contextLength < CONTEXT)
          throw new Error(
            `--checkpoint ${spec}: contextLength ${model.config.contextLength} < ${CONTEXT}`,
          );
      }
    } else {
      const names = (values.variants as string).split(',').filter((s) => s.length > 0);
      for (const n of names)
        if (DECODE_VARIANTS[n] === undefined)
          throw new Error(
            `--variants: unknown ${n} (known: ${Object.keys(DECODE_VARIANTS).join(', ')})`,
          );
      log(
        `models: ${names.join(', ')} at the bench config, ${steps} steps of 2 x ` +
          `${CONTEXT} tokens each, seeds ${seeds.join(', ')} (cached under ${values.runs})`,
      );
      for (const seed of seeds) {
        const settings = trainSettings(steps, seed);
        for (const n of names) {
          // Dense is the speed baseline: one training run (seed 0) serves every retrain.
          if (n === 'dense' && seed !== seeds[0]) continue;
          const runSeed = n === 'dense' ? 0 : seed;
          const { dir, seconds } = await trainedRun(
            n,
            runSeed,
            trainSettings(steps, runSeed),
            values.runs as string,
            values.retrain === true,
            corpusCache,
            log,
          );
          const name = runSeed === 0 ? n : `${n}@${runSeed}`;
          contenders.push({
            name,
            model: restoreModel(dir, createContainer().get(MODEL_IDS.ModelFactory)).model,
            seqLen: settings.seqLen as number,
            source: dir,
            ...(seconds !== undefined ? { trainSeconds: seconds } : {}),
          });
        }
      }
    }

    // 2. Causal decisions against top-k, and the validation loss under each rule.
    const evaluations: Record<string, CausalEvaluation> = {};
    for (const c of contenders) {
      const windows = validationStarts(validation.length, {
        batchSize: 1,
        seqLen: c.seqLen,
        maxWindows: evalWindows,
      }).map((s) => validation.subarray(s, s + c.seqLen + 1));
      log(`evaluating ${c.name} on ${windows.length} validation windows of ${c.seqLen} tokens ...`);
      evaluations[c.name] = evaluateCausalRouting(c.model, windows, { batchSize: 4 });
    }

    // 3. Decode speed, the models interleaved run by run (one warm-up run each first).
    const prompt = Array.from(validation.subarray(0, promptTokens));
    const rows = contenders.flatMap((c) => decodeRows(c).map((r) => ({ ...r, model: c.model })));
    log(
      `decoding: ${promptTokens}-token prompt + ${CONTEXT - promptTokens} sampled ` +
        `tokens (context up to ${CONTEXT}), ${reps} run(s) per model on ` +
        `${describeBackend(info)} ...`,
    );
    for (const r of rows) await decodeRun(r.model, prompt, r.mode);
    const best: Record<string, DecodeResult> = {};
    for (let rep = 0; rep < reps; rep++) {
      for (const r of rows) {
        const result = await decodeRun(r.model, prompt, r.mode);
        if (best[r.name] === undefined || result.tokensPerSec > best[r.name]!.tokensPerSec)
          best[r.name] = result;
        log(`  ${r.name} run ${rep + 1}: ${result.tokensPerSec.toFixed(0)} tokens/s`);
      }
    }
    const profiles: Record<string, StepProfile> = {};
    if (values.profile)
      for (const r of rows)
        profiles[r.name] = await profileSteps(
          r.model,
          prompt.length >= CONTEXT / 2 ? prompt : Array.from(validation.subarray(0, CONTEXT / 2)),
          r.mode,
        );

    const denseRow = rows.find((r) => !r.model.blocks.some((b) => b.kind !== 'dense'));
    const denseTps = denseRow ? best[denseRow.name]!.tokensPerSec : undefined;
    const report = {
      info: describeBackend(info),
      config: {
        ...BENCH,
        promptTokens,
        decodedTokens: CONTEXT - promptTokens,
        tailSteps: TAIL,
        sampling: 'temperature 0.8, top-k 40, seed 1',
        training: values.checkpoint ? 'checkpoints' : trainSettings(steps),
        seeds,
        evalWindows,
      },
      models: Object.fromEntries(
        contenders.map((c) => [
          c.name,
          { source: c.source, trainSeconds: c.trainSeconds, parameters: c.model.parameterCount() },
        ]),
      ),
      decode: Object.fromEntries(
        rows.map((r) => [
          r.name,
          {
            ...best[r.name]!,
            overDense: denseTps ? best[r.name]!.tokensPerSec / denseTps : undefined,
            ...(profiles[r.name] ? { profile: profiles[r.name] } : {}),
          },
        ]),
      ),
      evaluation: evaluations,
      targets: targetReport(contenders, evaluations, rows, best, denseTps),
      wallSeconds: (performance.now() - wallStart) / 1000,
    };
    for (const w of report.targets.failures) console.error(`FAILED TARGET: ${w}`);
    if (values.json) {
      console.log(JSON.stringify(report));
      return;
    }
    const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
    console.log(
      `\n${report.info}; contextLength ${CONTEXT}: ${promptTokens}-token prompt + ` +
        `${CONTEXT - promptTokens} sampled tokens; trained models`,
    );
    const t = new Table({
      head: [
        'model (decision rule)',
        'tokens/s',
        `tokens/s, last ${TAIL}`,
        'median ms/token',
        'x dense',
        'processed while decoding (attention / MLP or experts)',
        ...(values.profile ? ['kernels/step', 'host reads/step'] : []),
      ],
      ...style,
    });
    for (const r of rows) {
      const v = best[r.name]!;
      const processed = Object.entries(v.processed)
        .map(
          ([i, p]) =>
            `#${i}: ${(100 * p.attended).toFixed(1)}% / ${(100 * p.computed).toFixed(1)}%`,
        )
        .join(', ');
      const p = profiles[r.name];
      t.push([
        r.name,
        v.tokensPerSec.toFixed(0),
        v.tailTokensPerSec.toFixed(0),
        v.msPerToken.toFixed(2),
        denseTps ? (v.tokensPerSec / denseTps).toFixed(2) : '-',
        processed || '-',
        ...(p ? [p.kernels.toFixed(0), p.hostReads.toFixed(1)] : []),
      ]);
    }
    console.log(t.toString());
    const pct = (f: number) => `${(100 * f).toFixed(1)}%`;
    const a = new Table({
      head: [
        'model',
        'block',
        'top-k selects',
        'rule',
        'selects',
        'accuracy',
        'precision',
        'recall',
      ],
      ...style,
    });
    const l = new Table({
      head: [
        'model',
        'val bits/byte top-k',
        'causal rule',
        'val bits/byte causal',
        'causal / top-k - 1',
      ],
      ...style,
    });
    for (const c of contenders) {
      const e = evaluations[c.name]!;
      for (const b of e.agreement) {
        for (const rule of ['threshold', 'predictor'] as const) {
          const s = b[rule];
          if (s)
            a.push([
              c.name,
              String(b.block),
              pct(b.topKFraction),
              rule,
              pct(s.selectedFraction),
              pct(s.accuracy),
              pct(s.precision),
              pct(s.recall),
            ]);
        }
      }
      const routed = e.agreement.length > 0;
      const modes = routed
        ? (Object.keys(e.relativeLossIncrease) as DepthRule[]).filter(
            (m) => m !== ('causal' as never),
          )
        : [];
      if (modes.length === 0)
        l.push([c.name, (e.bitsPerByte['top-k'] as number).toFixed(4), '-', '-', '-']);
      for (const m of modes)
        l.push([
          c.name,
          (e.bitsPerByte['top-k'] as number).toFixed(4),
          m,
          (e.bitsPerByte[m] as number).toFixed(4),
          `${((e.relativeLossIncrease[m] as number) * 100).toFixed(2)}%`,
        ]);
    }
    console.log(
      `\ncausal decisions against top-k (${evalWindows} validation windows of the training length):`,
    );
    console.log(a.toString());
    console.log('\nvalidation loss by decision rule:');
    console.log(l.toString());
    const tr = report.targets;
    const spread = ([lo, hi]: readonly [number, number], f: (x: number) => string) =>
      lo === hi ? f(lo) : `${f(lo)} - ${f(hi)}`;
    console.log(
      `\ntargets over ${tr.retrains} retrain(s) (every routed block of every model): ` +
        `agreement >= ${pct(TARGETS.agreement)}, selected fraction within ` +
        `${(100 * TARGETS.selectionMargin).toFixed(0)} points of top-k's, MoD decode >= ` +
        `${TARGETS.modSpeedup}x dense`,
    );
    const s = new Table({
      head: [
        'variant (rule)',
        'block',
        'agreement (min - max)',
        'selects (min - max)',
        'x dense (min - max)',
      ],
      ...style,
    });
    for (const v of tr.spread)
      s.push([
        v.variant,
        String(v.block),
        spread(v.agreement, pct),
        spread(v.selected, pct),
        v.overDense ? spread(v.overDense, (x) => x.toFixed(2)) : '-',
      ]);
    console.log(s.toString());
    console.log(
      tr.failures.length === 0
        ? 'all targets met'
        : `${tr.failures.length} target(s) failed:\n  ${tr.failures.join('\n  ')}`,
    );
    console.log(`\n${report.wallSeconds.toFixed(0)} s in all`);
  } finally {
    for (const c of contenders) c.model.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
